// Messages (docs/protocol.md §2–§4): the envelope, signing and the Ed25519 verification rule
// of §3.1, message ids, and the bodies a resident's node makes and reads (post, announce, dm,
// receipt). Alerts and their chain are in alerts.js.

import { ed25519, sha256, sha512 } from '../vendor/crypto.js';
import { WireError, concat, decode, encode, equal, utf8 } from './msgpack.js';

export const Kind = { POST: 1, DM: 2, RECEIPT: 3, ANNOUNCE: 4, ALERT: 5, CERT: 6, REVOKE: 7 };
export const MAX_MESSAGE = 8192;
const MAX_BODY = { 1: 1280, 2: 4736, 3: 128, 4: 256, 5: 6144, 6: 2048, 7: 1024 };
const DAY = 86400;
const MAX_TTL = { 1: 7 * DAY, 2: 14 * DAY, 3: 14 * DAY, 4: 365 * DAY };
const MAX_TIME = 2 ** 40;
const SIG_DOMAIN = concat(utf8('meshnode/v1/sig'), Uint8Array.of(0));

export function signedBytes(version, kind, body) {
  return concat(SIG_DOMAIN, Uint8Array.of(version, kind), body);
}

export function messageId(msg) {
  return sha256(signedBytes(msg.version, msg.kind, msg.body)).slice(0, 16);
}

// --- Ed25519 as §3.1 says: weak keys refused, then cofactorless RFC 8032 --------------------

const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const SMALL_ORDER_Y = new Set([0n, 1n, P - 1n,
  0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n,
  0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7n]);

const le = (b) => b.reduceRight((n, x) => (n << 8n) | BigInt(x), 0n);

export function weakKey(key) {
  if (key.length !== 32) return true;
  const y = le(key) & ((1n << 255n) - 1n);
  return y >= P || SMALL_ORDER_Y.has(y);
}

export function verify(key, sig, data) {
  if (weakKey(key) || sig.length !== 64) return false;
  const s = le(sig.slice(32));
  if (s >= L) return false;
  try {
    const Point = ed25519.ExtendedPoint;
    const A = authorPoint(key);
    Point.fromHex(sig.slice(0, 32), false); // R must decode as a point
    const k = le(sha512(concat(sig.slice(0, 32), key, data))) % L;
    const lhs = s === 0n ? Point.ZERO : Point.BASE.multiply(s);
    // Variable time is fine here: a signature check handles only public values.
    const check = k === 0n ? lhs : lhs.subtract(A.multiplyUnsafe(k));
    return equal(check.toRawBytes(), sig.slice(0, 32));
  } catch {
    return false;
  }
}

// Decoded public keys by their bytes, each with a small table of its multiples: a sync brings
// many messages by each author, and [k]A was most of a JavaScript check (bounded, oldest
// out). Window 4: the table costs about eight multiplications' worth of additions and makes
// each later one several times cheaper. Only keys that decode are kept; the rest throw as
// before.
const points = new Map();

function authorPoint(key) {
  const name = key.join(',');
  let A = points.get(name);
  if (!A) {
    A = ed25519.ExtendedPoint.fromHex(key, false).precompute(4);
    if (points.size >= 1024) points.delete(points.keys().next().value);
    points.set(name, A);
  }
  return A;
}

export const publicKey = (seed) => ed25519.getPublicKey(seed);
export const sign = (seed, data) => ed25519.sign(data, seed);

// --- the envelope ---------------------------------------------------------------------------

export function encodeMessage(msg) {
  const routing = new Map([[1, msg.hops], [2, msg.copies]]);
  return encode([msg.version, msg.kind, msg.body, msg.sig, routing]);
}

export function decodeMessage(data) {
  if (data.length > MAX_MESSAGE) throw new WireError('message too large');
  const obj = decode(data, { maxItems: 8 });
  if (!Array.isArray(obj) || obj.length !== 5) throw new WireError('message: expected 5 fields');
  const [version, kind, body, sig, routing] = obj;
  if (version !== 1) throw new WireError('message.version: unsupported version');
  if (!(kind in MAX_BODY)) throw new WireError('message.kind: unknown kind');
  if (!(body instanceof Uint8Array) || body.length < 1 || body.length > MAX_BODY[kind]) {
    throw new WireError('message.body: bad length');
  }
  if (!(sig instanceof Uint8Array) || sig.length !== 64) throw new WireError('message.sig');
  if (!(routing instanceof Map) || routing.size !== 2 || !uintIn(routing.get(1), 0, 2 ** 32 - 1)
      || !uintIn(routing.get(2), 1, 2 ** 32 - 1)) throw new WireError('message.routing');
  return { version, kind, body, sig, hops: Math.min(routing.get(1), 32),
    copies: Math.min(routing.get(2), 64) };
}

function uintIn(v, lo, hi) {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

export function makeMessage(kind, bodyMap, seed, hops = 16, copies = 1) {
  const body = encode(bodyMap);
  const sig = sign(seed, signedBytes(1, kind, body));
  return { version: 1, kind, body, sig, hops, copies };
}

// --- bodies ---------------------------------------------------------------------------------

function fields(body, allowed) {
  const m = decode(body, { maxItems: 16 });
  if (!(m instanceof Map)) throw new WireError('body: expected a map');
  for (const k of m.keys()) if (!allowed.includes(k)) throw new WireError(`body: key ${k}`);
  return m;
}

function bin(m, k, size, optional = false) {
  const v = m.get(k);
  if (v === undefined && optional) return null;
  if (!(v instanceof Uint8Array) || v.length !== size) throw new WireError(`field ${k}: bin(${size})`);
  return v;
}

function uint(m, k) {
  const v = m.get(k);
  if (!uintIn(v, 0, MAX_TIME - 1)) throw new WireError(`field ${k}: time`);
  return v;
}

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

function text(m, k, lo, hi) {
  const v = m.get(k);
  if (typeof v !== 'string') throw new WireError(`field ${k}: text`);
  const n = utf8(v).length;
  if (n < lo || n > hi || CONTROL.test(v)) throw new WireError(`field ${k}: text rules`);
  return v;
}

function times(m, kind, ck, ek) {
  const created = uint(m, ck);
  const expires = uint(m, ek);
  if (expires <= created || expires - created > MAX_TTL[kind]) throw new WireError('lifetime');
  return { created, expires };
}

export const CHANNEL = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

export function readPost(body) {
  const m = fields(body, [1, 2, 3, 4, 5, 6]);
  const channel = text(m, 2, 1, 64);
  if (!CHANNEL.test(channel)) throw new WireError('post.channel');
  return { author: bin(m, 1, 32), channel, ...times(m, Kind.POST, 3, 4),
    text: text(m, 5, 1, 1024), replyTo: bin(m, 6, 16, true) };
}

const NAME_BAD = /[\t\n\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u200b\u2060-\u2064\ufeff]/;

export function readAnnounce(body) {
  const m = fields(body, [1, 2, 3, 4, 5]);
  const name = text(m, 3, 1, 64);
  if (NAME_BAD.test(name) || name.trim() !== name) throw new WireError('announce.name');
  return { signKey: bin(m, 1, 32), dhKey: bin(m, 2, 32), name, ...times(m, Kind.ANNOUNCE, 4, 5) };
}

export function readDm(body) {
  const m = fields(body, [1, 2, 3, 4, 5]);
  const sealed = m.get(5);
  if (!(sealed instanceof Uint8Array) || sealed.length < 240 || sealed.length > 4336
      || (sealed.length - 48) % 64) throw new WireError('dm.sealed');
  return { tag: bin(m, 1, 16), ...times(m, Kind.DM, 2, 3), ackKey: bin(m, 4, 32), sealed };
}

export function readReceipt(body) {
  const m = fields(body, [1, 2, 3, 4]);
  return { dmId: bin(m, 1, 16), ackKey: bin(m, 2, 32), ...times(m, Kind.RECEIPT, 3, 4) };
}

// The key a message of these kinds names and must verify with.
export function readBody(msg) {
  switch (msg.kind) {
    case Kind.POST: { const b = readPost(msg.body); return { body: b, key: b.author }; }
    case Kind.ANNOUNCE: { const b = readAnnounce(msg.body); return { body: b, key: b.signKey }; }
    case Kind.DM: { const b = readDm(msg.body); return { body: b, key: b.ackKey }; }
    case Kind.RECEIPT: { const b = readReceipt(msg.body); return { body: b, key: b.ackKey }; }
    default: throw new WireError('kind not handled by the browser node');
  }
}

// Decode, check the body's rules and the signature: the message, its body, its id.
export function validate(data) {
  const msg = decodeMessage(data);
  const { body, key } = readBody(msg);
  if (!verify(key, msg.sig, signedBytes(msg.version, msg.kind, msg.body))) {
    throw new WireError('bad signature');
  }
  return { msg, body, id: messageId(msg) };
}

// The browser's own Ed25519 (WebCrypto), where it has one: many times faster than the code
// above, which stays the reference and the fallback. It gets only what passed the §3.1
// pre-checks (no weak key, s < L); the rest is RFC 8032 cofactorless verification, as above
// (a native verifier compares the encoding of [s]B - [k]A with R, so an R that does not
// decode can never match). tests/web/test_app_browser.py runs the §3.1 vectors through it.
let native = globalThis.crypto && globalThis.crypto.subtle ? undefined : false;

// Imported keys by author: a sync brings many messages by each (bounded, oldest out).
const imported = new Map();

async function importedKey(key) {
  const name = key.join(',');
  let k = imported.get(name);
  if (!k) {
    k = await crypto.subtle.importKey('raw', key, { name: 'Ed25519' }, false, ['verify']);
    if (imported.size >= 1024) imported.delete(imported.keys().next().value);
    imported.set(name, k);
  }
  return k;
}

export async function verifyFast(key, sig, data) {
  if (weakKey(key) || sig.length !== 64 || le(sig.slice(32)) >= L) return false;
  if (native !== false) {
    try {
      const k = await importedKey(key);
      native = true;
      return await crypto.subtle.verify({ name: 'Ed25519' }, k, sig, data);
    } catch (e) {
      if (e && e.name === 'NotSupportedError' && native === undefined) native = false;
      else if (native === true) return false; // a key the browser refuses does not verify
    }
  }
  return verify(key, sig, data);
}

export const nativeEd25519 = () => native === true;

/** `validate`, with the signature checked by `verifyFast`. */
export async function validateFast(data) {
  const msg = decodeMessage(data);
  const { body, key } = readBody(msg);
  if (!(await verifyFast(key, msg.sig, signedBytes(msg.version, msg.kind, msg.body)))) {
    throw new WireError('bad signature');
  }
  return { msg, body, id: messageId(msg) };
}

const FP_DOMAIN = concat(utf8('meshnode/v1/fingerprint'), Uint8Array.of(0));
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function fingerprint(signKey) {
  const h = sha256(concat(FP_DOMAIN, signKey)).slice(0, 20);
  let bits = 0; let value = 0; let out = '';
  for (const b of h) {
    value = (value << 8) | b; bits += 8;
    while (bits >= 5) { out += B32[(value >>> (bits - 5)) & 31]; bits -= 5; }
  }
  return out.match(/.{4}/g).join(' ');
}

export const nodeId = (signKey) => sha256(signKey).slice(0, 16);
