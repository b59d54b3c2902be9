// An independent meshnode peer, written clean-room from docs/protocol.md alone (no code of
// this repository was read to write it). Node.js 20, standard library only.
//
// Usage:
//   node peer.mjs selftest V1_JSON [LINK_V2_JSON]
//       checks the codec, signatures, HPKE, must-refuse messages, the alert geometry, the
//       references of Updates and Cancels (§6.5 step 9) and the reconciliation sessions
//       (ghosts, KNOWN ranges) against tests/vectors/v1.json, and the
//       BLE advert/TOKEN/INFO values against link_v2.json
//   node peer.mjs serve --listen HOST:PORT [--root ROOT_PUB] [--role responder|initiator]
//       a listening peer for `meshnode conformance` (docs/conformance.md)
//   node peer.mjs run --daemon HOST:PORT --api SOCKET [--posts N] [--timeout S]
//       fills the daemon with N posts through its local API, links with it over UDP (§13),
//       reconciles (§10), posts, exchanges a DM each way with receipts, relinks and reconciles
//       again; prints one JSON line of results and exits 0 when every step succeeded.
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import fs from 'node:fs';

// ---------------------------------------------------------------- msgpack (canonical, §1)

class Bin { constructor(b) { this.b = Buffer.from(b); } }
const bin = (b) => new Bin(b);

function encode(v) {
  const out = [];
  enc(v, out);
  return Buffer.concat(out);
}

function encUint(n, out) {
  n = BigInt(n);
  if (n < 0n) throw new Error('negative');
  if (n < 128n) out.push(Buffer.from([Number(n)]));
  else if (n < 256n) out.push(Buffer.from([0xcc, Number(n)]));
  else if (n < 65536n) { const b = Buffer.alloc(3); b[0] = 0xcd; b.writeUInt16BE(Number(n), 1); out.push(b); }
  else if (n < 4294967296n) { const b = Buffer.alloc(5); b[0] = 0xce; b.writeUInt32BE(Number(n), 1); out.push(b); }
  else { const b = Buffer.alloc(9); b[0] = 0xcf; b.writeBigUInt64BE(n, 1); out.push(b); }
}

function encLen(n, fix, fixMax, c16, c32, out, c8) {
  if (n <= fixMax && fix !== null) out.push(Buffer.from([fix | n]));
  else if (c8 !== undefined && n < 256) out.push(Buffer.from([c8, n]));
  else if (n < 65536) { const b = Buffer.alloc(3); b[0] = c16; b.writeUInt16BE(n, 1); out.push(b); }
  else { const b = Buffer.alloc(5); b[0] = c32; b.writeUInt32BE(n, 1); out.push(b); }
}

function enc(v, out) {
  if (v === null) out.push(Buffer.from([0xc0]));
  else if (typeof v === 'number' || typeof v === 'bigint') {
    if (typeof v === 'number' && !Number.isInteger(v)) throw new Error('float');
    if (v < 0) {
      const n = BigInt(v);
      if (n >= -32n) out.push(Buffer.from([Number(n) & 0xff]));
      else if (n >= -128n) out.push(Buffer.from([0xd0, Number(n) & 0xff]));
      else if (n >= -32768n) { const b = Buffer.alloc(3); b[0] = 0xd1; b.writeInt16BE(Number(n), 1); out.push(b); }
      else if (n >= -2147483648n) { const b = Buffer.alloc(5); b[0] = 0xd2; b.writeInt32BE(Number(n), 1); out.push(b); }
      else { const b = Buffer.alloc(9); b[0] = 0xd3; b.writeBigInt64BE(n, 1); out.push(b); }
    } else encUint(v, out);
  } else if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    encLen(b.length, 0xa0, 31, 0xda, 0xdb, out, 0xd9);
    out.push(b);
  } else if (v instanceof Bin || Buffer.isBuffer(v)) {
    const b = v instanceof Bin ? v.b : v;
    encLen(b.length, null, -1, 0xc5, 0xc6, out, 0xc4);
    out.push(b);
  } else if (Array.isArray(v)) {
    encLen(v.length, 0x90, 15, 0xdc, 0xdd, out);
    for (const x of v) enc(x, out);
  } else if (v instanceof Map || typeof v === 'object') {
    const entries = v instanceof Map ? [...v.entries()] : Object.entries(v).map(([k, x]) => [Number(k), x]);
    const present = entries.filter(([, x]) => x !== undefined).sort((a, b) => a[0] - b[0]);
    encLen(present.length, 0x80, 15, 0xde, 0xdf, out);
    for (const [k, x] of present) { enc(k, out); enc(x, out); }
  } else throw new Error('cannot encode ' + typeof v);
}

// Decodes one value; maps become Map with integer keys; bin becomes Buffer; uint64 beyond
// 2^53 becomes BigInt. Depth is bounded (§7: refuse beyond 8 levels).
function decode(buf) {
  let pos = 0;
  const need = (n) => { if (pos + n > buf.length) throw new Error('truncated'); };
  function rd(depth) {
    if (depth > 8) throw new Error('too deep');
    need(1);
    const c = buf[pos++];
    if (c < 0x80) return c;
    if (c >= 0xe0) return c - 256;
    if ((c & 0xf0) === 0x80) return map(c & 0x0f, depth);
    if ((c & 0xf0) === 0x90) return arr(c & 0x0f, depth);
    if ((c & 0xe0) === 0xa0) return str(c & 0x1f);
    switch (c) {
      case 0xc0: return null;
      case 0xc4: need(1); return bytes(buf[pos++]);
      case 0xc5: need(2); pos += 2; return bytes(buf.readUInt16BE(pos - 2));
      case 0xc6: need(4); pos += 4; return bytes(buf.readUInt32BE(pos - 4));
      case 0xcc: need(1); return buf[pos++];
      case 0xcd: need(2); pos += 2; return buf.readUInt16BE(pos - 2);
      case 0xce: need(4); pos += 4; return buf.readUInt32BE(pos - 4);
      case 0xcf: { need(8); pos += 8; const n = buf.readBigUInt64BE(pos - 8); return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n; }
      case 0xd0: need(1); pos += 1; return buf.readInt8(pos - 1);
      case 0xd1: need(2); pos += 2; return buf.readInt16BE(pos - 2);
      case 0xd2: need(4); pos += 4; return buf.readInt32BE(pos - 4);
      case 0xd3: { need(8); pos += 8; const n = buf.readBigInt64BE(pos - 8); return Number(n); }
      case 0xd9: need(1); return str(buf[pos++]);
      case 0xda: need(2); pos += 2; return str(buf.readUInt16BE(pos - 2));
      case 0xdb: need(4); pos += 4; return str(buf.readUInt32BE(pos - 4));
      case 0xdc: need(2); pos += 2; return arr(buf.readUInt16BE(pos - 2), depth);
      case 0xdd: need(4); pos += 4; return arr(buf.readUInt32BE(pos - 4), depth);
      case 0xde: need(2); pos += 2; return map(buf.readUInt16BE(pos - 2), depth);
      case 0xdf: need(4); pos += 4; return map(buf.readUInt32BE(pos - 4), depth);
      default: throw new Error('refused type 0x' + c.toString(16));
    }
  }
  function bytes(n) { need(n); pos += n; return Buffer.from(buf.subarray(pos - n, pos)); }
  function str(n) { need(n); pos += n; return new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(pos - n, pos)); }
  function arr(n, depth) { if (n > buf.length - pos) throw new Error('array too long'); const a = []; for (let i = 0; i < n; i++) a.push(rd(depth + 1)); return a; }
  function map(n, depth) {
    if (n > buf.length - pos) throw new Error('map too long');
    const m = new Map();
    for (let i = 0; i < n; i++) { const k = rd(depth + 1); if (typeof k !== 'number') throw new Error('map key'); m.set(k, rd(depth + 1)); }
    return m;
  }
  const v = rd(1);
  if (pos !== buf.length) throw new Error('trailing bytes');
  return v;
}

// Re-encodes a decoded value (Buffers as bin) to check canonical form.
function reencode(v) {
  if (Buffer.isBuffer(v)) return bin(v);
  if (Array.isArray(v)) return v.map(reencode);
  if (v instanceof Map) return new Map([...v.entries()].map(([k, x]) => [k, reencode(x)]));
  return v;
}
function decodeCanonical(buf) {
  const v = decode(buf);
  if (!encode(reencode(v)).equals(buf)) throw new Error('not canonical');
  return v;
}

// ---------------------------------------------------------------- keys and signatures

const sha256 = (...parts) => crypto.createHash('sha256').update(Buffer.concat(parts)).digest();
const hmac = (key, ...parts) => crypto.createHmac('sha256', key).update(Buffer.concat(parts)).digest();
const ascii = (s) => Buffer.from(s, 'ascii');
const Z = Buffer.from([0]);

function edFromSeed(seed) {
  const priv = crypto.createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
  const pub = crypto.createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(-32);
  return { seed, priv, pub: Buffer.from(pub) };
}
function xFromSeed(seed) {
  const priv = crypto.createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
  const pub = crypto.createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(-32);
  return { seed, priv, pub: Buffer.from(pub) };
}
const edPub = (raw) => crypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });
const xPub = (raw) => crypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), raw]), format: 'der', type: 'spki' });
const edSign = (kp, msg) => crypto.sign(null, msg, kp.priv);
const x25519 = (kp, pubRaw) => crypto.diffieHellman({ privateKey: kp.priv, publicKey: xPub(pubRaw) });

// §3.1: refuse non-canonical and small-order keys, then OpenSSL's RFC 8032 verification.
const P = (1n << 255n) - 19n;
const SMALL_Y = [0n, 1n, P - 1n,
  0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n,
  0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7n];
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const leInt = (b) => BigInt('0x' + (Buffer.from(b).reverse().toString('hex') || '0'));
function edVerify(pubRaw, msg, sig) {
  if (pubRaw.length !== 32 || sig.length !== 64) return false;
  const k = Buffer.from(pubRaw); k[31] &= 0x7f;
  const y = leInt(k);
  if (y >= P || SMALL_Y.includes(y)) return false;
  if (leInt(sig.subarray(32)) >= L) return false;
  try { return crypto.verify(null, msg, edPub(pubRaw), sig); } catch { return false; }
}

const signedBytes = (kind, body) => Buffer.concat([ascii('meshnode/v1/sig'), Z, Buffer.from([1, kind]), body]);
const msgId = (kind, body) => sha256(signedBytes(kind, body)).subarray(0, 16);

function envelope(kind, body, key, hops, copies) {
  return encode([1, kind, bin(body), bin(edSign(key, signedBytes(kind, body))), { 1: hops, 2: copies }]);
}


// ---------------------------------------------------------------- body validation (§1.1, §2, §4, §7)

class WireError extends Error { constructor(field, rule) { super(`${field}: ${rule}`); this.field = field; } }
const BAD_TEXT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/u;
const BAD_NAME = /[\t\n\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u200b\u2060-\u2064\ufeff]/u;
const WS = /^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;
const utf8len = (t) => Buffer.byteLength(t, 'utf8');
const isUint = (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0) || typeof v === 'bigint';
function text(field, v, min, max, name = false) {
  if (typeof v !== 'string') throw new WireError(field, 'not text');
  const n = utf8len(v);
  if (n < min || n > max) throw new WireError(field, 'length');
  if (BAD_TEXT.test(v)) throw new WireError(field, 'control character');
  if (name && (BAD_NAME.test(v) || WS.test(v))) throw new WireError(field, 'not a name');
}
function bytes(field, v, len) { if (!Buffer.isBuffer(v) || (len !== undefined && v.length !== len)) throw new WireError(field, 'bytes'); }
function time(field, v) { if (!isUint(v) || v >= 2 ** 40) throw new WireError(field, 'time'); }
function keys(kind, m, required, optional = []) {
  for (const k of m.keys()) if (!required.includes(k) && !optional.includes(k)) throw new WireError(kind, 'unknown key ' + k);
  for (const k of required) if (!m.has(k)) throw new WireError(kind, 'missing key ' + k);
}
function lifetime(kind, created, expires, max) {
  if (expires <= created || expires - created > max) throw new WireError(kind + '.expires', 'lifetime');
}
const VALIDATE = {
  1(m) {
    keys('post', m, [1, 2, 3, 4, 5], [6, 7]);
    bytes('post.author', m.get(1), 32);
    const ch = m.get(2);
    if (typeof ch !== 'string' || !/^[a-z0-9][a-z0-9\-_.]{0,63}$/.test(ch)) throw new WireError('post.channel', 'channel');
    time('post.created', m.get(3)); time('post.expires', m.get(4));
    lifetime('post', m.get(3), m.get(4), 7 * DAY);
    text('post.text', m.get(5), 1, 1024);
    if (m.has(6)) bytes('post.reply_to', m.get(6), 16);
    if (m.has(7)) bytes('post.stamp', m.get(7), 8);
  },
  2(m) {
    keys('dm', m, [1, 2, 3, 4, 5], [6]);
    bytes('dm.tag', m.get(1), 16); time('dm.created', m.get(2)); time('dm.expires', m.get(3));
    lifetime('dm', m.get(2), m.get(3), 14 * DAY);
    bytes('dm.ack_key', m.get(4), 32); bytes('dm.sealed', m.get(5));
    const n = m.get(5).length;
    if (n < 240 || n > 4336 || (n - 48) % 64) throw new WireError('dm.sealed', 'length');
    if (m.has(6)) bytes('dm.stamp', m.get(6), 8);
  },
  3(m) {
    keys('receipt', m, [1, 2, 3, 4]);
    bytes('receipt.dm_id', m.get(1), 16); bytes('receipt.ack_key', m.get(2), 32);
    time('receipt.created', m.get(3)); time('receipt.expires', m.get(4));
    lifetime('receipt', m.get(3), m.get(4), 14 * DAY);
  },
  4(m) {
    keys('announce', m, [1, 2, 3, 4, 5], [6]);
    bytes('announce.sign_key', m.get(1), 32); bytes('announce.dh_key', m.get(2), 32);
    text('announce.name', m.get(3), 1, 64, true);
    time('announce.created', m.get(4)); time('announce.expires', m.get(5));
    lifetime('announce', m.get(4), m.get(5), 365 * DAY);
    if (m.has(6)) bytes('announce.stamp', m.get(6), 8);
  },
};
const MAX_BODY = { 1: 1280, 2: 4736, 3: 128, 4: 256, 5: 6144, 6: 2048, 7: 1024 };

// Parses and verifies an envelope (§2, §3); returns {kind, body, fields, id, routing}.
const SIGNER = { 1: 1, 2: 4, 3: 2, 4: 1 }; // kind -> body key naming the verifying key
function openEnvelope(raw) {
  if (raw.length > 8192) throw new WireError('message', 'too long');
  let m;
  try { m = decodeCanonical(raw); } catch (e) { throw new WireError('message', e.message); }
  if (!Array.isArray(m) || m.length !== 5) throw new WireError('message', 'not an envelope');
  const [version, kind, body, sig, routing] = m;
  if (version !== 1) throw new WireError('message.version', 'unsupported version');
  if (!MAX_BODY[kind]) throw new WireError('message.kind', 'unknown kind');
  if (!Buffer.isBuffer(body) || body.length < 1 || body.length > MAX_BODY[kind]) throw new WireError('message.body', 'length');
  if (!Buffer.isBuffer(sig) || sig.length !== 64) throw new WireError('message.sig', 'length');
  if (!(routing instanceof Map) || routing.size !== 2) throw new WireError('message.routing', 'keys');
  for (const k of [1, 2]) if (!isUint(routing.get(k))) throw new WireError(k === 1 ? 'message.routing.hops_left' : 'message.routing.copies', 'uint');
  if (routing.get(2) < 1) throw new WireError('message.routing.copies', 'range');
  routing.set(1, Math.min(Number(routing.get(1)), 32)); routing.set(2, Math.min(Number(routing.get(2)), 64));
  const kindName = { 1: 'post', 2: 'dm', 3: 'receipt', 4: 'announce', 5: 'alert', 6: 'cert', 7: 'revoke' }[kind];
  let fields;
  try { fields = decodeCanonical(body); } catch (e) { throw new WireError(kindName, e.message); }
  if (!(fields instanceof Map)) throw new WireError(kindName, 'not a map');
  VALIDATE[kind]?.(fields);
  const signer = SIGNER[kind];
  if (signer === undefined) return { kind, body, fields, id: msgId(kind, body), routing, verified: false };
  if (!edVerify(fields.get(signer), signedBytes(kind, body), sig)) throw new Error('bad signature');
  return { kind, body, fields, id: msgId(kind, body), routing, verified: true };
}

// ---------------------------------------------------------------- HPKE (RFC 9180), §5

function hkdfExtract(salt, ikm) { return hmac(salt.length ? salt : Buffer.alloc(32), ikm); }
function hkdfExpand(prk, info, len) {
  let t = Buffer.alloc(0); const out = [];
  for (let i = 1; Buffer.concat(out).length < len; i++) { t = hmac(prk, t, info, Buffer.from([i])); out.push(t); }
  return Buffer.concat(out).subarray(0, len);
}
const i2osp = (n, w) => { const b = Buffer.alloc(w); b.writeUIntBE(n, 0, w); return b; };
const KEM_SUITE = Buffer.concat([ascii('KEM'), i2osp(0x20, 2)]);
const HPKE_SUITE = Buffer.concat([ascii('HPKE'), i2osp(0x20, 2), i2osp(1, 2), i2osp(3, 2)]);
const labeledExtract = (suite, salt, label, ikm) => hkdfExtract(salt, Buffer.concat([ascii('HPKE-v1'), suite, ascii(label), ikm]));
const labeledExpand = (suite, prk, label, info, len) => hkdfExpand(prk, Buffer.concat([i2osp(len, 2), ascii('HPKE-v1'), suite, ascii(label), info]), len);
function kemShared(dh, enc, pkR) {
  const prk = labeledExtract(KEM_SUITE, Buffer.alloc(0), 'eae_prk', dh);
  return labeledExpand(KEM_SUITE, prk, 'shared_secret', Buffer.concat([enc, pkR]), 32);
}
function keySchedule(shared, info) {
  const e = Buffer.alloc(0);
  const ctx = Buffer.concat([Buffer.from([0]), labeledExtract(HPKE_SUITE, e, 'psk_id_hash', e), labeledExtract(HPKE_SUITE, e, 'info_hash', info)]);
  const secret = labeledExtract(HPKE_SUITE, shared, 'secret', e);
  return { key: labeledExpand(HPKE_SUITE, secret, 'key', ctx, 32), nonce: labeledExpand(HPKE_SUITE, secret, 'base_nonce', ctx, 12) };
}
function hpkeSeal(pkR, info, pt) {
  const eph = xFromSeed(crypto.randomBytes(32));
  const { key, nonce } = keySchedule(kemShared(x25519(eph, pkR), eph.pub, pkR), info);
  const c = crypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  c.setAAD(Buffer.alloc(0));
  return Buffer.concat([eph.pub, c.update(pt), c.final(), c.getAuthTag()]);
}
function hpkeOpen(kpR, info, sealed) {
  const enc = sealed.subarray(0, 32);
  const { key, nonce } = keySchedule(kemShared(x25519(kpR, enc), enc, kpR.pub), info);
  const d = crypto.createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  d.setAAD(Buffer.alloc(0));
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([d.update(sealed.subarray(32, sealed.length - 16)), d.final()]);
}

// ---------------------------------------------------------------- identity and messages (§4, §5)

const DAY = 86400;
function pairTag(myDh, peerDh, recipientDh, created) {
  const secret = x25519(myDh, peerDh);
  if (secret.equals(Buffer.alloc(32))) throw new Error('all-zero X25519 secret');
  return hmac(secret, ascii('meshnode/v2/pair-tag'), Z, recipientDh, i2osp(Math.floor(created / DAY), 4)).subarray(0, 16);
}

function makePost(me, channel, text, created) {
  const body = encode({ 1: bin(me.sign.pub), 2: channel, 3: created, 4: created + 7 * DAY, 5: text });
  return envelope(1, body, me.sign, 16, 1);
}
function makeAnnounce(me, name, created) {
  const body = encode({ 1: bin(me.sign.pub), 2: bin(me.dh.pub), 3: name, 4: created, 5: created + 365 * DAY });
  return envelope(4, body, me.sign, 16, 1);
}

function padPlaintext(fields) {
  const base = encode(fields).length;
  const pad = (((-(base + 3)) % 64) + 64) % 64;
  return encode({ ...fields, 6: bin(Buffer.alloc(pad)) });
}

function sealDm(me, recipient, text, created) {
  const expires = created + 14 * DAY;
  const ack = edFromSeed(crypto.randomBytes(32));
  const tag = pairTag(me.dh, recipient.dh, recipient.dh, created);
  const inner = edSign(me.sign, Buffer.concat([ascii('meshnode/v1/dm-inner'), Z,
    encode([bin(recipient.dh), bin(ack.pub), created, expires, text])]));
  const pt = padPlaintext({ 1: bin(me.sign.pub), 2: bin(me.dh.pub), 3: text, 4: bin(ack.seed), 5: bin(inner) });
  const info = Buffer.concat([ascii('meshnode/v1/dm'), Z, encode([bin(tag), created, expires, bin(ack.pub)])]);
  const sealed = hpkeSeal(recipient.dh, info, pt);
  const body = encode({ 1: bin(tag), 2: created, 3: expires, 4: bin(ack.pub), 5: bin(sealed) });
  return envelope(2, body, ack, 16, 1);
}

// Opens a DM addressed to `me`; returns null on any failure (§5 "every failure is the same").
function openDm(me, fields) {
  try {
    const [tag, created, expires, ackKey, sealed] = [1, 2, 3, 4, 5].map((k) => fields.get(k));
    const info = Buffer.concat([ascii('meshnode/v1/dm'), Z, encode([bin(tag), created, expires, bin(ackKey)])]);
    const pt = hpkeOpen(me.dh, info, sealed);
    const m = decode(pt);
    const [sk, dk, text, ackSeed, innerSig] = [1, 2, 3, 4, 5].map((k) => m.get(k));
    if (!edFromSeed(ackSeed).pub.equals(ackKey)) return null;
    const inner = Buffer.concat([ascii('meshnode/v1/dm-inner'), Z, encode([bin(me.dh.pub), bin(ackKey), created, expires, text])]);
    if (!edVerify(sk, inner, innerSig)) return null;
    const expect = padPlaintext({ 1: bin(sk), 2: bin(dk), 3: text, 4: bin(ackSeed), 5: bin(innerSig) });
    if (!expect.equals(pt)) return null;
    return { from: sk, fromDh: dk, text, ack: edFromSeed(ackSeed), created };
  } catch { return null; }
}

function makeReceipt(dmId, ack, created) {
  const body = encode({ 1: bin(dmId), 2: bin(ack.pub), 3: created, 4: created + 7 * DAY });
  return envelope(3, body, ack, 3, 1);
}

// ---------------------------------------------------------------- reconciliation (§10.2)

const itemH = (id, cls) => leInt(sha256(ascii('meshnode/rbsr/item'), id, Buffer.from([cls])).subarray(0, 16));
function fingerprint(items) {
  let s = 0n;
  for (const it of items) s = (s + it.h) & ((1n << 128n) - 1n);
  const sb = Buffer.from(s.toString(16).padStart(32, '0'), 'hex').reverse();
  const cb = Buffer.alloc(8); cb.writeBigUInt64LE(BigInt(items.length));
  return sha256(ascii('meshnode/rbsr/fp'), sb, cb).subarray(0, 12);
}
const INF = { ts: Infinity, prefix: Buffer.alloc(0) };
function cmpBound(created, id, b) { // item (created,id) vs bound: <0 below
  if (b.ts === Infinity) return -1;
  if (created !== b.ts) return created < b.ts ? -1 : 1;
  const c = Buffer.compare(id.subarray(0, b.prefix.length), b.prefix);
  if (c !== 0) return c;
  return id.length > b.prefix.length ? 1 : 0; // id equal on prefix and longer: id >= prefix
}
const below = (it, b) => cmpBound(it.created, it.id, b) < 0;
function inRange(items, lo, hi) { return items.filter((it) => !below(it, lo) && below(it, hi)); }
function minimalBound(p, c) {
  if (p.created !== c.created) return { ts: c.created, prefix: Buffer.alloc(0) };
  let i = 0; while (p.id[i] === c.id[i]) i++;
  return { ts: c.created, prefix: Buffer.from(c.id.subarray(0, i + 1)) };
}
function sortItems(items) {
  return items.sort((a, b) => (a.created - b.created) || Buffer.compare(a.id, b.id));
}
const isqrt = (n) => Math.floor(Math.sqrt(n));

// Builds a message's ranges; `prev` carries the previous bound's timestamp.
class RangeWriter {
  constructor() { this.ranges = []; this.prevTs = 0; this.pendingSkip = null; }
  _bound(hi) {
    if (hi.ts === Infinity) return { dt: 0, tail: [] };
    const dt = hi.ts - this.prevTs + 1; this.prevTs = hi.ts;
    return { dt, tail: hi.prefix.length ? [bin(hi.prefix)] : [] };
  }
  skip(hi) { this.pendingSkip = hi; }
  _flush() { if (this.pendingSkip) { const b = this._bound(this.pendingSkip); this.ranges.push([0, b.dt, ...b.tail]); this.pendingSkip = null; } }
  add(mode, hi, payload) { this._flush(); const b = this._bound(hi); this.ranges.push([mode, b.dt, ...payload, ...b.tail]); }
}

const FADE_AFTER = 7200; // §10.2 "Class": how long a flooded item stays class 1
const FLAG_GHOST = 0, FLAG_HELD = 1, FLAG_DEAD = 2, FLAG_LIVE = 3;
// Class 1 items can go on (GIVES_LIVE); faded ones (§10.2 "Class", fading) still go, as class
// 0 (GIVES_DEAD); ghosts are flagged GHOST, other class-0 items HELD, both with their times
// (§10.2 "Flags and times").
const flagOf = (i) => (i.ghost ? FLAG_GHOST : i.cls ? (1 << 2) | FLAG_LIVE : i.faded ? FLAG_DEAD : FLAG_HELD);
const timed = (i) => !i.cls && !i.faded; // flagged GHOST or HELD
function idListPayload(items) {
  return [bin(Buffer.concat(items.map((i) => i.id))),
    bin(Buffer.from(items.map(flagOf))),
    items.filter(timed).map((i) => i.created)];
}
function splitInto(w, items, hi) {
  const c = items.length;
  if (c < 32) { w.add(2, hi, idListPayload(items)); return; }
  const fewest = Math.ceil(c / 31);
  const k = fewest > 16 ? 16 : Math.max(fewest, Math.min(16, isqrt(Math.floor(16 * c / 18))));
  let start = 0;
  for (let j = 0; j < k; j++) {
    const n = Math.floor(c / k) + (j < c % k ? 1 : 0);
    const piece = items.slice(start, start + n);
    start += n;
    const b = j === k - 1 ? hi : minimalBound(items[start - 1], items[start]);
    w.add(1, b, [bin(fingerprint(piece))]);
  }
}

// Parses a Recon payload into ranges with explicit lower/upper bounds.
function parseRecon(payload) {
  const m = decodeCanonical(payload);
  let lo = { ts: m.get(2) ?? 0, prefix: Buffer.alloc(0) };
  let prevTs = 0; const out = [];
  for (const r of m.get(3) ?? []) {
    const mode = r[0], dt = r[1];
    const arity = { 0: 2, 1: 3, 2: 5, 3: 6, 4: 5 }[mode];
    if (arity === undefined || (r.length !== arity && r.length !== arity + 1)) throw new Error('range arity');
    let hi;
    if (dt === 0) hi = INF; else { prevTs = prevTs + dt - 1; hi = { ts: prevTs, prefix: r.length === arity + 1 ? r[arity] : Buffer.alloc(0) }; }
    out.push({ mode, lo, hi, args: r.slice(2, arity) });
    lo = hi;
  }
  return { version: m.get(1), more: m.get(4) === 1, ranges: out };
}
function listed(ids, flags, times) {
  const out = []; let t = 0;
  for (let i = 0; i < flags.length; i++) {
    const f = flags[i];
    const it = { id: Buffer.from(ids.subarray(16 * i, 16 * i + 16)), cls: (f >> 2) & 1, give: f & 3 };
    if (it.give < 2) it.created = times[t++];
    out.push(it);
  }
  return out;
}
const key = (id, cls) => id.toString('hex') + ':' + cls;

class Reconciler {
  constructor(items, initiator) {
    this.items = sortItems(items.map((i) => ({ ...i, h: itemH(i.id, i.cls) })));
    this.initiator = initiator;
    this.theirsOnly = new Map(); // id hex -> {id, cls, give}
    this.oursOnly = new Map();
    this.ids = new Set(this.items.map((i) => i.id.toString('hex')));
    // §10.2: ids the peer flags GHOST or HELD that we hold neither as a message nor as a
    // ghost, with their `created`: the ghosts we may record once the session is over.
    this.collected = new Map();
    this.rounds = 0; this.over = false; this.deferred = [];
  }
  opening() {
    const w = new RangeWriter();
    splitInto(w, this.items, INF);
    return encode({ 1: 2, 3: w.ranges });
  }
  // Returns the reply payload, or null when (initiator) the session is over. Work is
  // collected as units {lo, hi, mode, payload} and written in bound order, SKIPs between.
  receive(payload) {
    this.rounds++;
    const msg = parseRecon(payload);
    const units = [];
    const collector = (lo) => ({ lo, add(mode, hi, pl) { units.push({ lo: this.lo, hi, mode, pl }); this.lo = hi; } });
    let work = false;
    for (const r of msg.ranges) {
      const mine = inRange(this.items, r.lo, r.hi);
      if (r.mode >= 2) this.collect(listed(...(r.mode === 3 ? r.args.slice(1) : r.args)));
      if (r.mode === 0) continue;
      if (r.mode === 4) {
        if (this.initiator) throw new Error('KNOWN sent to the initiator');
        continue; // nothing to answer: its ghosts are collected above
      }
      if (r.mode === 1) {
        if (!fingerprint(mine).equals(r.args[0])) { splitInto(collector(r.lo), mine, r.hi); work = true; }
      } else if (r.mode === 2) {
        const theirs = listed(r.args[0], r.args[1], r.args[2]);
        const tk = new Set(theirs.map((t) => key(t.id, t.cls)));
        const mk = new Set(mine.map((t) => key(t.id, t.cls)));
        const ours = mine.filter((m) => !tk.has(key(m.id, m.cls)));
        const lack = theirs.filter((t) => !mk.has(key(t.id, t.cls)));
        for (const t of lack) this.theirsOnly.set(t.id.toString('hex'), t);
        if (this.initiator) {
          for (const o of ours) this.oursOnly.set(o.id.toString('hex'), o);
          // Our GHOST/HELD items in the range whose ids the list does not name at all go
          // back in one KNOWN range with the same bounds, so the peer can record them.
          const named = new Set(theirs.map((t) => t.id.toString('hex')));
          const known = mine.filter((m) => timed(m) && !named.has(m.id.toString('hex')));
          if (known.length) { units.push({ lo: r.lo, hi: r.hi, mode: 4, pl: idListPayload(known) }); work = true; }
        } else if (ours.length > CHUNK) {
          // Too many of our items for one reply: stream them as ID_LISTs of leading chunks
          // (§10.2, "ID_LIST, received by the responder"); the rest waits for our next turn.
          this.stream(units, r.lo, r.hi, mine);
        } else if (ours.length || lack.length) {
          const bm = Buffer.alloc(Math.ceil(theirs.length / 8));
          theirs.forEach((t, i) => { if (!mk.has(key(t.id, t.cls))) bm[i >> 3] |= 1 << (i & 7); });
          units.push({ lo: r.lo, hi: r.hi, mode: 3, pl: [bin(bm), ...idListPayload(ours)] });
          work = true;
        }
      } else if (r.mode === 3) {
        if (!this.initiator) throw new Error('ID_DIFF sent to the responder');
        const [bm, ids, flags, times] = r.args;
        if (bm.length !== Math.ceil(mine.length / 8)) throw new Error('ID_DIFF bitmap length');
        mine.forEach((m, i) => { if (bm[i >> 3] & (1 << (i & 7))) this.oursOnly.set(m.id.toString('hex'), m); });
        for (const t of listed(ids, flags, times)) this.theirsOnly.set(t.id.toString('hex'), t);
      }
    }
    const pending = this.deferred ?? [];
    this.deferred = [];
    for (const d of pending) this.stream(units, d.lo, d.hi, inRange(this.items, d.lo, d.hi));
    if (this.initiator && !work && !msg.more) { this.over = true; return null; }
    units.sort((a, b) => cmpBounds(a.lo, b.lo));
    const w = new RangeWriter();
    let pos = { ts: 0, prefix: Buffer.alloc(0) };
    for (const u of units) {
      if (cmpBounds(u.lo, pos) > 0) w.skip(u.lo);
      w.add(u.mode, u.hi, u.pl);
      pos = u.hi;
    }
    const out = w.ranges.length ? { 3: w.ranges } : {};
    if (this.deferred.length) out[4] = 1; // `more`: we hold deferred work and need a turn
    return encode(out);
  }
  collect(list) {
    for (const t of list) {
      const hex = t.id.toString('hex');
      if (t.give < 2 && !this.ids.has(hex)) this.collected.set(hex, t.created);
    }
  }
  // Sends the first CHUNK of `mine` (our items in [lo, hi)) as an ID_LIST ending at the bound
  // after its last item, deferring the rest; all of it when it fits.
  stream(units, lo, hi, mine) {
    if (mine.length <= CHUNK) { units.push({ lo, hi, mode: 2, pl: idListPayload(mine) }); return; }
    const b = minimalBound(mine[CHUNK - 1], mine[CHUNK]);
    units.push({ lo, hi: b, mode: 2, pl: idListPayload(mine.slice(0, CHUNK)) });
    this.deferred.push({ lo: b, hi });
  }
}
const CHUNK = 200; // ids per streamed ID_LIST: 200 × 17 bytes keeps a reply under 4,096 bytes
function cmpBounds(a, b) {
  if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
  return Buffer.compare(a.prefix, b.prefix);
}


// ---------------------------------------------------------------- alert areas (§6.6)

// Points are {x: lon, y: lat} as BigInt (exact cross products, §6.6).
const pt = (lat, lon) => ({ x: BigInt(lon), y: BigInt(lat) });
const cross = (o, a, b) => (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
const ringOf = (flat) => { const r = []; for (let i = 0; i < flat.length; i += 2) r.push(pt(flat[i], flat[i + 1])); return r; };
const edges = (ring) => ring.map((a, i) => [a, ring[(i + 1) % ring.length]]);
const minB = (a, b) => (a < b ? a : b), maxB = (a, b) => (a > b ? a : b);
function onSegment(p, a, b) {
  return cross(a, b, p) === 0n && minB(a.x, b.x) <= p.x && p.x <= maxB(a.x, b.x) && minB(a.y, b.y) <= p.y && p.y <= maxB(a.y, b.y);
}
function insideRing(p, ring) {
  let odd = false;
  for (const [a, b] of edges(ring)) {
    if (onSegment(p, a, b)) return true;
    if ((a.y > p.y) !== (b.y > p.y) && (cross(a, b, p) > 0n) === (b.y > a.y)) odd = !odd;
  }
  return odd;
}
const dbl = (p) => ({ x: 2n * p.x, y: 2n * p.y });
function polygonWithin(poly, S) {
  const S2 = S.map(dbl);
  for (const [p, q] of edges(poly)) {
    for (const [a, b] of edges(S)) {
      if (cross(a, b, p) * cross(a, b, q) < 0n && cross(p, q, a) * cross(p, q, b) < 0n) return false;
    }
    if (p.x === q.x && p.y === q.y) { if (!insideRing(p, S)) return false; continue; }
    // Cut at every vertex of S on (p, q), ordered along the edge; test each piece's midpoint.
    const len2 = (q.x - p.x) ** 2n + (q.y - p.y) ** 2n;
    const cuts = [p, ...S.filter((v) => onSegment(v, p, q)), q]
      .map((v) => ({ v, t: (v.x - p.x) * (q.x - p.x) + (v.y - p.y) * (q.y - p.y) }))
      .sort((u, w) => (u.t < w.t ? -1 : u.t > w.t ? 1 : 0));
    void len2;
    for (let i = 0; i + 1 < cuts.length; i++) {
      const m = { x: cuts[i].v.x + cuts[i + 1].v.x, y: cuts[i].v.y + cuts[i + 1].v.y }; // doubled midpoint
      if (!insideRing(m, S2)) return false;
    }
  }
  return true;
}
function circleWithin([lat, lon, r], S) {
  const c = pt(lat, lon);
  if (!insideRing(c, S)) return false;
  const k = 6371008.8 * Math.PI / 180 / 1e7;
  const kx = k * Math.cos(lat * Math.PI / 180 / 1e7);
  for (const [a, b] of edges(S)) {
    const ax = (Number(a.x) - lon) * kx, ay = (Number(a.y) - lat) * k;
    const bx = (Number(b.x) - lon) * kx, by = (Number(b.y) - lat) * k;
    const dx = bx - ax, dy = by - ay;
    const l2 = dx * dx + dy * dy;
    let t = l2 === 0 ? 0 : -(ax * dx + ay * dy) / l2;
    t = Math.max(0, Math.min(1, t));
    const d = Math.hypot(ax + t * dx, ay + t * dy);
    if (d < r) return false;
  }
  return true;
}
// Area (a decoded compact CAP area Map) within a certificate scope {polygons: [ring], geocodes}.
function areaWithin(area, scope) {
  const polys = (area.get(2) ?? []).map(ringOf), circles = area.get(3) ?? [], codes = area.get(4) ?? [];
  if (!polys.length && !circles.length && !codes.length) return false;
  if ((polys.length || circles.length) && !scope.polygons.length) return false;
  if (codes.length && !scope.geocodes.length) return false;
  for (const p of polys) if (!scope.polygons.some((S) => polygonWithin(p, S))) return false;
  for (const c of circles) if (!scope.polygons.some((S) => circleWithin(c, S))) return false;
  for (const [n, v] of codes) if (!scope.geocodes.some(([sn, sv]) => sn === n && sv === v)) return false;
  return true;
}
function simplePolygon(ring) {
  const n = ring.length;
  const key = (p) => p.x + ',' + p.y;
  if (new Set(ring.map(key)).size !== n) return false;
  let area = 0n; for (const [a, b] of edges(ring)) area += cross({ x: 0n, y: 0n }, a, b);
  if (area === 0n) return false;
  const E = edges(ring);
  const segsMeet = ([a, b], [c, d]) => {
    const d1 = cross(a, b, c), d2 = cross(a, b, d), d3 = cross(c, d, a), d4 = cross(c, d, b);
    if (((d1 > 0n && d2 < 0n) || (d1 < 0n && d2 > 0n)) && ((d3 > 0n && d4 < 0n) || (d3 < 0n && d4 > 0n))) return true;
    return onSegment(c, a, b) || onSegment(d, a, b) || onSegment(a, c, d) || onSegment(b, c, d);
  };
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const neighbours = j === i + 1 || (i === 0 && j === n - 1);
      if (!neighbours) { if (segsMeet(E[i], E[j])) return false; continue; }
      // Neighbours share one point; they may not fold back along one line.
      const [first, second] = j === i + 1 ? [E[i], E[j]] : [E[j], E[i]];
      const [a, b] = first, c = second[1];
      if (cross(a, b, c) === 0n && (a.x - b.x) * (c.x - b.x) + (a.y - b.y) * (c.y - b.y) > 0n) return false;
    }
  }
  return true;
}
function covers(area, lat, lon) {
  const p = pt(lat, lon);
  if ((area.polygons ?? []).some((r) => insideRing(p, r.map(([a, b]) => pt(a, b))))) return true;
  const R = 6371008.8, rad = (v) => v / 1e7 * Math.PI / 180;
  return (area.circles ?? []).some(([clat, clon, r]) => {
    const f1 = rad(clat), f2 = rad(lat), df = f2 - f1, dl = rad(lon) - rad(clon);
    const h = Math.sin(df / 2) ** 2 + Math.cos(f1) * Math.cos(f2) * Math.sin(dl / 2) ** 2;
    return 2 * R * Math.asin(Math.sqrt(h)) <= r;
  });
}
// Verifies a signed alert (§6.5, all ten steps) against the pinned root keys at `now`;
// `seqs` maps issuer_id -> Set of seen seq numbers, `known` maps "sender\u0000identifier" of
// every alert accepted so far -> {issuer, level} (step 9; the caller records accepted ones).
// Returns {verdict, issuer, level, sender, identifier, seq}: verdict 'accepted' or the first
// reason that applies.
function verifyAlert(raw, roots, now, seqs = new Map(), known = new Map()) {
  let m, body, cert, cap;
  try { m = decodeCanonical(raw); body = decodeCanonical(m[2]); cert = decodeCanonical(body.get(1)); } catch { return { verdict: 'malformed' }; }
  if (m[1] !== 5) return { verdict: 'malformed' };
  const certBody = body.get(1), certSig = body.get(2);
  const root = roots.find((r) => sha256(r).subarray(0, 16).equals(cert.get(5)));
  if (!root) return { verdict: 'unknown root' };
  if (!edVerify(root, signedBytes(6, certBody), certSig)) return { verdict: 'bad signature' };
  if (!edVerify(cert.get(4), signedBytes(5, m[2]), m[3])) return { verdict: 'bad signature' };
  if (cert.get(14) !== 1) return { verdict: 'bad signature' };
  try { cap = decodeCanonical(body.get(5)); } catch { return { verdict: 'malformed' }; }
  const scope = { polygons: (cert.get(13) ?? []).map(ringOf), geocodes: cert.get(12) ?? [] };
  if (!scope.polygons.every(simplePolygon)) return { verdict: 'malformed' };
  const sent = cap.get(3), infos = cap.get(15) ?? [];
  if (cert.get(6) > sent) return { verdict: 'certificate not yet valid' };
  if (cert.get(7) < now || cert.get(7) < sent) return { verdict: 'certificate expired' };
  const expires = body.get(4);
  if (infos.length && expires !== Math.max(...infos.map((i) => i.get(14)))) return { verdict: 'malformed' };
  if (!(cert.get(9) ?? []).includes(cap.get(2))) return { verdict: 'sender not allowed' };
  if (sent > now + 3600) return { verdict: 'sent in the future' };
  if (expires <= now) return { verdict: 'expired' };
  if (expires > cert.get(7)) return { verdict: 'certificate expired' };
  if (Math.max(0, ...infos.map((i) => i.get(6))) > cert.get(10)) return { verdict: 'severity not allowed' };
  if (!(cert.get(11) & (1 << cap.get(6)))) return { verdict: 'msgType not allowed' };
  const within = infos.every((info) => (info.get(23) ?? []).length > 0 && info.get(23).every((a) => areaWithin(a, scope)));
  if (!within) return { verdict: "area outside the issuer's scope" };
  // Step 9: an Update (2) or Cancel (3) refers only to its issuer's alerts, or to known
  // alerts of a lower level; an unknown one only under its own CAP sender.
  if (cap.get(6) === 2 || cap.get(6) === 3) {
    for (const [rSender, rIdent] of cap.get(13) ?? []) {
      const other = known.get(rSender + '\u0000' + rIdent);
      const ok = other ? other.issuer === cert.get(2) || other.level < cert.get(8) : rSender === cap.get(2);
      if (!ok) return { verdict: "update or cancel refers to another issuer's alert" };
    }
  }
  const issuer = cert.get(2), seq = body.get(3), seen = seqs.get(issuer) ?? new Set();
  if (seen.has(seq)) return { verdict: 'sequence number already used' };
  if (seen.size && seq < Math.max(...seen) - 1024) return { verdict: "sequence number older than the issuer's window" };
  return { verdict: 'accepted', issuer, seq, level: cert.get(8), sender: cap.get(2), identifier: cap.get(1) };
}
const knowAlert = (known, v) => known.set(v.sender + '\u0000' + v.identifier, { issuer: v.issuer, level: v.level });

// ---------------------------------------------------------------- link framing (§11) and UDP link (§13)

function fragmentFrame(seq, frame, mtu) {
  if (frame.length + 3 <= mtu) return [Buffer.concat([Buffer.from([0x30, seq >> 8, seq & 0xff]), frame])];
  const frags = [];
  const total = frame.length;
  const first = frame.subarray(0, mtu - 5);
  frags.push(Buffer.concat([Buffer.from([0x20 | (total >> 16), seq >> 8, seq & 0xff, (total >> 8) & 0xff, total & 0xff]), first]));
  let pos = first.length, index = 1;
  while (pos < total) {
    const part = frame.subarray(pos, pos + mtu - 4); pos += part.length;
    const last = pos >= total ? 0x10 : 0;
    frags.push(Buffer.concat([Buffer.from([last | (index >> 8), seq >> 8, seq & 0xff, index & 0xff]), part]));
    index++;
  }
  return frags;
}

class Reassembler {
  constructor() { this.cur = null; }
  push(f) { // returns a whole frame or null
    const flags = f[0], seq = f.readUInt16BE(1);
    if (flags >> 6) throw new Error('fragment version');
    const first = flags & 0x20, last = flags & 0x10;
    if (first && last) { this.cur = null; return Buffer.from(f.subarray(3)); }
    if (first) {
      const total = ((flags & 0x0f) << 16) | f.readUInt16BE(3);
      if (total > 8256) throw new Error('frame over 8,256 bytes');
      this.cur = { seq, total, next: 1, parts: [f.subarray(5)], len: f.length - 5 };
      return null;
    }
    const index = ((flags & 0x0f) << 8) | f[3];
    if (!this.cur || this.cur.seq !== seq || this.cur.next !== index) { this.cur = null; return null; }
    this.cur.parts.push(f.subarray(4)); this.cur.len += f.length - 4; this.cur.next++;
    if (last) {
      const c = this.cur; this.cur = null;
      if (c.len !== c.total) return null;
      return Buffer.concat(c.parts);
    }
    return null;
  }
}

// Parses one link datagram (§13.1); throws WireError naming the field for what must be dropped.
const DGRAM = { 1: ['PROBE', 36], 2: ['CHALLENGE', 28], 3: ['CONNECT', 36], 4: ['ACCEPT', 20], 5: ['DATA', 0], 6: ['ACK', 36], 7: ['CLOSE', 12], 8: ['ANNOUNCE', 36] };
function parseDatagram(b) {
  if (b.length < 12 || b[0] !== 0x4d || b[1] !== 0x4e) throw new WireError('datagram.magic', 'magic');
  if (b.length > 1200) throw new WireError('datagram', 'too long');
  if (b[2] !== 2) throw new WireError('datagram.version', 'version');
  const t = DGRAM[b[3]];
  if (!t) throw new WireError('datagram.type', 'unknown type');
  const [type, size] = t, cid = b.subarray(4, 12), name = 'datagram.' + type.toLowerCase();
  const noLink = type === 'PROBE' || type === 'CONNECT' || type === 'ANNOUNCE';
  if (noLink !== cid.equals(ZERO8)) throw new WireError('datagram.cid', 'cid');
  if (size && b.length !== size) throw new WireError(name, 'size');
  const zero = (x) => x.equals(Buffer.alloc(x.length));
  const out = { type, cid: Buffer.from(cid) };
  if (type === 'PROBE' || type === 'ANNOUNCE') {
    if (!zero(b.subarray(20))) throw new WireError(name, 'padding');
    if (type === 'PROBE' && zero(b.subarray(12, 20))) throw new WireError(name, 'zero cid');
    out[type === 'PROBE' ? 'initiator' : 'nonce'] = Buffer.from(b.subarray(12, 20));
  } else if (type === 'CHALLENGE') out.cookie = Buffer.from(b.subarray(12));
  else if (type === 'CONNECT' || type === 'ACCEPT') {
    if (zero(b.subarray(12, 20))) throw new WireError(name, 'zero cid');
    out[type === 'CONNECT' ? 'initiator' : 'responder'] = Buffer.from(b.subarray(12, 20));
    if (type === 'CONNECT') out.cookie = Buffer.from(b.subarray(20));
  } else if (type === 'ACK') {
    [out.next, out.bitmap, out.limit] = [12, 20, 28].map((o) => b.readBigUInt64BE(o));
  } else if (type === 'DATA') {
    if (b.length < 25) throw new WireError(name, 'no chunk');
    out.seq = b.readBigUInt64BE(12); out.fragments = [];
    for (let pos = 20; pos < b.length;) {
      if (pos + 2 > b.length) throw new WireError(name, 'chunk length');
      const n = b.readUInt16BE(pos);
      if (n < 3 || pos + 2 + n > b.length) throw new WireError(name, 'chunk');
      out.fragments.push(Buffer.from(b.subarray(pos + 2, pos + 2 + n))); pos += 2 + n;
    }
  }
  return out;
}

const MAGIC = Buffer.from([0x4d, 0x4e, 2]);
function dgramHeader(type, cid) { return Buffer.concat([MAGIC, Buffer.from([type]), cid]); }
const ZERO8 = Buffer.alloc(8);

class UdpLink {
  constructor(sock, host, port, onFrame, log) {
    Object.assign(this, { sock, host, port, onFrame, log });
    this.myCid = crypto.randomBytes(8); this.peerCid = null; this.up = false;
    this.sendSeq = 0n; this.unacked = new Map(); this.limit = 64n; this.queue = [];
    this.rto = 300; this.timerAt = null; // §13.5: one retransmission timer per link
    this.recvNext = 0n; this.early = new Map(); this.reasm = new Reassembler();
    this.fragSeq = crypto.randomInt(65536); this.stats = { dataOut: 0, dataIn: 0, resent: 0 };
    this.cookie = null; this.lastRx = Date.now();
  }
  raw(b) { this.sock.send(b, this.port, this.host); }
  start() {
    this.timer = setInterval(() => this.tick(), 100);
    this.probe();
  }
  probe() { this.raw(Buffer.concat([dgramHeader(1, ZERO8), this.myCid, Buffer.alloc(16)])); this.lastProbe = Date.now(); }
  connect() { this.raw(Buffer.concat([dgramHeader(3, ZERO8), this.myCid, this.cookie])); this.lastProbe = Date.now(); }
  // Sends CLOSE (§13.6) and resolves once it left the socket.
  close() {
    clearInterval(this.timer);
    if (!this.up) return Promise.resolve();
    this.up = false;
    return new Promise((r) => this.sock.send(dgramHeader(7, this.peerCid), this.port, this.host, r));
  }
  tick() {
    const now = Date.now();
    if (!this.up) { if (now - this.lastProbe > 2000) (this.cookie ? this.connect() : this.probe()); return; }
    // §13.5: the timer ran out: resend the oldest unacknowledged datagram only, double the RTO.
    if (this.timerAt !== null && now >= this.timerAt && this.unacked.size) {
      const oldest = [...this.unacked.keys()].reduce((a, b) => (b < a ? b : a));
      const d = this.unacked.get(oldest); this.raw(d.bytes); d.tries++; this.stats.resent++;
      this.rto = Math.min(this.rto * 2, 2000); this.timerAt = now + this.rto;
    }
    if (now - this.lastAck > 2000) this.ack();
    if (now - this.lastRx > 10000) { this.log('link timeout'); this.close(); this.onDown?.(); }
    this.pump();
  }
  receive(b) {
    if (b.length < 12 || b.length > 1200 || b[0] !== 0x4d || b[1] !== 0x4e || b[2] !== 2) return;
    const type = b[3], cid = b.subarray(4, 12);
    if (type === 2 && b.length === 28 && cid.equals(this.myCid) && !this.up) { this.cookie = Buffer.from(b.subarray(12, 28)); this.connect(); return; }
    if (!cid.equals(this.myCid)) return;
    this.lastRx = Date.now();
    if (type === 4 && b.length === 20 && !this.up) {
      this.peerCid = Buffer.from(b.subarray(12, 20)); this.up = true; this.lastAck = Date.now();
      this.onUp?.(); return;
    }
    if (!this.up) return;
    if (type === 7 && b.length === 12) { this.log('peer closed the link'); this.up = false; clearInterval(this.timer); this.onDown?.(); return; }
    if (type === 6 && b.length === 36) {
      const next = b.readBigUInt64BE(12), bitmap = b.readBigUInt64BE(20), limit = b.readBigUInt64BE(28);
      if (next > this.sendSeq) return;
      let progress = false, sample = false;
      for (const [s, d] of [...this.unacked]) {
        if (s < next || (s > next && s - next - 1n < 64n && (bitmap >> (s - next - 1n)) & 1n)) {
          this.unacked.delete(s); progress = true; if (d.tries === 1) sample = true;
        }
      }
      // No RTT estimator here: a datagram sent once and acknowledged sets the RTO back to the
      // initial 300 ms (within 200 ms .. 2 s); progress restarts the timer.
      if (sample) this.rto = 300;
      if (progress) this.timerAt = this.unacked.size ? Date.now() + this.rto : null;
      if (limit > this.limit) this.limit = limit;
      this.pump(); return;
    }
    if (type === 5 && b.length >= 25) {
      const seq = b.readBigUInt64BE(12);
      if (process.env.LINK_TRACE) this.log(`DATA ${seq} next ${this.recvNext} len ${b.length}`);
      const chunks = []; let pos = 20;
      while (pos < b.length) {
        if (pos + 2 > b.length) return;
        const n = b.readUInt16BE(pos); if (n < 3 || pos + 2 + n > b.length) return;
        chunks.push(Buffer.from(b.subarray(pos + 2, pos + 2 + n))); pos += 2 + n;
      }
      this.stats.dataIn++;
      let immediate = false;
      if (seq < this.recvNext) { immediate = true; this.stats.dup = (this.stats.dup ?? 0) + 1; }
      else if (seq < this.recvNext + 256n) {
        if (seq !== this.recvNext) immediate = true;
        this.early.set(seq, chunks);
        while (this.early.has(this.recvNext)) {
          const cs = this.early.get(this.recvNext); this.early.delete(this.recvNext); this.recvNext++;
          for (const c of cs) {
            let fr;
            try { fr = this.reasm.push(c); } catch (e) { this.log('refused fragment: ' + e.message); this.refused = true; this.close(); this.onDown?.(); return; }
            if (fr) this.onFrame(fr);
          }
        }
      }
      this.unackedIn = (this.unackedIn ?? 0) + 1;
      if (immediate || this.unackedIn >= 8) this.ack();
      else if (!this.ackTimer) this.ackTimer = setTimeout(() => this.ack(), 10);
    }
  }
  ack() {
    if (!this.up) return;
    clearTimeout(this.ackTimer); this.ackTimer = null; this.unackedIn = 0;
    let bitmap = 0n;
    for (let i = 0n; i < 64n; i++) if (this.early.has(this.recvNext + 1n + i)) bitmap |= 1n << i;
    const b = Buffer.alloc(36); dgramHeader(6, this.peerCid).copy(b);
    b.writeBigUInt64BE(this.recvNext, 12); b.writeBigUInt64BE(bitmap, 20); b.writeBigUInt64BE(this.recvNext + 256n, 28);
    this.raw(b); this.lastAck = Date.now();
    if (process.env.LINK_TRACE) this.log(`ACK next ${this.recvNext} bitmap ${bitmap.toString(16)}`);
  }
  sendFrame(frame) {
    for (const f of fragmentFrame(this.fragSeq, frame, 1178)) this.queue.push(f);
    this.fragSeq = (this.fragSeq + 1) & 0xffff;
    this.pump();
  }
  pump() {
    while (this.up && this.queue.length && this.unacked.size < 64 && this.sendSeq < this.limit) {
      const parts = []; let size = 20;
      while (this.queue.length && size + 2 + this.queue[0].length <= 1200) {
        const f = this.queue.shift(); parts.push(i2osp(f.length, 2), f); size += 2 + f.length;
      }
      const head = Buffer.alloc(20); dgramHeader(5, this.peerCid).copy(head); head.writeBigUInt64BE(this.sendSeq, 12);
      const bytes = Buffer.concat([head, ...parts]);
      if (!this.unacked.size) this.timerAt = Date.now() + this.rto;
      this.unacked.set(this.sendSeq, { bytes, tries: 1 });
      this.sendSeq++; this.stats.dataOut++;
      this.raw(bytes);
    }
  }
}

// ---------------------------------------------------------------- sync session (§10)

class Peer {
  constructor(me, log) {
    this.me = me; this.log = log;
    this.store = new Map(); // id hex -> {kind, raw, fields, created, routing}
    this.contacts = []; // {dh}
    this.opened = []; this.receipts = new Map(); this.alertSeqs = new Map(); this.roots = [];
    this.ghosts = new Map(); // id hex -> created: ids known to exist, without a message (§10.2)
    this.knownAlerts = new Map(); // §6.5 step 9: accepted alerts by CAP sender and identifier
  }
  // §10.2 "Ghosts": never of an id we hold, nor one dated more than the hour ahead a message
  // may be, nor one past the 14-day longest lifetime; at most 16,384, refused beyond.
  recordGhosts(collected, now) {
    for (const [hex, created] of collected) {
      if (this.store.has(hex) || this.ghosts.has(hex) || this.ghosts.size >= 16384) continue;
      if (created > now + 3600 || created + 14 * DAY < now) continue;
      this.ghosts.set(hex, created);
    }
  }
  add(raw) {
    const m = openEnvelope(raw);
    const hex = m.id.toString('hex');
    if (this.store.has(hex)) return null;
    if (m.kind === 5) {
      const v = verifyAlert(raw, this.roots ?? [], Math.floor(Date.now() / 1000), this.alertSeqs, this.knownAlerts);
      if (v.verdict !== 'accepted') throw new Error('alert refused: ' + v.verdict);
      knowAlert(this.knownAlerts, v);
      if (!this.alertSeqs.has(v.issuer)) this.alertSeqs.set(v.issuer, new Set());
      this.alertSeqs.get(v.issuer).add(v.seq);
      m.alert = v;
    } else if (!m.verified) throw new Error('kind ' + m.kind + ' not taken by this peer');
    const created = m.kind === 2 ? m.fields.get(2) : m.kind === 3 ? m.fields.get(3) : m.kind === 4 ? m.fields.get(4) : m.fields.get(3);
    this.store.set(hex, { ...m, raw, created });
    this.ghosts.delete(hex); // the message itself is here now
    return m;
  }
  items() {
    const out = [];
    const now = Math.floor(Date.now() / 1000);
    for (const [hex, m] of this.store) {
      if (m.kind > 4) continue;
      // §10.2 Class: 1 when a copy could go on to a peer other than the destination; what
      // floods (not a DM) fades to class 0 two hours after its `created`.
      const hops = m.routing.get(1), copies = m.routing.get(2);
      const faded = hops > 0 && m.kind !== 2 && now >= m.created + FADE_AFTER;
      const cls = hops > 0 && !faded && (m.kind !== 2 || copies > 1) ? 1 : 0;
      out.push({ created: m.created, id: Buffer.from(hex, 'hex'), cls, faded });
    }
    for (const [hex, created] of this.ghosts) {
      if (created + 14 * DAY < now) this.ghosts.delete(hex);
      else out.push({ created, id: Buffer.from(hex, 'hex'), cls: 0, ghost: true });
    }
    return out;
  }
  helloTags(nonce, now) {
    const tags = [];
    for (const c of this.contacts) for (const d of [now, now - DAY]) tags.push(sha256(ascii('meshnode/v1/hello-tag'), Z, nonce, pairTag(this.me.dh, c.dh, this.me.dh.pub, d)).subarray(0, 16));
    let n = 8; while (n < tags.length) n *= 2;
    while (tags.length < n) tags.push(crypto.randomBytes(16));
    return Buffer.concat(tags.sort(Buffer.compare));
  }
}

class Session {
  constructor(peer, link, log) {
    Object.assign(this, { peer, link, log });
    this.phase = 'idle'; this.received = 0; this.reconFrames = { in: 0, out: 0 };
    this.sentDone = false; this.peerDone = false; this.exchanges = 0; this.malformed = 0;
  }
  hello() {
    const now = Math.floor(Date.now() / 1000);
    this.nonce = crypto.randomBytes(8);
    // Test knob: a first nonce byte of 0x00 or 0xff makes this side (almost surely) the
    // responder or the initiator (§10.1 step 1), so that both roles are exercised.
    if (this.role === 'responder') this.nonce[0] = 0x00;
    if (this.role === 'initiator') this.nonce[0] = 0xff;
    this.snapshot = this.peer.items();
    const fp = fingerprint(sortItems(this.snapshot.map((i) => ({ ...i, h: itemH(i.id, i.cls) }))));
    this.digest = sha256(ascii('meshnode/v1/hello-digest'), Z, this.nonce, fp).subarray(0, 12);
    this.fp = fp;
    this.phase = 'hello'; this.sentDone = false; this.peerDone = false; this.recon = null; this.exchanges++;
    // Field 5: issuers ascending (by code point), each one's latest 64 seqs ascending.
    const issuers = [...this.peer.alertSeqs.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, 32);
    const vec = issuers.map((i) => [i, [...this.peer.alertSeqs.get(i)].sort((a, b) => a - b).slice(-64)]);
    this.frame(1, { 1: 2, 2: bin(this.nonce), 3: bin(this.peer.helloTags(this.nonce, now)), 5: vec.length ? vec : undefined, 7: bin(this.digest) });
  }
  frame(type, body) {
    if (type === 2) this.reconFrames.out++;
    this.link.sendFrame(encode([type, body]));
  }
  onFrame(raw) {
    let f;
    try {
      f = decodeCanonical(raw);
      if (!Array.isArray(f) || f.length !== 2 || raw.length > 8256) throw new Error('not a frame');
    } catch (e) {
      this.log('bad frame: ' + e.message);
      // §10: a link that keeps sending malformed frames is closed.
      if (++this.malformed > 16) { this.link.close(); this.link.onDown?.(); }
      return;
    }
    const [type, body] = f;
    if (type === 1) return this.onHello(body);
    if (type === 4) return this.onMsg(body);
    if (this.phase === 'hello' || this.phase === 'idle') { this.log('stale frame ' + type); return; }
    if (type === 2) return this.onRecon(body);
    if (type === 3) return this.onWant(body);
    if (type === 5) { this.peerDone = true; this.maybeDone(); this.checkFinished(); }
  }
  onHello(h) {
    if (h.get(1) !== 2) { this.log('hello version'); return; }
    if (this.phase !== 'hello') this.hello(); // the peer started over (§10.1 step 7)
    const theirNonce = h.get(2);
    const theirDigest = h.get(7);
    const mine = sha256(ascii('meshnode/v1/hello-digest'), Z, theirNonce, this.fp).subarray(0, 12);
    this.peerTags = h.get(3);
    // §10.1 step 2: alerts the peer's field 5 lacks go to it first, whatever follows.
    const theirs = new Map((h.get(5) ?? []).map(([i, seqs]) => [i, new Set(seqs)]));
    for (const [hex, m] of this.peer.store) {
      if (m.kind === 5 && !theirs.get(m.alert.issuer)?.has(m.alert.seq)) this.send(hex);
    }
    if (theirDigest && theirDigest.equals(mine)) { this.phase = 'quiet'; this.log('equal sets'); this.onFinished?.(); return; }
    const c = Buffer.compare(this.nonce, theirNonce);
    this.initiator = c > 0 || (c === 0 && theirDigest && Buffer.compare(this.digest, theirDigest) > 0);
    this.recon = new Reconciler(this.snapshot, this.initiator);
    this.phase = 'reconciling';
    this.log(`hello exchanged, ${this.initiator ? 'initiator' : 'responder'}, ${this.snapshot.length} items`);
    if (this.initiator) this.frame(2, bin(this.recon.opening()));
  }
  onRecon(payload) {
    this.reconFrames.in++;
    let reply;
    try { reply = this.recon.receive(payload); } catch (e) { this.log('recon refused: ' + e.message); return; }
    if (reply) { this.frame(2, bin(reply)); return; }
    // Initiator, session over: act on the difference.
    const want = [...this.recon.theirsOnly.values()].filter((t) => t.give >= 2 && !this.peer.store.has(t.id.toString('hex')));
    for (let i = 0; i < want.length; i += 256) this.frame(3, bin(Buffer.concat(want.slice(i, i + 256).map((t) => t.id))));
    // Give only what we flagged GIVES_LIVE (class 1, not a ghost); a DM only where the peer
    // lacks it or holds a ghost of it (DMs are not upgraded, §10.2).
    const gives = [...this.recon.oursOnly.values()].filter((o) => {
      const hex = o.id.toString('hex');
      const theirs = this.recon.theirsOnly.get(hex);
      // A faded item goes only where the peer lacks it or holds a ghost of it (no upgrades).
      return (o.cls === 1 || o.faded) && !o.ghost
        && !((o.faded || this.peer.store.get(hex)?.kind === 2) && theirs && theirs.give !== 0);
    });
    for (const o of gives) this.send(o.id.toString('hex'));
    this.peer.recordGhosts(this.recon.collected, Math.floor(Date.now() / 1000));
    this.phase = 'offering';
    this.log(`reconciled in ${this.recon.rounds} replies: want ${want.length}, give ${gives.length}, ghosts ${this.recon.collected.size}`);
    this.maybeDone();
  }
  send(hex) { const m = this.peer.store.get(hex); if (m) this.frame(4, bin(m.raw)); }
  onWant(ids) { for (let i = 0; i < ids.length; i += 16) this.send(ids.subarray(i, i + 16).toString('hex')); }
  maybeDone() {
    if (this.sentDone) return;
    if ((this.initiator && this.phase === 'offering') || (!this.initiator && this.peerDone)) {
      this.sentDone = true; this.frame(5, null); this.checkFinished();
    }
  }
  checkFinished() {
    if (!(this.sentDone && this.peerDone)) return;
    // The responder records what it collected when the session ends (the initiator did).
    if (this.recon && !this.initiator) this.peer.recordGhosts(this.recon.collected, Math.floor(Date.now() / 1000));
    this.phase = 'finished'; this.onFinished?.();
  }
  onMsg(raw) {
    let m;
    try { m = this.peer.add(raw); } catch (e) { this.log('refused message: ' + e.message); return; }
    if (!m) return;
    this.received++;
    if (m.kind !== 1) this.log(`got kind ${m.kind} routing ${JSON.stringify([...m.routing.entries()])}`);
    this.onMessage?.(m);
  }
}

// ---------------------------------------------------------------- local API client (docs/api.md)

function apiClient(path) {
  const sock = net.createConnection(path);
  let buf = ''; let id = 0; const waiting = new Map();
  sock.on('data', (d) => {
    buf += d.toString('utf8');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = JSON.parse(buf.slice(0, i)); buf = buf.slice(i + 1);
      const w = waiting.get(line.id); if (w) { waiting.delete(line.id); line.ok ? w.res(line.result) : w.rej(new Error(JSON.stringify(line.error))); }
    }
  });
  const ready = new Promise((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
  return {
    async call(op, args) {
      await ready; const n = ++id;
      return new Promise((res, rej) => { waiting.set(n, { res, rej }); sock.write(JSON.stringify({ v: 1, id: n, op, ...(args ? { args } : {}) }) + '\n'); });
    },
    close() { sock.end(); },
  };
}

// ---------------------------------------------------------------- the scenario

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, pred, deadline) {
  while (!pred()) { if (Date.now() > deadline) throw new Error('timed out waiting for ' + what); await sleep(50); }
}

async function run(opts) {
  const t0 = Date.now();
  const deadline = t0 + opts.timeout * 1000;
  const log = (s) => { if (opts.verbose) process.stderr.write(`[peer ${((Date.now() - t0) / 1000).toFixed(2)}] ${s}\n`); };
  // The daemon may still be starting: wait (within the deadline) for its API socket.
  let api, who;
  for (;;) {
    try { api = apiClient(opts.api); who = await api.call('whoami'); break; } catch (e) {
      if (Date.now() > deadline) throw new Error('no daemon API at ' + opts.api + ': ' + e.message);
      await sleep(100);
    }
  }
  const daemon = { sign: Buffer.from(who.sign_key, 'hex'), dh: Buffer.from(who.dh_key, 'hex') };
  const me = { sign: edFromSeed(crypto.randomBytes(32)), dh: xFromSeed(crypto.randomBytes(32)) };
  const peer = new Peer(me, log);
  peer.contacts.push({ dh: daemon.dh });
  const result = { posts_prefilled: 0 };

  // 1. Prefill the daemon's store: posts signed here by 40 authors (the per-author quota of
  // §10.1 allows 60 an hour each, own posts included), handed over with the API's `inject`.
  const authors = Array.from({ length: 40 }, () => ({ sign: edFromSeed(crypto.randomBytes(32)) }));
  const channels = ['wijk-noord', 'wijk-zuid', 'water', 'stroom'];
  const t1 = Math.floor(Date.now() / 1000);
  for (let i = 0; i < opts.posts; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(i + 100, opts.posts); j++) {
      const raw = makePost(authors[j % 40], channels[j % 4], `bericht ${j} van de buurt`, t1 - 60 - (j % 50));
      batch.push(api.call('inject', { data: raw.toString('base64') }));
    }
    for (const r of await Promise.all(batch)) if (!r.accepted) throw new Error('inject refused a post: ' + JSON.stringify(r));
  }
  result.posts_prefilled = opts.posts;
  log(`prefilled ${opts.posts} posts`);

  // Our own card and a post, in the store before the link comes up.
  const now = Math.floor(Date.now() / 1000);
  peer.add(makeAnnounce(me, 'onafhankelijke telefoon', now));
  const myPost = peer.add(makePost(me, 'wijk-noord', 'Hallo van een onafhankelijke peer', now));

  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const [dhost, dport] = opts.daemon.split(':');
  async function linkOnce(label, role) {
    const link = new UdpLink(sock, dhost, Number(dport), null, log);
    const session = new Session(peer, link, log);
    session.role = role;
    link.onFrame = (f) => session.onFrame(f);
    sock.removeAllListeners('message');
    sock.on('message', (b) => { try { parseDatagram(b); } catch { return; } link.receive(b); }); // §13.1 drops
    let finished = false; session.onFinished = () => { finished = true; };
    link.onUp = () => { log(`${label}: link up`); session.hello(); };
    link.start();
    await until(`${label} exchange`, () => finished, deadline);
    return { link, session };
  }

  // 2. First contact: reconcile the daemon's store into ours.
  const firstStart = Date.now();
  let { link, session } = await linkOnce('contact 1', opts.roles[0]);
  const postsHeld = () => [...peer.store.values()].filter((m) => m.kind === 1).length;
  await until('all posts', () => postsHeld() >= opts.posts + 1, deadline);
  result.first = { role: session.initiator ? 'initiator' : 'responder', recon_in: session.reconFrames.in, recon_out: session.reconFrames.out, received: session.received, link: link.stats, ms: Date.now() - firstStart };
  log(`contact 1: ${postsHeld()} posts held`);
  // The daemon accepted our post: its API lists it.
  for (;;) {
    const p = await api.call('posts', { channel: 'wijk-noord', limit: 1000 });
    if (p.posts.some((x) => x.id === myPost.id.toString('hex'))) { result.our_post_accepted = true; break; }
    if (Date.now() > deadline) throw new Error('the daemon never took our post');
    await sleep(100);
  }

  // 3. A DM each way. Ours to the daemon (pushed on the live link), the daemon's to us.
  const dmOut = sealDm(me, daemon, 'Is er drinkwater bij de school? / Is there water at the school?', Math.floor(Date.now() / 1000));
  const dmOutMsg = peer.add(dmOut);
  session.frame(4, bin(dmOut));
  let receiptForOurs = false; let dmIn = null;
  const onMessage = (m) => {
    if (m.kind === 3 && m.fields.get(1).equals(dmOutMsg.id) && m.fields.get(2).equals(dmOutMsg.fields.get(4))) receiptForOurs = true;
    if (m.kind === 2) {
      const opened = openDm(me, m.fields);
      if (opened) {
        dmIn = opened;
        const r = makeReceipt(m.id, opened.ack, Math.floor(Date.now() / 1000));
        peer.add(r); session.frame(4, bin(r));
      }
    }
  };
  session.onMessage = onMessage;
  for (;;) {
    const inbox = await api.call('inbox', { limit: 1000 });
    const got = inbox.messages.find((x) => x.id === dmOutMsg.id.toString('hex'));
    if (got) { result.dm_to_daemon = { opened: true, from_ok: got.from.sign_key === me.sign.pub.toString('hex'), text: got.text }; break; }
    if (Date.now() > deadline) throw new Error('the daemon never opened our DM');
    await sleep(100);
  }
  await until('receipt for our DM', () => receiptForOurs, deadline);
  result.receipt_from_daemon = true;
  const sent = await api.call('dm', { to: me.sign.pub.toString('hex'), text: 'Ja, tot 18:00. / Yes, until 18:00.' });
  await until('the daemon DM', () => dmIn !== null, deadline);
  result.dm_from_daemon = { opened: true, text: dmIn.text, from_ok: dmIn.from.equals(daemon.sign) };
  for (;;) {
    const out = await api.call('outbox', { limit: 50 });
    const m = out.messages.find((x) => x.id === sent.id);
    if (m && m.delivered) { result.receipt_to_daemon = true; break; }
    if (Date.now() > deadline) throw new Error('the daemon never took our receipt');
    await sleep(100);
  }
  await link.close();

  // 4. A second contact on a new link after both sides changed: a multi-round reconciliation
  // of two stores of thousands that differ in a few items.
  const late = { sign: edFromSeed(crypto.randomBytes(32)) };
  for (let j = 0; j < 25; j++) {
    const r = await api.call('inject', { data: makePost(late, 'water', `nieuw bericht ${j}`, Math.floor(Date.now() / 1000) - j).toString('base64') });
    if (!r.accepted) throw new Error('inject refused a post');
  }
  const t = Math.floor(Date.now() / 1000);
  for (let j = 0; j < 5; j++) peer.add(makePost(me, 'stroom', `stroom terug in straat ${j}`, t - 3600 * 24 * j - 1000 * j));
  const before = postsHeld();
  ({ link, session } = await linkOnce('contact 2', opts.roles[1]));
  await until('the 25 new posts', () => postsHeld() >= before + 25, deadline);
  for (;;) {
    const p = await api.call('posts', { channel: 'stroom', limit: 1000 });
    if (p.posts.filter((x) => x.author.sign_key === me.sign.pub.toString('hex')).length === 5) break;
    if (Date.now() > deadline) throw new Error('the daemon never took our 5 new posts');
    await sleep(100);
  }
  result.second = { role: session.initiator ? 'initiator' : 'responder', recon_in: session.reconFrames.in, recon_out: session.reconFrames.out, received: session.received, store: peer.store.size };
  await link.close();
  // 5. A third contact with nothing new on either side: the Hello digests (field 7) must be
  // equal, so no reconciliation runs (§10.1 step 3).
  ({ link, session } = await linkOnce('contact 3', 'any'));
  result.third = { phase: session.phase, recon_in: session.reconFrames.in, received: session.received };
  if (session.recon) {
    result.third.theirs_only = [...session.recon.theirsOnly.values()].map((t) => [t.id.toString('hex'), t.cls, t.give, peer.store.get(t.id.toString('hex'))?.kind]);
    result.third.ours_only = [...session.recon.oursOnly.values()].map((t) => [t.id.toString('hex'), t.cls, peer.store.get(t.id.toString('hex'))?.kind]);
  }
  await link.close();
  result.posts_held = postsHeld();
  sock.close(); api.close();
  result.seconds = (Date.now() - t0) / 1000;
  return result;
}


// ---------------------------------------------------------------- serving (the responder side of §13.2)

async function serve(opts) {
  const t0 = Date.now();
  const log = (s) => { if (opts.verbose) process.stderr.write(`[serve ${((Date.now() - t0) / 1000).toFixed(2)}] ${s}\n`); };
  const me = { sign: edFromSeed(crypto.randomBytes(32)), dh: xFromSeed(crypto.randomBytes(32)) };
  const peer = new Peer(me, log);
  // A pinned root: the `key = "<hex>"` line of a root public key file (docs/conformance.md).
  if (opts.root) peer.roots.push(Buffer.from(/^key\s*=\s*"([0-9a-f]{64})"/m.exec(fs.readFileSync(opts.root, 'utf8'))[1], 'hex'));
  const secret = crypto.randomBytes(32);
  const sock = dgram.createSocket('udp4');
  const [host, port] = opts.listen.split(':');
  await new Promise((r) => sock.bind(Number(port), host, r));
  console.log(JSON.stringify({ listening: opts.listen, sign_key: me.sign.pub.toString('hex'), dh_key: me.dh.pub.toString('hex') }));
  const links = new Map(); // "ip:port" -> {link, session, accept}
  const penalty = new Map(); // ip -> until (ms)
  const cookie = (period, ip, p, ci) => {
    const pb = Buffer.alloc(8); pb.writeBigUInt64BE(BigInt(period));
    const ipb = Buffer.from(ip.split('.').map(Number));
    return hmac(secret, pb, ipb, i2osp(p, 2), ci).subarray(0, 16);
  };
  const onMessage = (session) => (m) => {
    if (m.kind === 2) {
      const opened = openDm(me, m.fields);
      if (opened) {
        log('opened a DM: ' + opened.text);
        const r = makeReceipt(m.id, opened.ack, Math.floor(Date.now() / 1000));
        peer.add(r); session.frame(4, bin(r));
      }
    }
  };
  sock.on('message', (b, rinfo) => {
    const addr = `${rinfo.address}:${rinfo.port}`;
    try { parseDatagram(b); } catch { return; } // §13.1: drop, answer nothing
    const type = b[3], hcid = b.subarray(4, 12);
    const zeroHeader = hcid.equals(ZERO8);
    if ((penalty.get(rinfo.address) ?? 0) > Date.now() && (type === 1 || type === 3)) return;
    if (type === 1) { // PROBE: answer statelessly
      if (b.length !== 36 || !zeroHeader || b.subarray(12, 20).equals(ZERO8) || !b.subarray(20).equals(Buffer.alloc(16))) return;
      const ci = b.subarray(12, 20);
      sock.send(Buffer.concat([dgramHeader(2, ci), cookie(Math.floor(Date.now() / 30000), rinfo.address, rinfo.port, ci)]), rinfo.port, rinfo.address);
      return;
    }
    if (type === 3) { // CONNECT
      if (b.length !== 36 || !zeroHeader) return;
      const ci = Buffer.from(b.subarray(12, 20)), ck = b.subarray(20, 36);
      if (ci.equals(ZERO8)) return;
      const period = Math.floor(Date.now() / 30000);
      if (![period, period - 1].some((p) => crypto.timingSafeEqual(cookie(p, rinfo.address, rinfo.port, ci), ck))) return;
      const held = links.get(addr);
      if (held && held.link.up && held.link.peerCid.equals(ci)) { sock.send(held.accept, rinfo.port, rinfo.address); return; }
      if (held && held.link.up && Date.now() - held.link.lastRx < 4000) return;
      if (held) held.link.close();
      const link = new UdpLink(sock, rinfo.address, rinfo.port, null, (x) => log(`${addr} ${x}`));
      link.peerCid = ci; link.up = true; link.lastAck = Date.now(); link.lastProbe = Date.now();
      link.timer = setInterval(() => link.tick(), 100);
      const session = new Session(peer, link, (x) => log(`${addr} ${x}`));
      session.onMessage = onMessage(session);
      session.role = opts.role;
      session.onFinished = () => log(`${addr} exchange finished, store ${peer.store.size}`);
      link.onFrame = (f) => session.onFrame(f);
      link.onDown = () => {
        if (session.malformed > 16 || link.refused) penalty.set(rinfo.address, Date.now() + 30000);
        links.delete(addr);
      };
      const accept = Buffer.concat([dgramHeader(4, ci), link.myCid]);
      links.set(addr, { link, session, accept });
      sock.send(accept, rinfo.port, rinfo.address);
      log(`${addr} link up (responder)`);
      session.hello();
      return;
    }
    const held = links.get(addr);
    if (held) held.link.receive(b);
  });
  await sleep(opts.seconds * 1000);
  for (const { link } of links.values()) await link.close();
  sock.close();
}

// ---------------------------------------------------------------- self test against the vectors

function selftest(path) {
  const v = JSON.parse(fs.readFileSync(path, 'utf8'));
  const hex = (s) => Buffer.from(s.replace(/\s/g, ''), 'hex');
  const checks = {};
  const post = v.vectors.post;
  const pm = openEnvelope(hex(post.message));
  checks.post_verifies = pm.verified && pm.id.equals(hex(post.id));
  checks.post_reencodes = encode(reencode(decode(hex(post.message)))).equals(hex(post.message));
  const anna = { sign: edFromSeed(hex(v.keys.anna_sign_seed)), dh: xFromSeed(hex(v.keys.anna_dh_seed)) };
  checks.post_resigns = envelope(1, hex(post.body), anna.sign, 8, 1).equals(hex(post.message));
  const bram = { sign: edFromSeed(hex(v.keys.bram_sign_seed)), dh: xFromSeed(hex(v.keys.bram_dh_seed)) };
  const dm = openEnvelope(hex(v.vectors.dm.message));
  const opened = openDm(bram, dm.fields);
  checks.dm_opens = opened !== null && opened.text === v.vectors.dm.inner.text;
  checks.dm_tag = pairTag(anna.dh, bram.dh.pub, bram.dh.pub, dm.fields.get(2)).equals(dm.fields.get(1));
  const own = sealDm(anna, { dh: bram.dh.pub }, 'x', 1790000000);
  checks.dm_roundtrip = openDm(bram, openEnvelope(own).fields)?.text === 'x';
  checks.dm_min_size = openEnvelope(own).fields.get(5).length === 240;
  const rc = v.vectors.receipt;
  const rm = openEnvelope(hex(rc.message));
  checks.receipt_verifies = rm.verified;
  checks.receipt_resigns = makeReceiptFrom(opened, rm).equals(hex(rc.body));
  checks.frames_decode = Object.entries(v.frames).filter(([k]) => k !== 'fragments_mtu20_of_msg').every(([, h]) => encode(reencode(decodeCanonical(hex(h)))).equals(hex(h)));
  const fr = hex(v.frames.msg);
  checks.fragments = fragmentFrame(0, fr, 20).map((b) => b.toString('hex')).join() === v.frames.fragments_mtu20_of_msg.map((s) => s.replace(/\s/g, '')).join();
  // Every must-refuse message is refused, naming the field the vector names.
  checks.invalid_accepted = v.invalid.filter((c) => { try { openEnvelope(hex(c.hex)); return true; } catch (e) { return e.field !== c.field; } }).map((c) => c.why);
  checks.invalid_refused = checks.invalid_accepted.length === 0;
  const root = edFromSeed(hex(v.keys.root_seed));
  const g = v.geometry;
  checks.geometry = g.cases.map((c) => [c.name, verifyAlert(hex(c.message), [root.pub], g.now).verdict === (c.within ? 'accepted' : "area outside the issuer's scope")]);
  checks.geometry_all = checks.geometry.every(([, ok]) => ok);
  checks.covers = g.covers.every((c) => covers(c.area, c.lat, c.lon) === c.covered);
  checks.refused_certs = g.refused_cert_bodies.every((r) => !(decodeCanonical(hex(r.body)).get(13) ?? []).map(ringOf).every(simplePolygon));
  checks.cert_simple = (decodeCanonical(decodeCanonical(hex(g.cert.message))[2]).get(13)).map(ringOf).every(simplePolygon);
  // §6.5 step 9: the references vectors, in order, each accepted alert known to the next.
  const known = new Map(), seqs = new Map();
  checks.references = v.references.cases.map((c) => {
    const r = verifyAlert(hex(c.message), [root.pub], v.references.now, seqs, known);
    if (r.verdict === 'accepted') {
      knowAlert(known, r);
      if (!seqs.has(r.issuer)) seqs.set(r.issuer, new Set());
      seqs.get(r.issuer).add(r.seq);
    }
    return [c.why, r.verdict === c.verdict];
  });
  checks.references_all = checks.references.every(([, ok]) => ok);
  checks.reconciliation = reconVectorChecks(v.reconciliation);
  checks.recon_ghosts_and_known = checks.reconciliation.every((c) => c.fingerprints && c.ghosts && c.replies);
  return checks;
}
// §10.2 vectors: each side's set built from the vector's description, the peer's reconciler
// answering every payload of the other side, byte for byte, and the ghosts each side collects.
function reconVectorChecks(cases) {
  const hex = (s) => Buffer.from(s, 'hex');
  const itemOf = (i) => ({ created: 1790000000 + Math.floor(i / 3), id: sha256(ascii('meshnode recon vector ' + i)).subarray(0, 16) });
  const side = (otherOnly, held, ghosts) => {
    const o = new Set(otherOnly), h = new Set(held), g = new Set(ghosts);
    return [...Array(640).keys()].filter((i) => !o.has(i))
      .map((i) => ({ ...itemOf(i), cls: h.has(i) || g.has(i) ? 0 : 1, ghost: g.has(i) }));
  };
  const fpOf = (items) => fingerprint(sortItems(items.map((i) => ({ ...i, h: itemH(i.id, i.cls) })))).toString('hex');
  const same = (m, o) => m.size === Object.keys(o).length && Object.entries(o).every(([k, t]) => m.get(k) === t);
  return cases.filter((c) => c.frame_limit === 4096).map((c) => {
    const ini = side(c.only_responder, c.initiator_held, c.initiator_ghosts);
    const res = side(c.only_initiator, c.responder_held, c.responder_ghosts);
    const a = new Reconciler(ini, true), b = new Reconciler(res, false);
    const frames = c.frames.map(hex);
    let replies = a.opening().equals(frames[0]);
    for (let i = 0; i < frames.length; i++) {
      const reply = (i % 2 ? a : b).receive(frames[i]);
      replies &&= i + 1 < frames.length ? reply !== null && reply.equals(frames[i + 1]) : reply === null;
    }
    return {
      name: c.name, replies,
      fingerprints: fpOf(ini) === c.initiator_set_fingerprint && fpOf(res) === c.responder_set_fingerprint,
      ghosts: same(a.collected, c.initiator_learns_ghosts) && same(b.collected, c.responder_learns_ghosts),
      known_ranges: frames.filter((_, i) => i % 2 === 0).reduce((n, f) => n + (decodeCanonical(f).get(3) ?? []).filter((r) => r[0] === 4).length, 0),
    };
  });
}
// §14 and docs/hardware.md: what an iOS-style (`uuid` profile, central-limited) device puts
// on the air and serves over GATT, computed from the documents.
const SERVICE_UUID = '092993ba-5aa2-44d6-bb5e-de14ccf19d72';
const uuidLE = () => Buffer.from(SERVICE_UUID.replace(/-/g, ''), 'hex').reverse();
function bleToken(secret, unixTime) {
  return hmac(secret, ascii('meshnode/v1/adv'), i2osp(Math.floor(unixTime / 900), 4)).subarray(0, 8);
}
function bleValues(secret, unixTime) {
  const token = bleToken(secret, unixTime);
  return {
    token,
    advert_service_data: Buffer.concat([Buffer.from([2, 1, 6, 0x1a, 0x21]), uuidLE(), Buffer.from([0x10]), token]),
    advert_uuid: Buffer.concat([Buffer.from([2, 1, 6, 0x11, 0x07]), uuidLE()]),
    token_value: Buffer.concat([Buffer.from([0x10, 0x00]), token]),
    token_value_central_limited: Buffer.concat([Buffer.from([0x10, 0x01]), token]),
    info: Buffer.concat([Buffer.from([1, 0]), i2osp(8256, 4)]),
  };
}
function bleSelftest(path) {
  const all = JSON.parse(fs.readFileSync(path, 'utf8'));
  const b = all.ble;
  const refusedOk = all.refused.every((r) => { try { parseDatagram(Buffer.from(r.hex, 'hex')); return false; } catch (e) { return e.field === r.field; } });
  const parsedOk = all.datagrams.every((d) => {
    const p = parseDatagram(Buffer.from(d.hex, 'hex'));
    return p.type === d.type && Object.entries(d).every(([k, v]) => ['name', 'type', 'hex'].includes(k) || (k === 'fragments' ? p.fragments.map((f) => f.toString('hex')).join() === v.join() : String(typeof p[k] === 'bigint' ? p[k] : p[k].toString('hex')) === String(v)));
  });
  const mine = bleValues(Buffer.from(b.secret, 'hex'), b.unix_time);
  return { link_datagrams_parsed: parsedOk, link_datagrams_refused: refusedOk, ble_ios_profile: ['token', 'advert_service_data', 'advert_uuid', 'token_value', 'token_value_central_limited', 'info']
    .every((k) => mine[k].toString('hex') === b[k]) };
}

function makeReceiptFrom(opened, rm) {
  return encode({ 1: bin(rm.fields.get(1)), 2: bin(opened.ack.pub), 3: rm.fields.get(3), 4: rm.fields.get(4) });
}

// ---------------------------------------------------------------- main

const argv = process.argv.slice(2);
if (argv[0] === 'selftest') {
  const c = selftest(argv[1]);
  if (argv[2]) Object.assign(c, bleSelftest(argv[2]));
  console.log(JSON.stringify(c));
  const ok = Object.values(c).filter((x) => typeof x === 'boolean').every(Boolean) && c.invalid_accepted.length === 0;
  process.exit(ok ? 0 : 1);
} else if (argv[0] === 'run') {
  const opt = (name, d) => { const i = argv.indexOf('--' + name); return i >= 0 ? argv[i + 1] : d; };
  const opts = { daemon: opt('daemon'), api: opt('api'), posts: Number(opt('posts', '2000')), timeout: Number(opt('timeout', '60')), verbose: argv.includes('--verbose'), roles: opt('roles', 'any,any').split(',') };
  run(opts).then((r) => { console.log(JSON.stringify(r)); process.exit(0); },
    (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(1); });
} else if (argv[0] === 'serve') {
  const opt = (name, d) => { const i = argv.indexOf('--' + name); return i >= 0 ? argv[i + 1] : d; };
  serve({ listen: opt('listen', '127.0.0.1:4917'), root: opt('root'), role: opt('role', 'any'), seconds: Number(opt('seconds', '120')), verbose: argv.includes('--verbose') })
    .then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
} else {
  console.error('usage: peer.mjs selftest VECTORS | run --daemon HOST:PORT --api SOCKET [--posts N]');
  process.exit(2);
}
