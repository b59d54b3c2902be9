// The browser node's sync session (node.js, `Link`) between two browser nodes in this process,
// and against hostile frames: run with `node tests/web/js/link.mjs`
// (tests/web/test_js_link.py does). Storage is a Map here, where the page has IndexedDB: the
// node only ever calls `put` and `drop`. Prints one JSON line: {"passed": n, "failed": [...]}.

import { Link, Node, newIdentity } from '../../../meshnode/daemon/web/static/app/node.js';
import { Frame, encodeMsg } from '../../../meshnode/daemon/web/static/app/frames.js';
import { link, settle } from './pipe.mjs';
import { encodeMessage, decodeMessage } from '../../../meshnode/daemon/web/static/app/wire.js';
import { helloTag } from '../../../meshnode/daemon/web/static/app/seal.js';
import { compare, hex } from '../../../meshnode/daemon/web/static/app/msgpack.js';

const failed = [];
let passed = 0;
const check = (what, ok) => { if (ok) passed++; else failed.push(what); };
// Storage in a Map, where the page has IndexedDB.
function node() {
  const stored = new Map();
  const n = new Node(newIdentity(), [], { put: (r) => stored.set(r.key, r), drop: (k) => stored.delete(k) });
  n.stored = stored;
  return n;
}

const t0 = Math.floor(Date.now() / 1000);
const a = node(); const b = node();
for (let i = 0; i < 300; i++) a.post('wijk-zuid', `van a ${i}`, t0 - i);
for (let i = 0; i < 200; i++) b.post('wijk-zuid', `van b ${i}`, t0 - i);
const shared = a.post('wijk-noord', 'gedeeld bericht', t0);
await b.accept(encodeMessage(decodeMessage(shared.data)));
const { la, lb, closed } = await link(a, b);
check('a holds the union', a.held.size === 501 && a.posts('wijk-zuid').length === 500);
check('b holds the union', b.held.size === 501);
check('both finished', la.phase === 'FINISHED' && lb.phase === 'FINISHED');
check('nothing closed', closed.length === 0);
check('own posts b lacked are carried', [...a.held.values()]
  .filter((r) => r.mine && r.key !== shared.key).every((r) => r.state === 'carried'));
check('the store holds what the node holds', a.stored.size === a.held.size);
check('one side reconciled', (la.stats.reconciled !== null) && (lb.stats.reconciled !== null));

// A DM from a to b, on a live link: b opens it, its receipt makes it delivered at a.
a.announce('Anna'); b.announce('Bram');
await link(a, b);
const bram = a.cards().get(b.fingerprint);
check('a has bram\'s card', bram && bram.name === 'Bram');
a.sendDm(bram, 'de sleutel ligt onder de mat', t0);
await link(a, b);
const got = b.inbox().find((d) => !d.mine);
check('b opened the DM', got && got.text === 'de sleutel ligt onder de mat' && got.from === a.signKeyHex);
check('a sees it delivered', a.inbox().find((d) => d.mine).state === 'delivered');
const relay = await node().accept(a.inbox().find((d) => d.mine).data);
check('a relay that is not the recipient holds it sealed', relay && !relay.opened && relay.text === undefined);

// Hello field 3 (§10): b had no contacts, yet opened the DM (every DM is tried); now a is its
// correspondent, so b's Hellos name the DM's pair tag, blinded, among padding, sorted.
const nonce = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
const dmTag = a.inbox().find((d) => d.mine).tag;
const field = b.blindedTags(nonce, t0);
const sorted = field.every((x, i) => i === 0 || compare(field[i - 1], x) < 0);
check('hello field 3 holds 8 sorted entries of 16 bytes', field.length === 8 && sorted
  && field.every((x) => x.length === 16));
check('b presents the pair tag of its correspondent', field.some((x) => hex(x) === hex(helloTag(nonce, dmTag))));
check('a stranger does not present it', !node().blindedTags(nonce, t0).some((x) => hex(x) === hex(helloTag(nonce, dmTag))));
check('the tag is not in the clear', !field.some((x) => hex(x) === hex(dmTag)));
const many = node();
many.setContacts(Array.from({ length: 5 }, () => node().me.dhKey));
check('five contacts (ten tags) fill a field of 16', many.blindedTags(nonce, t0).length === 16);
many.setContacts(Array.from({ length: 80 }, () => node().me.dhKey));
check('at most 64 contacts (128 tags) are presented', many.blindedTags(nonce, t0).length === 128);

// Dead copies and ghosts (§10.2): a post with no hops left is held but never sent; a peer
// lacking it records a ghost (kept in its store) instead of asking for it, and their next
// sync finds no difference. A live copy still reaches the ghost's holder, and upgrades a
// dead copy.
const author = node();
const p = author.post('wijk-west', 'geen hops meer', t0);
const withHops = (hops) => encodeMessage({ ...decodeMessage(p.data), hops });
const holder = node();
await holder.accept(withHops(0));
// Both roles: a fresh peer until it is the initiator once and the responder once (the greater
// random nonce initiates; 30 tries each leave a chance of 2^-30 of not finding one).
const met = {};
for (let i = 0; i < 60 && Object.keys(met).length < 2; i++) {
  const peer = node();
  const session = await link(holder, peer);
  met[session.lb.initiator ? 'initiator' : 'responder'] ??= { peer, session };
}
const lacker = met.initiator?.peer;
for (const role of ['initiator', 'responder']) {
  const { peer, session } = met[role] || { peer: node(), session: { sent: [Frame.WANT] } };
  check(`a dead copy is neither sent nor asked for (the peer lacking it the ${role})`,
    !session.sent.includes(Frame.MSG) && !session.sent.includes(Frame.WANT) && !peer.held.has(p.key));
  check(`the peer lacking it keeps a ghost, in its store (the ${role})`,
    peer.ghosts.has(p.key) && peer.stored.get(`ghost/${p.key}`)?.ghost === true);
}
const again = await link(holder, lacker);
const ended = again.la.initiator ? again.la.recon : again.lb.recon;
check('the next sync finds no difference', ended.haveIds.length === 0 && ended.needIds.length === 0
  && again.sent.filter((type) => type === Frame.RECON).length === 2);
const reborn = new Node(newIdentity(), [...lacker.stored.values()], { put: () => null, drop: () => null });
check('ghosts are kept across a restart', reborn.ghosts.has(p.key) && reborn.held.size === 0);
const live = node();
await live.accept(withHops(5));
await link(live, lacker);
check('a live copy reaches the ghost holder, and replaces the ghost',
  lacker.held.has(p.key) && !lacker.ghosts.has(p.key) && !lacker.stored.has(`ghost/${p.key}`));
const upgrade = await link(live, holder);
check('a dead copy is upgraded by a live one', upgrade.sent.includes(Frame.MSG)
  && decodeMessage(holder.held.get(p.key).data).hops === 4);

// Starting over mid-exchange (a new Hello, as the page does when it first pins roots): the
// old exchange's frames still on their way are stale, and start nothing over again; the new
// exchange ends with both sides holding the union, nothing counted as malformed.
const c = node(); const d = node();
for (let i = 0; i < 120; i++) c.post('wijk-oost', `van c ${i}`, t0 - i);
for (let i = 0; i < 120; i++) d.post('wijk-oost', `van d ${i}`, t0 - i);
const restarted = await link(c, d, { restartAt: 2 });
check('a restart mid-exchange sends exactly one new Hello',
  restarted.fromA.filter((f) => f.type === Frame.HELLO).length === 2);
check('and ends with the union, nothing malformed, nothing closed', c.held.size === 240
  && d.held.size === 240 && restarted.la.malformed === 0 && restarted.lb.malformed === 0
  && restarted.closed.length === 0 && restarted.la.phase === 'FINISHED');

// Hostile frames from a peer: a forged message is never kept; garbage ends the link.
const victim = node();
const closes = [];
const hostile = new Link(victim, () => null, (why) => closes.push(why));
hostile.open();
const forged = decodeMessage(shared.data);
forged.sig = forged.sig.slice(); forged.sig[5] ^= 1;
hostile.receive(encodeMsg(encodeMessage(forged)));
const edited = decodeMessage(a.posts('wijk-zuid')[0].data);
hostile.receive(encodeMsg(encodeMessage({ ...edited, body: edited.body.map((x, i) => (i === edited.body.length - 1 ? x ^ 1 : x)) })));
await settle(victim);
check('forged messages are not kept', victim.held.size === 0 && victim.stored.size === 0);
check('two refusals counted', hostile.malformed === 2);
for (let i = 0; i < 14; i++) hostile.receive(Uint8Array.of(0xc1, i)); // 16 bad in all
check('garbage within the budget keeps the link', closes.length === 0);
hostile.receive(Uint8Array.of(0x93, 1, 2, 3));
check('past the budget the node closes the link', closes.length === 1);
check('still nothing kept', victim.held.size === 0);

console.log(JSON.stringify({ passed, failed }));
process.exit(failed.length ? 1 : 0);
