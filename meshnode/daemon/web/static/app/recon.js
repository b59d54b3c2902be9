// Range-based set reconciliation (docs/protocol.md §10.2), both roles, sans-IO.
// Kept apart from the rest of the node: the item hash is one function (`itemHash`) and the
// message format lives only here.
//
// Items are {t: created (Number), id: Uint8Array(16)}, sorted by (t, id). This side splits as
// the reference does (b = 16, T = 32) but answers every ID_LIST as responder with its own ids
// as ID_LISTs (streamed in chunks when they do not fit), which §10.2 allows; replies stay
// within 4,096 bytes, deferring what does not fit (`more`).

import { sha256 } from '../vendor/crypto.js';
import { WireError, compare, concat, decode, encode, equal, utf8 } from './msgpack.js';

const ITEM_DOMAIN = utf8('meshnode/rbsr/item');
const FP_DOMAIN = utf8('meshnode/rbsr/fp');
const MOD = 1n << 128n;
const B = 16;
const T = 32;
const LIMIT = 4096;
const SPARE = 80;
const MAX_RANGES = 2048;
const MAX_MESSAGES = 256;
const SKIP = 0; const FINGERPRINT = 1; const ID_LIST = 2; const ID_DIFF = 3;
const INF = null; // the bound above every item
const MAX_TS = 2n ** 63n - 1n;

export function itemHash(id) {
  const h = sha256(concat(ITEM_DOMAIN, id));
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

// The smallest bound above p and not above c (p < c).
function separate(p, c) {
  if (p.t !== c.t) return { t: c.t, prefix: new Uint8Array(0) };
  let i = 0;
  while (i < 16 && p.id[i] === c.id[i]) i++;
  return { t: c.t, prefix: c.id.slice(0, i + 1) };
}

/** A sorted, fixed item set with prefix sums: any range's fingerprint in O(log n). */
export class ItemSet {
  constructor(items) {
    this.items = [...items].sort(compareItems);
    this.sums = [0n];
    let s = 0n;
    for (const item of this.items) { s = (s + itemHash(item.id)) % MOD; this.sums.push(s); }
  }

  get length() { return this.items.length; }

  // Index of the first item not below `bound`.
  index(bound) {
    if (bound === INF) return this.items.length;
    let lo = 0; let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (below(this.items[mid], bound)) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  fingerprint(a, b) { return fingerprintOf(this.sums[b] - this.sums[a], b - a); }
}

// --- messages ---------------------------------------------------------------------------------

function encodeMessage({ opening = false, ranges, more = false, since }) {
  const m = new Map();
  if (opening) m.set(1, 1);
  let prev = 0;
  const out = [];
  let lower = since;
  for (const r of ranges) {
    const row = [r.mode];
    if (r.upper === INF) row.push(0);
    else { row.push(r.upper.t - prev + 1); prev = r.upper.t; }
    if (r.mode === FINGERPRINT) row.push(r.fp);
    if (r.mode === ID_LIST) row.push(concat(...r.ids));
    if (r.upper !== INF && r.upper.prefix.length) row.push(r.upper.prefix);
    out.push(row);
    lower = r.upper;
  }
  if (out.length) m.set(3, out);
  if (more) m.set(4, 1);
  void lower;
  return encode(m);
}

function ids(raw) {
  if (!(raw instanceof Uint8Array) || raw.length % 16) throw new WireError('recon: ids');
  const out = [];
  for (let i = 0; i < raw.length; i += 16) out.push(raw.slice(i, i + 16));
  const seen = new Set(out.map((x) => x.join(',')));
  if (seen.size !== out.length) throw new WireError('recon: repeated id');
  return out;
}

function decodeMessage(data, since) {
  const m = decode(data, { maxItems: MAX_RANGES });
  if (!(m instanceof Map)) throw new WireError('recon: expected a map');
  for (const k of m.keys()) if (k < 1 || k > 4) throw new WireError('recon: unknown key');
  if (m.has(1) && m.get(1) !== 1) throw new WireError('recon: version');
  if (m.has(2)) throw new WireError('recon: since is not used by nodes');
  if (m.has(4) && m.get(4) !== 1) throw new WireError('recon: more');
  const rows = m.has(3) ? m.get(3) : [];
  if (!Array.isArray(rows) || (m.has(3) && rows.length === 0)) throw new WireError('recon: ranges');
  const ranges = [];
  let lower = since;
  let prev = 0n;
  for (const row of rows) {
    if (lower === INF) throw new WireError('recon: range after INFINITY');
    if (!Array.isArray(row) || row.length < 2) throw new WireError('recon: range');
    const [mode, dt] = row;
    const need = { [SKIP]: 2, [FINGERPRINT]: 3, [ID_LIST]: 3, [ID_DIFF]: 4 }[mode];
    if (need === undefined) throw new WireError('recon: unknown mode');
    if (typeof dt !== 'number' && typeof dt !== 'bigint') throw new WireError('recon: dt');
    let upper;
    if (BigInt(dt) === 0n) {
      if (row.length !== need) throw new WireError('recon: prefix on INFINITY');
      upper = INF;
    } else {
      if (row.length !== need && row.length !== need + 1) throw new WireError('recon: range length');
      const t = prev + BigInt(dt) - 1n;
      if (t > MAX_TS) throw new WireError('recon: timestamp');
      prev = t;
      let prefix = new Uint8Array(0);
      if (row.length === need + 1) {
        prefix = row[need];
        if (!(prefix instanceof Uint8Array) || prefix.length < 1 || prefix.length > 16
            || prefix[prefix.length - 1] === 0) throw new WireError('recon: prefix');
      }
      upper = { t: Number(t), prefix };
    }
    if (!boundLess(lower, upper)) throw new WireError('recon: bounds not increasing');
    const r = { mode, lower, upper };
    if (mode === FINGERPRINT) {
      if (!(row[2] instanceof Uint8Array) || row[2].length !== 12) throw new WireError('recon: fp');
      r.fp = row[2];
    } else if (mode === ID_LIST) r.ids = ids(row[2]);
    else if (mode === ID_DIFF) {
      if (!(row[2] instanceof Uint8Array)) throw new WireError('recon: bitmap');
      r.bitmap = row[2]; r.ids = ids(row[3]);
    }
    ranges.push(r);
    lower = upper;
  }
  return { opening: m.has(1), ranges, more: m.has(4) };
}

// --- a session ----------------------------------------------------------------------------------

const key = (id) => id.join(',');

/** One reconciliation session over a snapshot `set` (an ItemSet); `initiator` opens. After the
 *  end (`receive` returns null as initiator), `have` holds the ids the peer lacks and `need`
 *  the ids this side lacks (Uint8Arrays). */
export class Reconciler {
  constructor(set, initiator) {
    this.set = set;
    this.initiator = initiator;
    this.since = { t: 0, prefix: new Uint8Array(0) };
    this.pending = []; // units of work not yet answered, in bound order
    this.have = new Map();
    this.need = new Map();
    this.messages = 0;
    this.ended = false;
  }

  initiate() {
    if (!this.initiator) throw new Error('only the initiator opens');
    const a = 0; const b = this.set.length;
    const pieces = this._split(this.since, INF, a, b);
    return this._message(pieces, true, false);
  }

  /** The reply to `data` (bytes), or null: as initiator, the session is over. */
  receive(data) {
    if (this.ended) throw new WireError('recon: message after the end');
    if (++this.messages > MAX_MESSAGES) throw new WireError('recon: too many messages');
    const msg = decodeMessage(data, this.since);
    if (msg.more && !this.initiator) throw new WireError('recon: more from the initiator');
    if (msg.opening !== (!this.initiator && this.messages === 1)) {
      throw new WireError('recon: the opening comes first, from the initiator only');
    }
    for (const r of msg.ranges) {
      if (r.mode === SKIP) continue;
      if (r.mode === ID_DIFF && !this.initiator) throw new WireError('recon: ID_DIFF to responder');
      const a = this.set.index(r.lower); const b = this.set.index(r.upper);
      if (r.mode === ID_LIST && this.initiator) this._compare(r.ids, a, b);
      else if (r.mode === ID_DIFF) this._diff(r, a, b);
      else this.pending.push(r);
    }
    this.pending.sort((x, y) => (boundLess(x.lower, y.lower) ? -1 : 1));
    const pieces = this._work();
    if (this.initiator && !pieces.length && !msg.more && !this.pending.length) {
      this.ended = true;
      return null;
    }
    return this._message(pieces, false, !this.initiator && this.pending.length > 0);
  }

  get haveIds() { return [...this.have.values()]; }
  get needIds() { return [...this.need.values()]; }

  // Ours in [a, b) against the peer's full list of that range.
  _compare(theirs, a, b) {
    const mine = new Set();
    for (let i = a; i < b; i++) mine.add(key(this.set.items[i].id));
    const listed = new Set(theirs.map(key));
    for (let i = a; i < b; i++) {
      const id = this.set.items[i].id;
      if (!listed.has(key(id))) this.have.set(key(id), id);
    }
    for (const id of theirs) if (!mine.has(key(id))) this.need.set(key(id), id);
  }

  _diff(r, a, b) {
    const k = b - a;
    if (r.bitmap.length !== Math.ceil(k / 8)) throw new WireError('recon: ID_DIFF bitmap');
    for (let i = 0; i < k; i++) {
      if (r.bitmap[i >> 3] & (1 << (i & 7))) {
        const id = this.set.items[a + i].id; this.have.set(key(id), id);
      }
    }
    if (k % 8 && r.bitmap[r.bitmap.length - 1] >> (k % 8)) throw new WireError('recon: bitmap bits');
    for (const id of r.ids) this.need.set(key(id), id);
  }

  // Answer pending units while the reply has room; the rest wait (in order).
  _work() {
    const pieces = [];
    let size = 8;
    while (this.pending.length) {
      const r = this.pending[0];
      const a = this.set.index(r.lower); const b = this.set.index(r.upper);
      let answer;
      if (r.mode === FINGERPRINT) {
        answer = equal(this.set.fingerprint(a, b), r.fp) ? [] : this._split(r.lower, r.upper, a, b);
      } else { // an ID_LIST to the responder, or the rest of one being streamed
        const same = r.ids && b - a === r.ids.length
          && r.ids.every((id, i) => equal(id, this.set.items[a + i].id));
        if (same) answer = [];
        else {
          const room = Math.floor((LIMIT - SPARE - size - 40) / 16);
          if (b - a > room) {
            if (pieces.length && room < 8) break;
            const n = Math.max(1, room);
            const cut = separate(this.set.items[a + n - 1], this.set.items[a + n]);
            pieces.push({ mode: ID_LIST, lower: r.lower, upper: cut, ids: this._ids(a, a + n) });
            this.pending[0] = { mode: ID_LIST, lower: cut, upper: r.upper, ids: null };
            break;
          }
          answer = [{ mode: ID_LIST, lower: r.lower, upper: r.upper, ids: this._ids(a, b) }];
        }
      }
      const cost = answer.reduce((n, p) => n + 40 + (p.ids ? 16 * p.ids.length : 0), 0);
      if (pieces.length && size + cost > LIMIT - SPARE) break;
      size += cost;
      pieces.push(...answer);
      this.pending.shift();
    }
    if (this.pending.length + pieces.length > 4096) throw new WireError('recon: too much work');
    return pieces;
  }

  _ids(a, b) {
    const out = [];
    for (let i = a; i < b; i++) out.push(this.set.items[i].id);
    return out;
  }

  // The pieces this side sends for a range holding its items [a, b).
  _split(lower, upper, a, b) {
    const c = b - a;
    if (c < T) return [{ mode: ID_LIST, lower, upper, ids: this._ids(a, b) }];
    const fewest = Math.ceil(c / (T - 1));
    const k = fewest > B ? B : Math.max(fewest, Math.min(B, isqrt(Math.floor((16 * c) / 18))));
    const pieces = [];
    let start = a; let low = lower;
    for (let j = 0; j < k; j++) {
      const n = Math.floor(c / k) + (j < c % k ? 1 : 0);
      const end = start + n;
      const up = j === k - 1 ? upper : separate(this.set.items[end - 1], this.set.items[end]);
      pieces.push({ mode: FINGERPRINT, lower: low, upper: up, fp: this.set.fingerprint(start, end) });
      start = end; low = up;
    }
    return pieces;
  }

  // Contiguous ranges from `since`: SKIPs fill the gaps between pieces.
  _message(pieces, opening, more) {
    const ranges = [];
    let cursor = this.since;
    for (const p of pieces) {
      if (boundLess(cursor, p.lower)) ranges.push({ mode: SKIP, upper: p.lower });
      ranges.push(p);
      cursor = p.upper;
    }
    return encodeMessage({ opening, ranges, more, since: this.since });
  }
}

function isqrt(n) {
  let x = Math.floor(Math.sqrt(n));
  while (x * x > n) x--;
  while ((x + 1) * (x + 1) <= n) x++;
  return x;
}
