// The resident's node in the browser: its identity, the messages it holds and the sync
// session on one link (docs/protocol.md §10), sans-IO. The page (ui.js) owns the WebSocket
// and IndexedDB (store.js); this module never does I/O: `Link.receive` and `Node.post` return
// the frames to send, the store is written through `store.put`/`store.drop` callbacks.
//
// What the browser node holds and relays: posts, announces, DMs and receipts (the kinds that
// are reconciled), and the authority messages its alert book (`node.alertBook`, alerts.js)
// verified itself against the roots this phone trusts: alerts, revocations and certificates.
// Those are compared by the Hello's summaries (fields 4 and 5) and sent first (§10.1 step 2),
// so a phone carries an alert from a hub that has it to the next hub that lacks it.

import { x25519 } from '../vendor/crypto.js';
import { Frame, decodeFrame, encodeDone, encodeHello, encodeMsg, encodeRecon, encodeWant }
  from './frames.js';
import { WireError, compare, hex } from './msgpack.js';
import { GHOST, GIVES_DEAD, GIVES_LIVE, HELD, ItemSet, Reconciler, classOf, offerOf }
  from './recon.js';
import { OpenError, dayOf, helloField, helloTag, openDm, pairSecret, receiptFor, recipientTag,
  sealDm } from './seal.js';
import { Kind, decodeMessage, encodeMessage, fingerprint, makeMessage, messageId, publicKey,
  validate, validateFast } from './wire.js';

const DAY = 86400;
const POST_TTL = 7 * DAY;
const ANNOUNCE_TTL = 30 * DAY;
const MAX_HELD = 20000; // messages kept; the oldest posts go first
const MALFORMED_BUDGET = 16; // bad frames before this side gives up on the link
const SILENCE = 60; // seconds without a frame in an unfinished exchange: start over
const RESYNC = 900;
const WANT_CAP = 256;
const SPRAY_COPIES = 32; // L: received DM copies are clamped to it (§10.1 step 5, as the reference node)
const MAX_CONTACTS = 64; // pair tags presented: contacts first, then correspondents (§10)
const RECENT = 16; // correspondents presented beside the contacts
const NO_DIGEST = new Uint8Array(0); // this node sends no Hello digest (field 7)
const GHOST_LIFETIME = 14 * DAY; // the longest lifetime of a receipt, DM or post (§10.2)
const MAX_GHOSTS = 16384; // beyond, new ghosts are refused: made-up ones cost only the saving
const CLOCK_SKEW = 3600; // a ghost's `created` may be this far ahead of our clock, no more
const FADE_AFTER = 7200; // a post, announce or receipt is of class 1 this long after `created` (§10.2)
const GHOST_PREFIX = 'ghost/'; // ghosts share the message store, under their own keys

export const now = () => Math.floor(Date.now() / 1000);
const randomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));

/** A new identity: Ed25519 signing seed and X25519 key-agreement seed, made here. */
export function newIdentity() {
  return { signSeed: randomBytes(32), dhSeed: x25519.utils.randomPrivateKey() };
}

function me(identity) {
  return { ...identity, signKey: publicKey(identity.signSeed),
    dhKey: x25519.getPublicKey(identity.dhSeed) };
}

/** A held message: its encoded bytes (with our routing), id, kind, created, expires and the
 *  fields the page shows. `state` for our own: queued, carried (handed to a hub), delivered. */
function record(data, checked, extra = {}) {
  const { msg, body, id } = checked;
  return { key: hex(id), id, data, kind: msg.kind, created: body.created,
    expires: body.expires, ...extra };
}

export class Node {
  /** `identity` from newIdentity(); `held`: records from the store; `store`: {put, drop}. */
  constructor(identity, held, store) {
    this.me = me(identity);
    this.fingerprint = fingerprint(this.me.signKey);
    this.signKeyHex = hex(this.me.signKey);
    this.store = store;
    this.held = new Map(held.filter((r) => !r.ghost).map((r) => [r.key, r]));
    // Ghosts (§10.2): ids we know but cannot get from the peers that hold them, kept so that
    // our set agrees with theirs; {key, ghost, id, created, expires}, by hex id.
    this.ghosts = new Map(held.filter((r) => r.ghost).map((g) => [hex(g.id), g]));
    this.listeners = new Set();
    this.links = new Set();
    this.checking = 0; // messages whose signature check is under way
    this.contacts = []; // X25519 keys of the contact book, most important first
    this.secrets = new Map(); // hex X25519 key -> pair secret (or null), computed once
    this.pairTags = { key: '', tags: [] }; // cache: (day, presented keys) -> tags
    this.alertBook = null; // an AlertBook (alerts.js), set by the page
  }

  /** The X25519 keys of the resident's contacts (from their cards), most important first:
   *  the next Hellos present the pair tags of their DMs to us (§10 field 3). */
  setContacts(dhKeys) { this.contacts = dhKeys; }

  onChange(fn) { this.listeners.add(fn); }

  _changed(what) { for (const fn of this.listeners) fn(what); }

  // --- what the page reads ---------------------------------------------------------------

  posts(channel) {
    return [...this.held.values()].filter((r) => r.kind === Kind.POST && r.channel === channel)
      .sort((a, b) => b.created - a.created);
  }

  channels() {
    const seen = new Set();
    for (const r of this.held.values()) if (r.kind === Kind.POST) seen.add(r.channel);
    return [...seen].sort();
  }

  /** Contacts are announces: the newest card of each key, keyed by fingerprint. */
  cards() {
    const out = new Map();
    for (const r of this.held.values()) {
      if (r.kind !== Kind.ANNOUNCE) continue;
      const old = out.get(r.fingerprint);
      if (!old || old.created < r.created) out.set(r.fingerprint, r);
    }
    return out;
  }

  inbox() {
    return [...this.held.values()].filter((r) => r.kind === Kind.DM && (r.mine || r.opened))
      .sort((a, b) => b.created - a.created);
  }

  nameOf(signKeyHex) {
    for (const c of this.cards().values()) if (hex(c.signKey) === signKeyHex) return c.name;
    return null;
  }

  // --- what the resident does -------------------------------------------------------------

  post(channel, text, t = now()) {
    const body = new Map([[1, this.me.signKey], [2, channel], [3, t], [4, t + POST_TTL], [5, text]]);
    return this._own(makeMessage(Kind.POST, body, this.me.signSeed));
  }

  announce(name, t = now()) {
    const body = new Map([[1, this.me.signKey], [2, this.me.dhKey], [3, name], [4, t],
      [5, t + ANNOUNCE_TTL]]);
    return this._own(makeMessage(Kind.ANNOUNCE, body, this.me.signSeed));
  }

  /** A DM to the card `to` (from cards()), sealed here: the hub relays what it cannot read. */
  sendDm(to, text, t = now()) {
    const msg = sealDm(this.me, { signKey: to.signKey, dhKey: to.dhKey }, text, t);
    return this._own(msg, { to: hex(to.signKey), toDh: to.dhKey, text });
  }

  _own(msg, extra = {}) {
    const data = encodeMessage(msg);
    const checked = validate(data); // what we make obeys the rules we hold others to
    const r = this._describe(data, checked, { mine: true, state: 'queued', ...extra });
    this._keep(r);
    for (const link of this.links) link.push(r);
    return r;
  }

  // --- what arrives -----------------------------------------------------------------------

  /** A Msg from link `from`: validated completely, kept if new and then offered to the other
   *  links. Returns the record or null. */
  async accept(data, from = null) {
    let checked;
    this.checking++;
    try { checked = await validateFast(data); } catch (e) {
      if (e instanceof WireError && /kind not handled/.test(e.message)) return this._authority(data, from);
      throw e;
    } finally {
      this.checking--;
    }
    const key = hex(checked.id);
    const msg = checked.msg;
    // Routing on arrival (§10.1 step 5): capped, so a peer cannot make us flood for it.
    const cap = msg.kind === Kind.POST || msg.kind === Kind.ANNOUNCE ? 16 : 32;
    const hops = Math.min(msg.hops, cap);
    if (this.held.has(key)) { this._upgrade(this.held.get(key), hops); return null; }
    if (checked.body.expires <= now()) return null;
    const stored = encodeMessage({ ...msg, hops, copies: Math.min(msg.copies, SPRAY_COPIES) });
    const r = this._describe(stored, checked, {});
    if (r.kind === Kind.RECEIPT) this._receipt(r);
    if (r.kind === Kind.DM) this._open(r, checked);
    this._keep(r);
    for (const link of this.links) if (link !== from) link.push(r);
    return r;
  }

  /** Routing upgrade (§10.2): a post, announce or receipt we hold arrives again with more
   *  hops left; our copy takes them, nothing else of the duplicate is trusted. DMs are not
   *  upgraded: their copies are counted per holder. */
  _upgrade(r, hops) {
    if (r.kind === Kind.DM) return;
    const msg = decodeMessage(r.data);
    if (hops <= msg.hops) return;
    r.data = encodeMessage({ ...msg, hops });
    this.store.put(r);
  }

  // An alert, revocation or certificate: judged by the alert book (never by the hub's word);
  // a refused one is listed as not verified, is not carried, and does not count against the
  // link (an honest hub may pin roots this phone does not). One that verified goes on to the
  // other links, as a node's news does.
  _authority(data, from) {
    const verdict = this.alertBook ? this.alertBook.take(data) : null;
    if (!verdict) return null;
    this._changed({ kind: 'alert' });
    if (verdict.ok) {
      const entry = this.alertBook.entry(hex(messageId(decodeMessage(data))));
      if (entry) for (const link of this.links) if (link !== from) link.pushAuthority(entry);
    }
    return null;
  }

  _describe(data, checked, extra) {
    const { body, msg } = checked;
    const r = record(data, checked, extra);
    if (msg.kind === Kind.POST) Object.assign(r, { channel: body.channel, text: body.text, author: hex(body.author) });
    if (msg.kind === Kind.ANNOUNCE) {
      Object.assign(r, { name: body.name, signKey: body.signKey, dhKey: body.dhKey,
        fingerprint: fingerprint(body.signKey) });
    }
    if (msg.kind === Kind.DM) Object.assign(r, { tag: body.tag, ackKey: body.ackKey });
    if (msg.kind === Kind.RECEIPT) Object.assign(r, { dmId: hex(body.dmId), ackKey: body.ackKey });
    return r;
  }

  _open(r, checked) {
    try {
      const opened = openDm(this.me, checked.msg, checked.body);
      Object.assign(r, { opened: true, from: hex(opened.sender.signKey),
        fromDh: opened.sender.dhKey, text: opened.text });
      const receipt = receiptFor(opened, now());
      this._own(receipt);
    } catch (e) {
      if (!(e instanceof OpenError)) throw e; // not for us: carried sealed, as any relay would
    }
  }

  _receipt(r) {
    const dm = this.held.get(r.dmId);
    if (!dm || hex(dm.ackKey) !== hex(r.ackKey)) return;
    if (dm.mine) { dm.state = 'delivered'; this.store.put(dm); } else this._drop(dm.key);
  }

  _keep(r) {
    this.held.set(r.key, r);
    this.store.put(r);
    if (this.ghosts.delete(r.key)) this.store.drop(GHOST_PREFIX + r.key); // the real one is here
    if (this.held.size > MAX_HELD) this._evict();
    this._changed(r);
  }

  _drop(key) {
    this.held.delete(key);
    this.store.drop(key);
  }

  _evict() {
    const others = [...this.held.values()].filter((r) => !r.mine).sort((a, b) => a.created - b.created);
    for (const r of others.slice(0, this.held.size - MAX_HELD)) this._drop(r.key);
  }

  expire(t = now()) {
    for (const r of [...this.held.values()]) if (r.expires <= t && !(r.mine && r.kind === Kind.DM)) this._drop(r.key);
    for (const [k, g] of [...this.ghosts]) {
      if (g.expires <= t) { this.ghosts.delete(k); this.store.drop(g.key); }
    }
  }

  /** Record the ghosts a reconciliation collected ({id, t}): never one of an id we hold, one
   *  too far ahead of our clock, an expired one, or one past MAX_GHOSTS (§10.2). */
  recordGhosts(ghosts, t = now()) {
    for (const { id, t: created } of ghosts) {
      const k = hex(id);
      if (this.held.has(k) || this.ghosts.has(k) || this.ghosts.size >= MAX_GHOSTS) continue;
      if (created > t + CLOCK_SKEW || created + GHOST_LIFETIME <= t) continue;
      const g = { key: GHOST_PREFIX + k, ghost: true, id, created, expires: created + GHOST_LIFETIME };
      this.ghosts.set(k, g);
      this.store.put(g);
    }
  }

  /** The reconciled set (§10.1 step 3, §10.2) for a session with the peer whose Hello is
   *  `peer`: everything held that has not expired, with its class, and every ghost (class 0).
   *  A DM of class 0 is of class 1 in a session with its recipient, so that the recipient's
   *  ghost of it never hides it. */
  itemSet(peer, t = now()) {
    const items = [];
    for (const r of this.held.values()) {
      if (r.expires <= t) continue;
      let cls = this.classOf(r, t);
      if (!cls && r.kind === Kind.DM && this._toDestination(r, peer)) cls = 1;
      items.push({ t: r.created, id: r.id, cls, r });
    }
    for (const [k, g] of this.ghosts) {
      if (g.expires > t && !this.held.has(k)) items.push({ t: g.created, id: g.id, cls: 0 });
    }
    return new ItemSet(items);
  }

  /** The class of a held message's item at `t` (§10.2): 1 when a copy could go on to some
   *  peer other than its destination (hops left, and for a DM more than one copy held) and,
   *  for what floods, the item has not faded (two hours after its `created`). */
  classOf(r, t = now()) {
    const { hops, copies } = this._routing(r);
    return hops > 0 && !this.faded(r, t) && (r.kind !== Kind.DM || copies >= 2) ? 1 : 0;
  }

  /** Whether a post, announce or receipt is past its fade time (§10.2 "Class"): of class 0
   *  at every holder, so no copy of it is live and none upgrades a dead one. */
  faded(r, t = now()) {
    return r.kind !== Kind.DM && t >= r.created + FADE_AFTER;
  }

  // The routing of a record's current bytes, decoded once per version of them.
  _routing(r) {
    let cached = routings.get(r);
    if (!cached || cached.data !== r.data) {
      const msg = decodeMessage(r.data);
      cached = { data: r.data, msg, hops: msg.hops, copies: msg.copies };
      routings.set(r, cached);
    }
    return cached;
  }

  /** What we can give the peer whose Hello is `peer` of our item `item` (§10.2 flags). */
  describe(item, peer) {
    const r = item.r;
    if (!r || !this.held.has(r.key)) return GHOST;
    const offer = this._offer(r, peer);
    if (!offer) return HELD;
    const hops = Math.max(0, offer.msg.hops - 1);
    const live = hops > 0 && !this.faded(r) && (r.kind !== Kind.DM || offer.give >= 2);
    return live ? GIVES_LIVE : GIVES_DEAD;
  }

  _toDestination(r, peer) {
    return r.kind === Kind.DM && peer.tags.some((tg) => compare(tg, helloTag(peer.nonce, r.tag)) === 0);
  }

  // What a peer would be handed of `r` (§10.1 step 5): the copies given and kept, or null if
  // the policy keeps it from this peer. Changes nothing.
  _offer(r, peer) {
    const { msg } = this._routing(r);
    const toDestination = this._toDestination(r, peer);
    if (msg.hops === 0 && !toDestination) return null;
    if (r.kind !== Kind.DM || toDestination) return { msg, give: 1, keep: msg.copies };
    if (msg.copies < 2) return null; // spray-and-wait: the last copy waits for its recipient
    const give = Math.floor(msg.copies / 2);
    return { msg, give, keep: msg.copies - give };
  }

  /** The X25519 keys we present: the contacts, then the latest correspondents (whom we sent
   *  a DM to or opened one from: their replies are recognised without adding them), at most
   *  MAX_CONTACTS with a secret, distinct. */
  _presented() {
    const recent = [...this.held.values()].filter((r) => r.kind === Kind.DM && (r.toDh || r.fromDh))
      .sort((a, b) => b.created - a.created).map((r) => r.toDh || r.fromDh);
    const keys = [];
    const seen = new Set();
    let correspondents = 0;
    for (const [i, key] of [...this.contacts, ...recent].entries()) {
      if (keys.length === MAX_CONTACTS || (i >= this.contacts.length && correspondents === RECENT)) break;
      const k = hex(key);
      if (seen.has(k)) continue;
      seen.add(k);
      if (i >= this.contacts.length) correspondents++;
      if (!this.secrets.has(k)) this.secrets.set(k, pairSecret(this.me.dhSeed, key));
      if (this.secrets.get(k)) keys.push(k);
    }
    return keys;
  }

  /** The pair tags our presented keys put on DMs to us today and yesterday (§5 step 2). */
  pairTagsOn(day) {
    const keys = this._presented();
    const key = `${day}:${keys.join(',')}`;
    if (this.pairTags.key !== key) {
      const tags = [day, day - 1].flatMap((d) => keys.map((k) =>
        recipientTag(this.secrets.get(k), this.me.dhKey, d)));
      this.pairTags = { key, tags };
    }
    return this.pairTags.tags;
  }

  /** Hello field 3 (§10): our pair tags blinded with `nonce`, padded and sorted. */
  blindedTags(nonce, t = now()) {
    return helloField(nonce, this.pairTagsOn(dayOf(t)), randomBytes);
  }

  /** The encoded copy of `r` to hand to the peer whose Hello is `peer` (§10.1 step 5), or
   *  null if the policy keeps it from this peer; we keep the copies not given. */
  handOver(r, peer) {
    const offer = this._offer(r, peer);
    if (!offer) return null;
    const { msg, give, keep } = offer;
    let changed = false;
    if (keep !== msg.copies) { r.data = encodeMessage({ ...msg, copies: keep }); changed = true; }
    if (r.mine && r.state === 'queued') { r.state = 'carried'; changed = true; }
    if (changed) this.store.put(r);
    return encodeMessage({ ...msg, hops: Math.max(0, msg.hops - 1), copies: give });
  }
}

const routings = new WeakMap(); // record -> its decoded routing (Node._routing)

/** The sync session on one link (§10.1), both roles. `send(bytes)` sends one frame; `close(why)`
 *  ends the link. Call `open()` on link up, `receive(bytes)` per frame, `tick()` now and then. */
export class Link {
  constructor(node, send, close) {
    this.node = node;
    this.send = send;
    this.close = close;
    this.malformed = 0;
    this.stats = { framesIn: 0, framesOut: 0, msgsIn: 0, msgsOut: 0, reconciled: null };
    node.links.add(this);
  }

  open() { this._hello(); }

  shut() { this.node.links.delete(this); }

  _out(frame) { this.stats.framesOut++; this.send(frame); }

  _hello() {
    // Starting over on a link already in use: frames of the old exchange may still come, and
    // are stale; they must not make us start over once more (§10.1 step 7: once).
    if (this.nonce) this.staleRestart = true;
    this.nonce = randomBytes(8);
    this.peer = null; // the peer's Hello of this exchange
    this.recon = null;
    this.sentDone = false;
    this.peerDone = false;
    this.queue = [];
    this.phase = 'HELLO';
    this.started = now();
    this.heard = now();
    this.tags = this.node.blindedTags(this.nonce); // kept: the tie-break compares what we sent
    const book = this.node.alertBook;
    const { trustIds, alerts } = book ? book.summary() : { trustIds: [], alerts: [] };
    this._out(encodeHello({ nonce: this.nonce, tags: this.tags, trustIds, alerts }));
  }

  receive(data) {
    this.stats.framesIn++;
    this.heard = now();
    let f;
    try { f = decodeFrame(data); } catch (e) {
      if (!(e instanceof WireError)) throw e;
      return this._bad();
    }
    try {
      this._frame(f);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      this._bad();
    }
  }

  _bad() {
    if (++this.malformed > MALFORMED_BUDGET) this.close('malformed frames');
  }

  _frame(f) {
    if (f.type === Frame.MSG) {
      this.stats.msgsIn++;
      // Checked off the frame loop (the browser's Ed25519 is asynchronous); a refused
      // message counts against this link's budget like a malformed frame.
      this.node.accept(f.data, this).catch((e) => {
        if (!(e instanceof WireError)) throw e;
        this._bad();
      });
      return;
    }
    if (f.type === Frame.HELLO) {
      if (this.peer) this._hello(); // the peer started over: so do we (§10.1 step 6, 7)
      return this._peerHello(f);
    }
    if (!this.peer) { // stale (§10.1 step 7): start over at once, once
      if (!this.staleRestart) { this._hello(); this.staleRestart = true; }
      return;
    }
    if (f.type === Frame.RECON) return this._recon(f.data);
    if (f.type === Frame.WANT) return this._want(f.ids);
    if (f.type === Frame.DONE) return this._done();
  }

  _peerHello(f) {
    this.peer = f;
    this.staleRestart = false;
    // §10.1 step 1: the greater nonce initiates; equal nonces fall back to the digests (we
    // send none: empty, the smaller), then to the field-3 lists.
    const order = compare(this.nonce, f.nonce) || compare(NO_DIGEST, f.digest || NO_DIGEST)
      || compareTags(this.tags, f.tags);
    this.initiator = order > 0;
    const node = this.node;
    this.recon = new Reconciler(node.itemSet(f), this.initiator, (item) => node.describe(item, f));
    this.reconStart = performance.now();
    this.phase = 'RECONCILING';
    // §10.1 step 2: what the peer's summaries lack of trust and alerts goes first.
    if (node.alertBook) for (const entry of node.alertBook.lacking(f)) this.pushAuthority(entry);
    if (this.initiator) this._out(encodeRecon(this.recon.initiate()));
  }

  _recon(data) {
    if (this.phase !== 'RECONCILING') throw new WireError('recon after reconciliation');
    const reply = this.recon.receive(data);
    this.node.recordGhosts(this.recon.takeGhosts());
    if (reply !== null) return this._out(encodeRecon(reply));
    this.stats.reconciled = performance.now() - this.reconStart;
    this.phase = 'OFFERING';
    const need = this._wanted();
    for (let i = 0; i < need.length; i += WANT_CAP) this._out(encodeWant(need.slice(i, i + WANT_CAP)));
    this._offer(this._given());
    this._flush();
  }

  // The initiator's end (§10.2, "What the difference asks for"): of what only we hold, what
  // we can give this peer and it can use: it lacks the id, holds only a ghost of it, or (not
  // for DMs) holds a dead copy where ours would live on.
  _given() {
    const out = [];
    for (const id of this.recon.haveIds) {
      const r = this.node.held.get(hex(id));
      if (!r) continue; // our ghost: nothing to give
      const can = this.node.describe({ r }, this.peer);
      if (can < GIVES_DEAD) continue; // held, not for this peer: it records a ghost instead
      const theirs = this.recon.peerFlag(id); // set when the peer holds it in the other class
      if (theirs === undefined || offerOf(theirs) === GHOST
          || (classOf(theirs) === 0 && r.kind !== Kind.DM && can === GIVES_LIVE)) out.push(id);
    }
    return out;
  }

  // Of what only the peer holds, what it can give us and we can use: never what it flags
  // GHOST or HELD; an id we hold only if it is a dead post, announce or receipt the peer can
  // give live (the copy upgrades ours).
  _wanted() {
    return this.recon.needIds.filter((id) => {
      const offer = offerOf(this.recon.peerFlag(id));
      if (offer < GIVES_DEAD) return false;
      const r = this.node.held.get(hex(id));
      return !r || (offer === GIVES_LIVE && r.kind !== Kind.DM && this.node.classOf(r) === 0
        && !this.node.faded(r));
    });
  }

  _want(ids) {
    if (this.initiator) throw new WireError('want from the responder');
    if (this.phase === 'RECONCILING') this.stats.reconciled = performance.now() - this.reconStart;
    this._offer(ids);
    this._flush();
  }

  _done() {
    if (this.peerDone) throw new WireError('a second done');
    this.peerDone = true;
    if (!this.initiator && this.stats.reconciled === null) {
      this.stats.reconciled = performance.now() - this.reconStart;
    }
    this._flush();
  }

  // Queue the held messages among `ids`, in the §10.1 step 4 order (receipts, DMs, the rest;
  // newest first within a class).
  _offer(ids) {
    const rank = { [Kind.RECEIPT]: 0, [Kind.DM]: 1, [Kind.POST]: 2, [Kind.ANNOUNCE]: 2 };
    const found = ids.map((id) => this.node.held.get(hex(id))).filter(Boolean);
    found.sort((a, b) => rank[a.kind] - rank[b.kind] || b.created - a.created);
    this.queue.push(...found);
  }

  _flush() {
    while (this.queue.length) {
      const data = this.node.handOver(this.queue.shift(), this.peer);
      if (data) { this.stats.msgsOut++; this._out(encodeMsg(data)); }
    }
    const mayFinish = this.initiator ? this.phase === 'OFFERING' : this.peerDone;
    if (mayFinish && !this.sentDone) {
      this.sentDone = true;
      this._out(encodeDone());
    }
    if (this.sentDone && this.peerDone) this.phase = 'FINISHED';
  }

  /** A message this node took after our Hello: pushed at once once the peer's Hello is in. */
  push(r) {
    if (!this.peer) return;
    const data = this.node.handOver(r, this.peer);
    if (data) { this.stats.msgsOut++; this._out(encodeMsg(data)); }
  }

  /** An alert, revocation or certificate the book carries, handed over at once (one hop
   *  less; none when it has no hops left) once the peer's Hello is in. */
  pushAuthority(entry) {
    if (!this.peer) return;
    const data = this.node.alertBook.handOver(entry);
    if (data) { this.stats.msgsOut++; this._out(encodeMsg(data)); }
  }

  /** Timers: start over after a silent unfinished exchange, and every RESYNC seconds. */
  tick(t = now()) {
    if ((this.phase !== 'FINISHED' && t - this.heard >= SILENCE) || t - this.started >= RESYNC) {
      this._hello();
    }
  }
}

function compareTags(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compare(a[i], b[i]);
    if (c) return c;
  }
  return a.length - b.length;
}
