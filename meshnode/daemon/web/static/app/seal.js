// Sealed direct messages (docs/protocol.md §5): HPKE base mode (RFC 9180) with
// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, single shot; the pair tag
// (keyed by the X25519 secret sender and recipient share, so only those two can compute it);
// Hello field 3 (§10); receipts. Opening fails with one error whatever went wrong.

import { chacha20poly1305, ed25519, hkdfExpand, hkdfExtract, hmac, sha256, x25519 }
  from '../vendor/crypto.js';
import { compare, concat, decode, encode, equal, utf8 } from './msgpack.js';
import { Kind, makeMessage, messageId, verify } from './wire.js';

const DAY = 86400;
const z = (s) => concat(utf8(s), Uint8Array.of(0));
const TAG_DOMAIN = z('meshnode/v2/pair-tag');
const HELLO_TAG_DOMAIN = z('meshnode/v1/hello-tag');
const INFO_DOMAIN = z('meshnode/v1/dm');
const INNER_DOMAIN = z('meshnode/v1/dm-inner');
const i2osp = (n, len) => Uint8Array.from({ length: len }, (_, i) => (n >> (8 * (len - 1 - i))) & 0xff);

export class OpenError extends Error {
  constructor() { super('cannot open this direct message'); }
}

/** The X25519 secret our `dhSeed` shares with the holder of `peerDh`, or null for a key no
 *  secret can be agreed with (a small-order point gives the all-zero secret). */
export function pairSecret(dhSeed, peerDh) {
  try {
    const secret = x25519.getSharedSecret(dhSeed, peerDh);
    return secret.some((b) => b !== 0) ? secret : null;
  } catch {
    return null;
  }
}

/** The tag relays see on a DM to `recipientDh` made on UTC day `day`, between the two holders
 *  of the pair `secret` (§5 step 2): A's DMs to B and B's to A differ. */
export function recipientTag(secret, recipientDh, day) {
  return hmac(sha256, secret, concat(TAG_DOMAIN, recipientDh, i2osp(day, 4))).slice(0, 16);
}

export const helloTag = (nonce, tag) => sha256(concat(HELLO_TAG_DOMAIN, nonce, tag)).slice(0, 16);
export const dayOf = (t) => Math.floor(t / DAY);

export const MAX_TAGS = 128; // Hello field 3: pair tags of 64 contacts for two days, padded
const MIN_FIELD = 8;

/** Hello field 3 (§10): `tags` blinded with `nonce`, then `pad(16)` entries up to the smallest
 *  power of two that holds them (8..128), sorted so padding and tags look alike. */
export function helloField(nonce, tags, pad) {
  const out = tags.slice(0, MAX_TAGS).map((t) => helloTag(nonce, t));
  let size = MIN_FIELD;
  while (size < out.length) size *= 2;
  while (out.length < size) out.push(pad(16));
  return out.sort(compare);
}

// --- HPKE (RFC 9180 §4, §5.1, base mode) -----------------------------------------------------

const KEM_ID = concat(utf8('KEM'), i2osp(0x20, 2));
const SUITE_ID = concat(utf8('HPKE'), i2osp(0x20, 2), i2osp(1, 2), i2osp(3, 2));
const V1 = utf8('HPKE-v1');
const extract = (suite, salt, label, ikm) => hkdfExtract(sha256, concat(V1, suite, utf8(label), ikm), salt);
const expand = (suite, prk, label, info, n) =>
  hkdfExpand(sha256, prk, concat(i2osp(n, 2), V1, suite, utf8(label), info), n);

function sharedSecret(dh, enc, pkR) {
  const prk = extract(KEM_ID, new Uint8Array(0), 'eae_prk', dh);
  return expand(KEM_ID, prk, 'shared_secret', concat(enc, pkR), 32);
}

function schedule(shared, info) {
  const none = new Uint8Array(0);
  const context = concat(Uint8Array.of(0), extract(SUITE_ID, none, 'psk_id_hash', none),
    extract(SUITE_ID, none, 'info_hash', info));
  const secret = extract(SUITE_ID, shared, 'secret', none);
  return { key: expand(SUITE_ID, secret, 'key', context, 32),
    nonce: expand(SUITE_ID, secret, 'base_nonce', context, 12) };
}

export function hpkeSeal(pkR, info, plaintext, skE = x25519.utils.randomPrivateKey()) {
  const enc = x25519.getPublicKey(skE);
  const { key, nonce } = schedule(sharedSecret(x25519.getSharedSecret(skE, pkR), enc, pkR), info);
  return concat(enc, chacha20poly1305(key, nonce).encrypt(plaintext));
}

export function hpkeOpen(skR, info, sealed) {
  const enc = sealed.slice(0, 32);
  const pkR = x25519.getPublicKey(skR);
  const { key, nonce } = schedule(sharedSecret(x25519.getSharedSecret(skR, enc), enc, pkR), info);
  return chacha20poly1305(key, nonce).decrypt(sealed.slice(32));
}

// --- the DM ---------------------------------------------------------------------------------

const hpkeInfo = (tag, created, expires, ackKey) => concat(INFO_DOMAIN, encode([tag, created, expires, ackKey]));
const innerSigned = (dh, ackKey, created, expires, text) =>
  concat(INNER_DOMAIN, encode([dh, ackKey, created, expires, text]));

function padded(inner) {
  const base = encode(inner).length;
  const m = new Map(inner);
  m.set(6, new Uint8Array((((-(base + 3)) % 64) + 64) % 64));
  return encode(m);
}

/** A sealed DM from `me` ({signSeed, signKey, dhKey}) to `to` ({signKey, dhKey}). */
export function sealDm(me, to, text, now, ttl = 7 * DAY) {
  const n = utf8(text).length;
  if (n < 1 || n > 4096) throw new Error('a direct message holds 1..4096 bytes');
  const created = now; const expires = now + ttl;
  const ackSeed = ed25519.utils.randomPrivateKey();
  const ackKey = ed25519.getPublicKey(ackSeed);
  const secret = pairSecret(me.dhSeed, to.dhKey);
  if (!secret) throw new Error('no key can be agreed with this card');
  const tag = recipientTag(secret, to.dhKey, dayOf(created));
  const inner = new Map([[1, me.signKey], [2, me.dhKey], [3, text], [4, ackSeed],
    [5, ed25519.sign(innerSigned(to.dhKey, ackKey, created, expires, text), me.signSeed)]]);
  const sealed = hpkeSeal(to.dhKey, hpkeInfo(tag, created, expires, ackKey), padded(inner));
  const body = new Map([[1, tag], [2, created], [3, expires], [4, ackKey], [5, sealed]]);
  return makeMessage(Kind.DM, body, ackSeed, 16, 8);
}

/** Open a DM (its verified body `dm`) with `me` ({dhSeed, dhKey}); OpenError on any failure.
 *  The tag cannot say whether a DM is ours (only a sender we know would give a tag we can
 *  compute), so every DM is tried: HPKE decides. */
export function openDm(me, msg, dm) {
  try {
    const plain = hpkeOpen(me.dhSeed, hpkeInfo(dm.tag, dm.created, dm.expires, dm.ackKey), dm.sealed);
    const m = decode(plain, { maxItems: 6 });
    const [signKey, dhKey, text, ackSeed, sig] = [1, 2, 3, 4, 5].map((k) => m.get(k));
    const ok = m instanceof Map && m.size === 6 && signKey?.length === 32 && dhKey?.length === 32
      && typeof text === 'string' && ackSeed?.length === 32 && sig?.length === 64;
    if (!ok) throw new OpenError();
    const inner = new Map([[1, signKey], [2, dhKey], [3, text], [4, ackSeed], [5, sig]]);
    if (!equal(padded(inner), plain)) throw new OpenError();
    if (!equal(ed25519.getPublicKey(ackSeed), dm.ackKey)) throw new OpenError();
    if (!verify(signKey, sig, innerSigned(me.dhKey, dm.ackKey, dm.created, dm.expires, text))) {
      throw new OpenError();
    }
    return { id: messageId(msg), sender: { signKey, dhKey }, text, created: dm.created, ackSeed };
  } catch {
    throw new OpenError();
  }
}

export function receiptFor(opened, now, ttl = 7 * DAY) {
  const ackKey = ed25519.getPublicKey(opened.ackSeed);
  const body = new Map([[1, opened.id], [2, ackKey], [3, now], [4, now + ttl]]);
  return makeMessage(Kind.RECEIPT, body, opened.ackSeed, 16, 1);
}
