// Range-based set reconciliation, sync version 2 (docs/protocol.md §10.2), both roles, sans-IO.
// Kept apart from the rest of the node: the item hash is one function (`itemHash`) and the
// message format lives only here.
//
// Items are {t: created (Number), id: Uint8Array(16), cls: 0 or 1}, sorted by (t, id). This
// side splits, answers, budgets and defers exactly as §10.2's reference values say (b = 16,
// T = 32, replies within 4,096 bytes counted in exact encoded sizes), so its messages are the
// vectors' byte for byte. What it can give the peer of each item (the flag's offer) comes from
// the `describe` callback the node passes in; the reconciler itself knows nothing of messages.

import { sha256 } from '../vendor/crypto.js';
import { WireError, compare, concat, decode, encode, equal, utf8 } from './msgpack.js';

const ITEM_DOMAIN = utf8('meshnode/rbsr/item');
const FP_DOMAIN = utf8('meshnode/rbsr/fp');
const MOD = 1n << 128n;
const VERSION = 2;
const B = 16; // branching
const T = 32; // id-list threshold
const FRESH = 7200; // fresh window: items created within it of our newest are split finely (§10.2)
const LIMIT = 4096; // our frame limit
const MAX_RANGES = 2048;
const MAX_DEFERRED = 4096;
const MAX_MESSAGES = 256;
const MAX_TS = 2n ** 63n - 1n;
const SKIP = 0; const FINGERPRINT = 1; const ID_LIST = 2; const ID_DIFF = 3; const KNOWN = 4;
const BASE_LEN = { [SKIP]: 2, [FINGERPRINT]: 3, [ID_LIST]: 5, [ID_DIFF]: 6, [KNOWN]: 5 };
const INF = null; // the bound above every item

/** What the sender of a flag can give its peer of the item (bits 0-1), and its class (bit 2). */
export const GHOST = 0; export const HELD = 1; export const GIVES_DEAD = 2; export const GIVES_LIVE = 3;
export const offerOf = (flag) => flag & 3;
export const classOf = (flag) => (flag >> 2) & 1;
const timed = (flag) => (flag & 3) <= HELD; // its `created` travels: the receiver may record a ghost

export function itemHash(id, cls = 1) {
  const h = sha256(concat(ITEM_DOMAIN, id, Uint8Array.of(cls)));
  let v = 0n;
  for (let i = 15; i >= 0; i--) v = (v << 8n) | BigInt(h[i]);
  return v;
}

function le(value, size) {
  const out = new Uint8Array(size);
  let v = BigInt(value);
  for (let i = 0; i < size; i++) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

export function fingerprintOf(sum, count) {
  return sha256(concat(FP_DOMAIN, le(((sum % MOD) + MOD) % MOD, 16), le(count, 8))).slice(0, 12);
}

export function compareItems(a, b) {
  return a.t !== b.t ? a.t - b.t : compare(a.id, b.id);
}

// An item is below a bound when (t, id) < (bound.t, bound.prefix).
function below(item, bound) {
  if (bound === INF) return true;
  return item.t !== bound.t ? item.t < bound.t : compare(item.id, bound.prefix) < 0;
}

function boundLess(a, b) {
  if (b === INF) return a !== INF;
  if (a === INF) return false;
  return a.t !== b.t ? a.t < b.t : compare(a.prefix, b.prefix) < 0;
}

const boundEq = (a, b) => !boundLess(a, b) && !boundLess(b, a);

// The smallest bound above p and not above c (p < c).
function separate(p, c) {
  if (p.t !== c.t) return { t: c.t, prefix: new Uint8Array(0) };
  let i = 0;
  while (i < 16 && p.id[i] === c.id[i]) i++;
  return { t: c.t, prefix: c.id.slice(0, i + 1) };
}

/** A sorted, fixed item set with prefix sums: any range's fingerprint in O(1). */
export class ItemSet {
  constructor(items) {
    this.items = [...items].sort(compareItems);
    this.sums = [0n];
    let s = 0n;
    for (const item of this.items) {
      if (item.cls !== 0 && item.cls !== 1) throw new Error("an item's class is 0 or 1");
      s = (s + itemHash(item.id, item.cls)) % MOD;
      this.sums.push(s);
    }
  }

  get length() { return this.items.length; }

  // Index of the first item from `lo` on that is not below `bound`.
  index(bound, lo = 0) {
    if (bound === INF) return this.items.length;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (below(this.items[mid], bound)) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  fingerprint(a, b) { return fingerprintOf(this.sums[b] - this.sums[a], b - a); }

  // Whether (t, id) is an item here, of either class.
  holds(t, id) {
    const i = this.index({ t, prefix: id });
    return i < this.items.length && this.items[i].t === t && equal(this.items[i].id, id);
  }
}

// --- exact encoded sizes, so replies are kept under the limit while they are built ------------

const uintSize = (v) => (v < 0x80 ? 1 : v <= 0xff ? 2 : v <= 0xffff ? 3 : v <= 0xffffffff ? 5 : 9);
const binSize = (n) => n + (n <= 0xff ? 2 : n <= 0xffff ? 3 : 5);
const arraySize = (n) => (n <= 15 ? 1 : n <= 0xffff ? 3 : 5);
const WORST_ENTRY = 16 + 1 + 9; // an id, its flag and a 9-byte timestamp
const LIST_OVERHEAD = 9; // the headers of the ids, the flags and the times
const WORST_BOUND = 9 + binSize(16);
const WORST_SKIP = 2 + WORST_BOUND;
const TYPICAL_FINGERPRINT = 3 + 1 + binSize(12);
const HEADER = 7; // map, key 3, array header, `more`
const OPENING = 12; // version and since
const RESERVE = WORST_SKIP + 2 + 1 + binSize(12); // a skip, then the remainder range

function listingSize(l) {
  return binSize(16 * l.ids.length) + binSize(l.flags.length) + arraySize(l.times.length)
    + l.times.reduce((n, t) => n + uintSize(t), 0);
}

function rangeSize(r, lastTs) {
  let size = 2;
  if (r.upper === INF) size += 1;
  else size += uintSize(r.upper.t - lastTs + 1) + (r.upper.prefix.length ? binSize(r.upper.prefix.length) : 0);
  if (r.mode === FINGERPRINT) size += binSize(12);
  else if (r.mode === ID_DIFF) size += binSize(r.bitmap.length) + listingSize(r);
  else if (r.mode !== SKIP) size += listingSize(r);
  return size;
}

/** Outgoing ranges in bound order within the byte budget, gaps filled with SKIPs. */
class Writer {
  constructor(limit, header, start) {
    this.limit = limit;
    this.size = header;
    this.ranges = [];
    this.end = start;
    this.lastTs = 0;
  }

  // Bytes surely available for the next unit, keeping the reserve for a remainder.
  room() { return this.limit - this.size - RESERVE - WORST_SKIP; }

  // Append `units`, which cover [lower, last unit's upper), if they fit (or `force`).
  add(lower, units, force = false) {
    const fresh = boundEq(lower, this.end) ? [] : [{ mode: SKIP, upper: lower }];
    fresh.push(...units);
    let cost = 0;
    let ts = this.lastTs;
    for (const r of fresh) {
      cost += rangeSize(r, ts);
      if (r.upper !== INF) ts = r.upper.t;
    }
    if (!force && this.size + cost + RESERVE > this.limit) return false;
    this.ranges.push(...fresh);
    this.size += cost;
    this.lastTs = ts;
    this.end = fresh[fresh.length - 1].upper;
    return true;
  }
}

// --- messages ---------------------------------------------------------------------------------

function encodeRange(r, lastTs) {
  const row = [r.mode, 0];
  if (r.mode === FINGERPRINT) row.push(r.fp);
  if (r.mode === ID_DIFF) row.push(r.bitmap);
  if (r.mode >= ID_LIST) row.push(concat(...r.ids), r.flags, r.times);
  if (r.upper === INF) return [row, lastTs];
  row[1] = r.upper.t - lastTs + 1;
  if (r.upper.prefix.length) row.push(r.upper.prefix);
  return [row, r.upper.t];
}

function encodeMessage({ ranges, opening = false, more = false }) {
  const m = new Map();
  if (opening) m.set(1, VERSION);
  if (ranges.length) {
    let ts = 0;
    m.set(3, ranges.map((r) => { const [row, next] = encodeRange(r, ts); ts = next; return row; }));
  }
  if (more) m.set(4, 1);
  return encode(m);
}

const isUint = (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0)
  || (typeof v === 'bigint' && v >= 0n);

function bin(v, what) {
  if (!(v instanceof Uint8Array)) throw new WireError(`recon: ${what}`);
  return v;
}

function splitIds(raw) {
  bin(raw, 'ids');
  if (raw.length % 16) throw new WireError('recon: ids');
  const out = [];
  for (let i = 0; i < raw.length; i += 16) out.push(raw.slice(i, i + 16));
  if (new Set(out.map(key)).size !== out.length) throw new WireError('recon: repeated id');
  return out;
}

// Ids, their flags and the times of the GHOST/HELD ones, checked: one flag per id, no reserved
// bit, a ghost of class 0, one time per GHOST/HELD id placing it inside [lower, upper).
function entries([rawIds, flags, times], lower, upper) {
  const ids = splitIds(rawIds);
  bin(flags, 'flags');
  if (flags.length !== ids.length) throw new WireError('recon: one flag per id');
  for (const f of flags) if (f & ~7 || f === 4) throw new WireError('recon: invalid flag');
  const stamped = ids.filter((_, i) => timed(flags[i]));
  if (!Array.isArray(times) || times.length !== stamped.length) throw new WireError('recon: times');
  const out = times.map((t) => {
    if (!isUint(t) || BigInt(t) > MAX_TS) throw new WireError('recon: time');
    return Number(t);
  });
  stamped.forEach((id, i) => {
    const item = { t: out[i], id };
    if (below(item, lower) || !below(item, upper)) throw new WireError('recon: time outside its range');
  });
  return { ids, flags, times: out };
}

function decodeRange(row, lower, lastTs) {
  if (!Array.isArray(row) || row.length < 2 || row.length > 7) throw new WireError('recon: range');
  const [mode, dt] = row;
  const base = BASE_LEN[mode];
  if (base === undefined) throw new WireError('recon: unknown mode');
  if (row.length !== base && row.length !== base + 1) throw new WireError('recon: range length');
  if (!isUint(dt) || BigInt(dt) > MAX_TS + 1n) throw new WireError('recon: dt');
  let prefix = new Uint8Array(0);
  if (row.length === base + 1) {
    prefix = bin(row[base], 'prefix');
    if (prefix.length < 1 || prefix.length > 16 || prefix[prefix.length - 1] === 0) {
      throw new WireError('recon: prefix');
    }
  }
  let upper = INF;
  if (BigInt(dt) === 0n) {
    if (prefix.length) throw new WireError('recon: prefix on INFINITY');
  } else {
    const t = lastTs + BigInt(dt) - 1n;
    if (t > MAX_TS) throw new WireError('recon: timestamp');
    lastTs = t;
    upper = { t: Number(t), prefix };
  }
  if (!boundLess(lower, upper)) throw new WireError('recon: bounds not increasing');
  const r = { mode, upper };
  if (mode === FINGERPRINT) {
    r.fp = bin(row[2], 'fingerprint');
    if (r.fp.length !== 12) throw new WireError('recon: fingerprint');
  } else if (mode === ID_DIFF) {
    r.bitmap = bin(row[2], 'bitmap');
    Object.assign(r, entries(row.slice(3, 6), lower, upper));
  } else if (mode !== SKIP) {
    Object.assign(r, entries(row.slice(2, 5), lower, upper));
    if (mode === KNOWN && [...r.flags].some((f) => !timed(f))) {
      throw new WireError('recon: KNOWN lists only GHOST or HELD ids');
    }
  }
  return [r, lastTs];
}

function decodeMessage(data) {
  const m = decode(data, { maxItems: MAX_RANGES });
  if (!(m instanceof Map)) throw new WireError('recon: expected a map');
  for (const k of m.keys()) if (![1, 2, 3, 4].includes(k)) throw new WireError('recon: unknown key');
  const opening = m.has(1);
  if (opening && m.get(1) !== VERSION) throw new WireError('recon: version');
  let since = 0;
  if (m.has(2)) {
    const s = m.get(2);
    if (!opening || !isUint(s) || BigInt(s) < 1n || BigInt(s) > MAX_TS) throw new WireError('recon: since');
    since = Number(s);
  }
  if (m.has(4) && m.get(4) !== 1) throw new WireError('recon: more');
  const rows = m.has(3) ? m.get(3) : [];
  if (!Array.isArray(rows) || (m.has(3) && rows.length === 0)) throw new WireError('recon: ranges');
  const ranges = [];
  let lower = { t: since, prefix: new Uint8Array(0) };
  let lastTs = 0n;
  for (const row of rows) {
    let r;
    [r, lastTs] = decodeRange(row, lower, lastTs);
    r.lower = lower;
    ranges.push(r);
    lower = r.upper;
  }
  return { opening, since, ranges, more: m.has(4) };
}

// --- a session ----------------------------------------------------------------------------------

const key = (id) => id.join(',');
const pairOf = (id, cls) => `${key(id)}/${cls}`; // items are compared as (id, class)
const listedPairs = (l) => l.ids.map((id, i) => pairOf(id, classOf(l.flags[i])));
const ourPairs = (chosen) => new Set(chosen.map((item) => pairOf(item.id, item.cls)));
const byClass = (item) => (item.cls ? GIVES_LIVE : HELD);

/** One reconciliation session over a snapshot `set` (an ItemSet); `initiator` opens.
 *  `describe(item)` says what this side can give the peer of its item (GHOST, HELD,
 *  GIVES_DEAD, GIVES_LIVE). After the end (`receive` returns null as initiator), `have` maps
 *  the ids of our items the peer lacks (an id held in the other class counts on both sides),
 *  `need` the ids of the peer's items we lack, with the peer's flag byte. On both sides
 *  `takeGhosts()` gives the ids the peer flagged GHOST or HELD that are not in our set, with
 *  their `created`: what we may record as ghosts. */
export class Reconciler {
  constructor(set, initiator, describe = byClass, limit = LIMIT) {
    this.set = set;
    this.limit = limit; // our replies' limit in bytes; 4,096 but for the 1,024-byte vector
    this.initiator = initiator;
    this.describe = describe;
    this.since = 0;
    this.deferred = []; // received work not yet answered, in bound order
    this.have = new Map(); // hex-ish key -> id
    this.need = new Map(); // key -> {id, flag}
    this.ghosts = new Map(); // key -> {id, t}
    this.messages = 0;
    this.started = false;
    this.ended = false;
  }

  get haveIds() { return [...this.have.values()]; }
  get needIds() { return [...this.need.values()].map((n) => n.id); }
  /** The peer's flag for an id of `needIds`. */
  peerFlag(id) { return this.need.get(key(id))?.flag; }

  takeGhosts() {
    const out = [...this.ghosts.values()];
    this.ghosts = new Map();
    return out;
  }

  initiate() {
    if (!this.initiator || this.started) throw new Error('only the initiator opens, once');
    const lower = { t: this.since, prefix: new Uint8Array(0) };
    const w = new Writer(this.limit, HEADER + OPENING, lower);
    w.add(lower, this._split(this.set.index(lower), this.set.length, INF), true);
    this.started = true;
    return encodeMessage({ ranges: w.ranges, opening: true });
  }

  /** The reply to `data` (bytes), or null: as initiator, the session is over. A refused
   *  message (WireError) changes nothing. */
  receive(data) {
    if (this.initiator && !this.started) throw new Error('initiate() first');
    if (this.ended) throw new WireError('recon: message after the end');
    if (this.messages >= MAX_MESSAGES) throw new WireError('recon: too many messages');
    const msg = decodeMessage(data);
    const opening = !this.initiator && this.messages === 0;
    if (msg.opening !== opening) throw new WireError('recon: the opening comes first, from the initiator only');
    if (msg.more && !this.initiator) throw new WireError('recon: more from the initiator');
    const since = opening ? msg.since : this.since;
    const out = this._process(this._incoming(msg.ranges), since);
    // Everything checked: commit.
    this.messages++;
    this.since = since;
    for (const [k, v] of out.have) this.have.set(k, v);
    for (const [k, v] of out.need) this.need.set(k, v);
    for (const [k, v] of out.ghosts) this.ghosts.set(k, v);
    this.deferred = out.deferred;
    const ranges = out.writer.ranges;
    if (!this.initiator) return encodeMessage({ ranges, more: out.deferred.length > 0 });
    if (ranges.length || msg.more) return encodeMessage({ ranges });
    this.ended = true;
    return null;
  }

  // Received ranges to act on, merged in bound order with our deferred work. The peer never
  // sends work inside ranges we deferred, except a fold: one range containing them whole,
  // which supersedes them.
  _incoming(ranges) {
    const fresh = [];
    for (const r of ranges) {
      if (r.mode === ID_DIFF && !this.initiator) throw new WireError('recon: ID_DIFF sent to the responder');
      if (r.mode === KNOWN && this.initiator) throw new WireError('recon: KNOWN sent to the initiator');
      if (r.mode !== SKIP) fresh.push({ lower: r.lower, range: r });
    }
    const merged = [];
    const old = this.deferred;
    let i = 0;
    for (const w of fresh) {
      while (i < old.length && !boundLess(w.lower, old[i].range.upper)) merged.push(old[i++]);
      while (i < old.length && boundLess(old[i].lower, w.range.upper)) {
        if (boundLess(old[i].lower, w.lower) || boundLess(w.range.upper, old[i].range.upper)) {
          throw new WireError('recon: a range overlaps deferred work');
        }
        i++; // superseded
      }
      merged.push(w);
    }
    merged.push(...old.slice(i));
    return merged;
  }

  _process(work, since) {
    const set = this.set;
    const out = { writer: new Writer(this.limit, HEADER, { t: since, prefix: new Uint8Array(0) }),
      deferred: [], have: new Map(), need: new Map(), ghosts: new Map() };
    for (const w of work) {
      const r = w.range;
      const lo = set.index(w.lower);
      const hi = set.index(r.upper, lo);
      if (r.mode === FINGERPRINT) {
        if (!w.differs && equal(set.fingerprint(lo, hi), r.fp)) continue;
        if (!this._fitsSplit(hi - lo, out.writer) || !out.writer.add(w.lower, this._split(lo, hi, r.upper))) {
          if (!this._defer(out, { lower: w.lower, range: r, differs: true }, lo)) break;
        }
      } else if (r.mode === ID_LIST && this.initiator) {
        this._diffList(w.lower, r, lo, hi, out);
      } else if (r.mode === ID_LIST) {
        this._noteGhosts(r, out);
        const rest = this._answer(w, lo, hi, out.writer);
        if (rest && !this._defer(out, rest, set.index(rest.lower))) break;
      } else if (r.mode === KNOWN) {
        this._noteGhosts(r, out);
      } else {
        this._applyDiff(r, lo, hi, out);
      }
    }
    return out;
  }

  // Keep `w` for a later reply; if too much waits, fold everything from `w` on into one
  // fingerprint for the peer to split again, and return false (stop).
  _defer(out, w, lo) {
    if (out.deferred.length < MAX_DEFERRED) { out.deferred.push(w); return true; }
    const fp = this.set.fingerprint(lo, this.set.length);
    out.writer.add(w.lower, [{ mode: FINGERPRINT, upper: INF, fp }], true);
    return false;
  }

  // False when a split of `count` items surely does not fit (saves hashing it).
  _fitsSplit(count, writer) {
    if (count < T) return writer.room() >= 3 + LIST_OVERHEAD + WORST_ENTRY * count;
    return writer.room() >= B * (3 + binSize(12));
  }

  // Our items [lo, hi) as a listing (ids, flags, times) for this peer.
  _listing(chosen) {
    const flags = Uint8Array.from(chosen, (item) => {
      let offer = this.describe(item);
      if (item.cls && offer === GHOST) offer = HELD; // expired meanwhile: never a class-1 ghost
      return (item.cls << 2) | offer;
    });
    return { ids: chosen.map((item) => item.id), flags,
      times: chosen.filter((_, i) => timed(flags[i])).map((item) => item.t) };
  }

  // A range holding our newest item, fresh items and at least T older ones: the older ones
  // go as one fingerprint and the fresh ones are split alone (§10.2 "Opening and splitting").
  _split(lo, hi, upper) {
    const items = this.set.items;
    const c = hi - lo;
    if (c < T) return [{ mode: ID_LIST, upper, ...this._listing(items.slice(lo, hi)) }];
    const cut = this._freshFrom();
    if (hi === items.length && cut < hi && cut - lo >= T) {
      return [{ mode: FINGERPRINT, upper: separate(items[cut - 1], items[cut]), fp: this.set.fingerprint(lo, cut) },
        ...this._split(cut, hi, upper)];
    }
    const k = buckets(c);
    const pieces = [];
    let start = lo;
    for (let j = 0; j < k; j++) {
      const end = start + Math.floor(c / k) + (j < c % k ? 1 : 0);
      const up = j === k - 1 ? upper : separate(items[end - 1], items[end]);
      pieces.push({ mode: FINGERPRINT, upper: up, fp: this.set.fingerprint(start, end) });
      start = end;
    }
    return pieces;
  }

  // The index of our first item created within FRESH of our newest.
  _freshFrom() {
    const items = this.set.items;
    if (this.fresh === undefined) {
      this.fresh = items.length
        ? this.set.index({ t: Math.max(items[items.length - 1].t - FRESH, 0), prefix: new Uint8Array(0) }) : 0;
    }
    return this.fresh;
  }

  // The peer's GHOST/HELD ids we do not hold at all: ghosts to be.
  _noteGhosts(listed, out) {
    let n = 0;
    listed.ids.forEach((id, i) => {
      if (!timed(listed.flags[i])) return;
      const t = listed.times[n++];
      if (!this.set.holds(t, id)) out.ghosts.set(key(id), { id, t });
    });
  }

  // Initiator: the responder's full list of a range against ours; then, if it fits, a KNOWN
  // range with our GHOST/HELD items whose ids the list does not name at all.
  _diffList(lower, listed, lo, hi, out) {
    const chosen = this.set.items.slice(lo, hi);
    this._compare(chosen, new Set(listedPairs(listed)), listed, out);
    const mine = this._listing(chosen);
    const named = new Set(listed.ids.map(key));
    const unknown = chosen.filter((item, i) => timed(mine.flags[i]) && !named.has(key(item.id)));
    if (unknown.length) {
      out.writer.add(lower, [{ mode: KNOWN, upper: listed.upper, ...this._listing(unknown) }]);
    }
  }

  _applyDiff(diff, lo, hi, out) {
    const k = hi - lo;
    if (diff.bitmap.length !== Math.ceil(k / 8)) throw new WireError('recon: ID_DIFF bitmap');
    if (k % 8 && diff.bitmap[diff.bitmap.length - 1] >> (k % 8)) throw new WireError('recon: bitmap bits');
    const chosen = this.set.items.slice(lo, hi);
    const held = chosen.filter((_, i) => !(diff.bitmap[i >> 3] & (1 << (i & 7)))); // by the peer
    this._compare(chosen, ourPairs(held), diff, out);
  }

  // Initiator: of our items `chosen`, those whose (id, class) is not in `theirs` are ours
  // only; of the peer's `listed` items, those we lack are theirs only (with the peer's flag).
  _compare(chosen, theirs, listed, out) {
    for (const item of chosen) if (!theirs.has(pairOf(item.id, item.cls))) out.have.set(key(item.id), item.id);
    const ours = ourPairs(chosen);
    listedPairs(listed).forEach((pair, i) => {
      const id = listed.ids[i];
      if (!ours.has(pair)) out.need.set(key(id), { id, flag: listed.flags[i] });
    });
    this._noteGhosts(listed, out);
  }

  // Responder: answer the initiator's id list; return the work left for a later reply.
  _answer(w, lo, hi, writer) {
    const listed = w.range;
    const items = this.set.items;
    const count = hi - lo;
    const room = writer.room();
    // Look at our items only when their difference could fit: the work stays bounded by the
    // reply size plus the peer's list, whatever the size of the range on our side.
    if (!w.stream && count <= listed.ids.length + Math.floor(room / WORST_ENTRY)) {
      const theirs = listedPairs(listed);
      const chosen = items.slice(lo, hi);
      const mine = ourPairs(chosen);
      const bitmap = new Uint8Array(Math.ceil(theirs.length / 8));
      let lacking = false;
      theirs.forEach((pair, i) => {
        if (!mine.has(pair)) { bitmap[i >> 3] |= 1 << (i & 7); lacking = true; }
      });
      const listedSet = new Set(theirs);
      const missing = chosen.filter((item) => !listedSet.has(pairOf(item.id, item.cls)));
      if (!lacking && !missing.length) return null; // the same items: a skip says it
      const diff = { mode: ID_DIFF, upper: listed.upper, bitmap, ...this._listing(missing) };
      if (writer.add(w.lower, [diff])) return null;
    }
    // Otherwise stream our items as id lists, which the initiator diffs chunk by chunk.
    const chunk = Math.min(count, Math.floor((room - 2 - WORST_BOUND - LIST_OVERHEAD) / WORST_ENTRY));
    if (chunk === count) {
      const whole = { mode: ID_LIST, upper: listed.upper, ...this._listing(items.slice(lo, hi)) };
      return writer.add(w.lower, [whole]) ? null : w;
    }
    if (chunk <= 0) return w;
    const bound = separate(items[lo + chunk - 1], items[lo + chunk]);
    writer.add(w.lower, [{ mode: ID_LIST, upper: bound, ...this._listing(items.slice(lo, lo + chunk)) }], true);
    return { lower: bound, range: { mode: ID_LIST, upper: listed.upper, ids: [], flags: new Uint8Array(0), times: [] },
      stream: true };
  }
}

// How many ranges to split `c` (>= T) items into: B, except for the last split before id
// lists, where fewer, cheaper ranges cost less (§10.2).
function buckets(c) {
  const fewest = Math.ceil(c / (T - 1));
  if (fewest > B) return B;
  return Math.max(fewest, Math.min(B, isqrt(Math.floor((16 * c) / TYPICAL_FINGERPRINT))));
}

function isqrt(n) {
  let x = Math.floor(Math.sqrt(n));
  while (x * x > n) x--;
  while ((x + 1) * (x + 1) <= n) x++;
  return x;
}
