// What a browser node carries of authority messages (node.js with its AlertBook, alerts.js),
// between browser nodes in this process, for tests/web/test_js_carry.py. stdin: {root (hex key),
// messages: {name: hex}, bulk: [hex, ...]}; stdout: one JSON object of facts, read there.

import { readFileSync } from 'node:fs';
import { AlertBook } from '../../../meshnode/daemon/web/static/app/alerts.js';
import { Link, Node, newIdentity } from '../../../meshnode/daemon/web/static/app/node.js';
import { Frame } from '../../../meshnode/daemon/web/static/app/frames.js';
import { encode, hex, unhex } from '../../../meshnode/daemon/web/static/app/msgpack.js';
import { decodeMessage, messageId } from '../../../meshnode/daemon/web/static/app/wire.js';
import { link, settle } from './pipe.mjs';

const input = JSON.parse(readFileSync(0, 'utf8'));
const m = Object.fromEntries(Object.entries(input.messages).map(([k, v]) => [k, unhex(v)]));
const idOf = (data) => hex(messageId(decodeMessage(data)));
const saved = [];

function node() {
  const n = new Node(newIdentity(), [], { put: () => null, drop: () => null });
  n.alertBook = new AlertBook({ pins: [{ key: input.root, name: 'Test root' }] }, (s) => saved.push(s));
  return n;
}

async function feed(n, ...names) {
  for (const name of names) await n.accept(m[name]).catch((e) => e);
  await settle(n);
}

// The messages (kind, id, routing, signature) `a` sent in one exchange.
const msgs = (session) => session.fromA.filter((f) => f.type === Frame.MSG).map((f) => {
  const msg = decodeMessage(f.data);
  return { kind: msg.kind, id: idOf(f.data), hops: msg.hops, copies: msg.copies, sig: hex(msg.sig) };
});

const facts = {};
const phone = node();
await feed(phone, 'revoke', 'cert', 'alert', 'forged', 'stranger', 'dead');
const book = phone.alertBook;
facts.phone_verified = [...book.verified.keys()].sort();
facts.phone_holds = [...book.held.keys()].sort();
facts.phone_refused = book.refused.map((r) => r.reason).sort();
facts.phone_alert_routing = (({ hops, copies }) => [hops, copies])(decodeMessage(book.entry(idOf(m.alert)).data));
facts.phone_summary = (({ trustIds, alerts }) => ({ trust: trustIds.map(hex).sort(),
  alerts: alerts.map(([i, s]) => [i, s.map(String)]) }))(book.summary());
facts.saved_alerts = saved.at(-1).alerts.map(idOf).sort();

const hub = node(); // the next hub the phone meets, a node that holds none of it
const first = await link(phone, hub);
facts.sent = msgs(first);
facts.kinds_in_order = facts.sent.map((x) => x.kind);
facts.hub_verified = [...hub.alertBook.verified.keys()].sort();
facts.hub_holds = [...hub.alertBook.held.keys()].sort();
facts.hub_alert_routing = (({ hops, copies }) => [hops, copies])(
  decodeMessage(hub.alertBook.entry(idOf(m.alert)).data));
facts.closed = first.closed;
facts.again = msgs(await link(phone, hub)); // each holds what the other does: nothing to send

// A rotation: followed, carried, followed by the next one too; the new root's alerts verify.
await feed(phone, 'rotation', 'new_root_alert');
const later = node();
await link(phone, later);
facts.rotations = [phone, later].map((n) => n.alertBook.rotations.map((r) => r.to.name));
facts.new_root_alert = [phone, later].map((n) => n.alertBook.verified.has(idOf(m.new_root_alert)));

// The bound: alerts beyond MAX_ALERTS are refused (not kept, not carried).
const full = node();
const bulk = input.bulk.map(unhex);
for (const data of bulk.slice(0, -1)) full.alertBook.take(data);
const last = full.alertBook.take(bulk.at(-1));
facts.bulk_held = full.alertBook.verified.size;
facts.bulk_last = last && (last.ok ? 'ok' : last.reason);
facts.bulk_summary = full.alertBook.summary().alerts.map(([i, s]) => [i, s.length]);
// Hostile summaries: a Hello whose field 5 breaks §10, or whose field 3 or 4 is sent empty
// (not canonical), is a malformed frame and sends nothing.
const bad = [[], [['nl-vr17', []]], [['nl-vr17', Array.from({ length: 65 }, (_, i) => i)]],
  [['', [1]]], [['nl-vr17', [-1]]], [[1, [1]]], Array.from({ length: 33 }, (_, i) => [`i${i}`, [1]])]
  .map((field) => [5, field]).concat([[3, new Uint8Array(0)], [4, new Uint8Array(0)]]);
facts.bad_hellos = bad.map(([key, field]) => {
  const out = [];
  const l = new Link(phone, (f) => out.push(f), () => null);
  l.open();
  l.receive(encode([1, new Map([[1, 2], [2, new Uint8Array(8)], [key, field]])]));
  l.shut();
  return [l.malformed, out.length];
});
console.log(JSON.stringify(facts));
