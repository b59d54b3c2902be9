// Canonical MessagePack (docs/protocol.md §1): the encoder writes only the canonical form and
// the decoder refuses any other (it re-encodes what it parsed and compares the bytes).
// Values: integers as Number (BigInt above 2^53), Uint8Array as bin, string as str, Array,
// Map with integer keys (written in ascending order), null (only the Done frame's body).
// No floats, booleans or extension types.

export class WireError extends Error {}

const te = new TextEncoder();
const td = new TextDecoder('utf-8', { fatal: true });

export function encode(value) {
  const out = [];
  write(out, value);
  return Uint8Array.from(out);
}

function pushInt(out, n, bytes) {
  for (let i = bytes - 1; i >= 0; i--) out.push(Number((BigInt(n) >> BigInt(8 * i)) & 0xffn));
}

function writeInt(out, v) {
  const n = BigInt(v);
  if (n >= 0n) {
    if (n < 128n) out.push(Number(n));
    else if (n < 256n) { out.push(0xcc); pushInt(out, n, 1); }
    else if (n < 65536n) { out.push(0xcd); pushInt(out, n, 2); }
    else if (n < 4294967296n) { out.push(0xce); pushInt(out, n, 4); }
    else if (n < 2n ** 64n) { out.push(0xcf); pushInt(out, n, 8); }
    else throw new WireError('integer too large');
  } else {
    if (n >= -32n) out.push(Number(n & 0xffn));
    else if (n >= -128n) { out.push(0xd0); pushInt(out, n & 0xffn, 1); }
    else if (n >= -32768n) { out.push(0xd1); pushInt(out, n & 0xffffn, 2); }
    else if (n >= -2147483648n) { out.push(0xd2); pushInt(out, n & 0xffffffffn, 4); }
    else { out.push(0xd3); pushInt(out, n & 0xffffffffffffffffn, 8); }
  }
}

function writeLen(out, len, fix, fixMax, c8, c16, c32) {
  if (fix !== null && len <= fixMax) out.push(fix | len);
  else if (c8 !== null && len < 256) { out.push(c8, len); }
  else if (len < 65536) { out.push(c16); pushInt(out, len, 2); }
  else { out.push(c32); pushInt(out, len, 4); }
}

function write(out, v) {
  if (v === null) out.push(0xc0);
  else if (typeof v === 'number' || typeof v === 'bigint') {
    if (typeof v === 'number' && !Number.isInteger(v)) throw new WireError('no floats');
    writeInt(out, v);
  } else if (v instanceof Uint8Array) {
    writeLen(out, v.length, null, 0, 0xc4, 0xc5, 0xc6);
    for (const b of v) out.push(b);
  } else if (typeof v === 'string') {
    const b = te.encode(v);
    writeLen(out, b.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
    for (const x of b) out.push(x);
  } else if (Array.isArray(v)) {
    writeLen(out, v.length, 0x90, 15, null, 0xdc, 0xdd);
    for (const x of v) write(out, x);
  } else if (v instanceof Map) {
    const keys = [...v.keys()].sort((a, b) => a - b);
    writeLen(out, keys.length, 0x80, 15, null, 0xde, 0xdf);
    for (const k of keys) { writeInt(out, k); write(out, v.get(k)); }
  } else throw new WireError(`cannot encode ${typeof v}`);
}

// Decode one object from `data`, refusing trailing bytes and any non-canonical form.
export function decode(data, { maxItems = 4096 } = {}) {
  const r = { data, pos: 0, maxItems };
  const value = read(r, 0);
  if (r.pos !== data.length) throw new WireError('trailing bytes after the object');
  const again = encode(value);
  if (again.length !== data.length || !again.every((b, i) => b === data[i])) {
    throw new WireError('not in canonical encoding');
  }
  return value;
}

function need(r, n) {
  if (r.pos + n > r.data.length) throw new WireError('truncated');
}

function uint(r, n) {
  need(r, n);
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(r.data[r.pos + i]);
  r.pos += n;
  return v;
}

function num(v) {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}

function bytes(r, n) {
  need(r, n);
  const out = r.data.slice(r.pos, r.pos + n);
  r.pos += n;
  return out;
}

function items(r, n) {
  if (n > r.maxItems) throw new WireError('array or map longer than allowed');
  return n;
}

function read(r, depth) {
  if (depth > 32) throw new WireError('nesting too deep');
  need(r, 1);
  const t = r.data[r.pos++];
  if (t <= 0x7f) return t;
  if (t >= 0xe0) return t - 256;
  if ((t & 0xf0) === 0x80) return readMap(r, t & 0x0f, depth);
  if ((t & 0xf0) === 0x90) return readArray(r, t & 0x0f, depth);
  if ((t & 0xe0) === 0xa0) return td.decode(bytes(r, t & 0x1f));
  switch (t) {
    case 0xc0: return null;
    case 0xc4: return bytes(r, Number(uint(r, 1)));
    case 0xc5: return bytes(r, Number(uint(r, 2)));
    case 0xc6: return bytes(r, Number(uint(r, 4)));
    case 0xcc: return num(uint(r, 1));
    case 0xcd: return num(uint(r, 2));
    case 0xce: return num(uint(r, 4));
    case 0xcf: return num(uint(r, 8));
    case 0xd0: return num(BigInt.asIntN(8, uint(r, 1)));
    case 0xd1: return num(BigInt.asIntN(16, uint(r, 2)));
    case 0xd2: return num(BigInt.asIntN(32, uint(r, 4)));
    case 0xd3: return num(BigInt.asIntN(64, uint(r, 8)));
    case 0xd9: return td.decode(bytes(r, Number(uint(r, 1))));
    case 0xda: return td.decode(bytes(r, Number(uint(r, 2))));
    case 0xdb: return td.decode(bytes(r, Number(uint(r, 4))));
    case 0xdc: return readArray(r, Number(uint(r, 2)), depth);
    case 0xdd: return readArray(r, Number(uint(r, 4)), depth);
    case 0xde: return readMap(r, Number(uint(r, 2)), depth);
    case 0xdf: return readMap(r, Number(uint(r, 4)), depth);
    default: throw new WireError(`type byte 0x${t.toString(16)} is not allowed`);
  }
}

function readArray(r, n, depth) {
  items(r, n);
  const out = [];
  for (let i = 0; i < n; i++) out.push(read(r, depth + 1));
  return out;
}

function readMap(r, n, depth) {
  items(r, n);
  const out = new Map();
  let last = -Infinity;
  for (let i = 0; i < n; i++) {
    const k = read(r, depth + 1);
    if (typeof k !== 'number' || !Number.isInteger(k)) throw new WireError('map key is not an integer');
    if (k <= last) throw new WireError('map keys not strictly ascending');
    last = k;
    out.set(k, read(r, depth + 1));
  }
  return out;
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function compare(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

export const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
export const unhex = (s) => Uint8Array.from(s.match(/../g) || [], (x) => parseInt(x, 16));
export const utf8 = (s) => te.encode(s);
