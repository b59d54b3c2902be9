// Sync frames (docs/protocol.md §10): the canonical array [type, body], one per WebSocket
// binary message.

import { sha256 } from '../vendor/crypto.js';
import { WireError, concat, decode, encode, utf8 } from './msgpack.js';

export const Frame = { HELLO: 1, RECON: 2, WANT: 3, MSG: 4, DONE: 5 };
export const MAX_FRAME = 8256;
export const SYNC_VERSION = 2; // 2: Hello field 3 holds blinded, padded pair tags (§8)
const DIGEST_DOMAIN = concat(utf8('meshnode/v1/hello-digest'), Uint8Array.of(0));

export const blindDigest = (nonce, fp) => sha256(concat(DIGEST_DOMAIN, nonce, fp)).slice(0, 12);

// `least` 1 for Hello fields 3 and 4: sent only when not empty (§10), so an empty one is not
// canonical; a Want may be empty.
function chunks(raw, size, max, what, least = 0) {
  if (!(raw instanceof Uint8Array) || raw.length % size || raw.length > size * max
      || raw.length < least * size) {
    throw new WireError(`${what}: bad length`);
  }
  const out = [];
  for (let i = 0; i < raw.length; i += size) out.push(raw.slice(i, i + size));
  return out;
}

export function encodeHello(h) {
  const m = new Map([[1, SYNC_VERSION], [2, h.nonce]]);
  if (h.tags && h.tags.length) m.set(3, concat(...h.tags));
  if (h.trustIds && h.trustIds.length) m.set(4, concat(...h.trustIds));
  if (h.alerts && h.alerts.length) m.set(5, h.alerts);
  if (h.digest) m.set(7, h.digest);
  return encode([Frame.HELLO, m]);
}

export const encodeRecon = (data) => encode([Frame.RECON, data]);
export const encodeWant = (ids) => encode([Frame.WANT, concat(...ids)]);
export const encodeMsg = (data) => encode([Frame.MSG, data]);
export const encodeDone = () => encode([Frame.DONE, null]);

const isSeq = (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0)
  || (typeof v === 'bigint' && v >= 0n && v < 2n ** 63n);

// Hello field 5 (§10): [[issuer_id, [seq, ...]], ...], at most 32 issuers of 1..64 numbers.
function alertVector(v) {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.length || v.length > 32) throw new WireError('hello.alerts'); // never empty (§10)
  for (const item of v) {
    if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== 'string'
        || !item[0].length || utf8(item[0]).length > 64 || !Array.isArray(item[1])
        || !item[1].length || item[1].length > 64 || !item[1].every(isSeq)) {
      throw new WireError('hello.alerts: expected [issuer_id, [seq, ...]]');
    }
  }
  return v;
}

export function decodeFrame(data) {
  if (data.length > MAX_FRAME || data.length === 0) throw new WireError('frame: size');
  const obj = decode(data, { maxItems: 64 });
  if (!Array.isArray(obj) || obj.length !== 2) throw new WireError('frame: expected [type, body]');
  const [type, body] = obj;
  switch (type) {
    case Frame.HELLO: {
      if (!(body instanceof Map)) throw new WireError('hello: expected a map');
      for (const k of body.keys()) if (k < 1 || k > 7) throw new WireError('hello: key');
      if (body.get(1) !== SYNC_VERSION) throw new WireError('hello: sync version');
      const nonce = body.get(2);
      if (!(nonce instanceof Uint8Array) || nonce.length !== 8) throw new WireError('hello: nonce');
      const digest = body.get(7);
      if (digest !== undefined && !(digest instanceof Uint8Array && digest.length === 12)) {
        throw new WireError('hello: digest');
      }
      return { type, nonce, tags: body.has(3) ? chunks(body.get(3), 16, 128, 'hello.tags', 1) : [],
        trustIds: body.has(4) ? chunks(body.get(4), 16, 128, 'hello.trust_ids', 1) : [],
        alerts: alertVector(body.get(5)), digest: digest || null };
    }
    case Frame.RECON:
      if (!(body instanceof Uint8Array) || body.length < 1 || body.length > 8192) {
        throw new WireError('recon: size');
      }
      return { type, data: body };
    case Frame.WANT: return { type, ids: chunks(body, 16, 256, 'want') };
    case Frame.MSG:
      if (!(body instanceof Uint8Array) || body.length < 1 || body.length > 8192) {
        throw new WireError('msg: size');
      }
      return { type, data: body };
    case Frame.DONE:
      if (body !== null) throw new WireError('done: expected nil');
      return { type };
    default: throw new WireError('frame: unknown type');
  }
}
