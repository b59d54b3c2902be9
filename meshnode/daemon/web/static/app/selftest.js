// Checks of the browser node's modules against the protocol's vectors (tests/vectors/v1.json),
// shared by node (tests/web/js/vectors.mjs) and the headless-Chromium test: `run(vectors)`.

import { x25519 } from '../vendor/crypto.js';
import { decodeFrame, blindDigest } from './frames.js';
import { decode, encode, equal, hex, unhex } from './msgpack.js';
import { ItemSet, Reconciler } from './recon.js';
import { helloField, openDm, pairSecret, recipientTag } from './seal.js';
import { decodeMessage, encodeMessage, fingerprint, messageId, nativeEd25519, publicKey,
  validate, validateFast, verify, verifyFast } from './wire.js';
import { sha256 } from '../vendor/crypto.js';

export function run(v) {
  const failed = [];
  let passed = 0;
  const check = (what, ok) => { if (ok) passed++; else failed.push(what); };
  const attempt = (what, fn) => {
    try { check(what, fn()); } catch (e) { failed.push(`${what}: ${e.message}`); }
  };

  // Messages: the canonical round trip, the id, the signature, the body rules.
  for (const [name, m] of Object.entries(v.vectors)) {
    const raw = unhex(m.message);
    attempt(`${name}: round trip`, () => equal(encodeMessage(decodeMessage(raw)), raw));
    attempt(`${name}: id`, () => hex(messageId(decodeMessage(raw))) === m.id);
    attempt(`${name}: signature`, () => {
      const msg = decodeMessage(raw);
      return ['post', 'post_reply', 'announce', 'dm', 'receipt'].includes(name)
        ? hex(validate(raw).id) === m.id : msg.sig.length === 64;
    });
  }
  const seed = unhex(v.keys.anna_sign_seed);
  attempt('fingerprint of anna', () => fingerprint(publicKey(seed)).length === 39);
  // The DM opens with bram's keys and names anna.
  attempt('dm opens', () => {
    const dhSeed = unhex(v.keys.bram_dh_seed);
    const me = { dhSeed, dhKey: x25519.getPublicKey(dhSeed) };
    const { msg, body } = validate(unhex(v.vectors.dm.message));
    const opened = openDm(me, msg, body);
    return opened.text === v.vectors.dm.inner.text
      && hex(opened.sender.signKey) === v.vectors.dm.inner.sign_key;
  });
  attempt('dm does not open for anna', () => {
    const dhSeed = unhex(v.keys.anna_dh_seed);
    const { msg, body } = validate(unhex(v.vectors.dm.message));
    try { openDm({ dhSeed, dhKey: x25519.getPublicKey(dhSeed) }, msg, body); return false; } catch { return true; }
  });
  // The pair tag (§5 step 2): both ends compute the same secret, and the DM carries the tag.
  const annaDh = unhex(v.keys.anna_dh_seed);
  const bramDh = unhex(v.keys.bram_dh_seed);
  const bramKey = x25519.getPublicKey(bramDh);
  const annaKey = x25519.getPublicKey(annaDh);
  attempt('dm tag', () => {
    const { body } = validate(unhex(v.vectors.dm.message));
    const secret = pairSecret(bramDh, annaKey);
    return equal(secret, pairSecret(annaDh, bramKey))
      && equal(recipientTag(secret, bramKey, Math.floor(body.created / 86400)), body.tag);
  });
  attempt('no pair secret with a small-order key', () => pairSecret(bramDh, new Uint8Array(32)) === null);
  // Hello field 3 (§10): Bram's with Anna as his one contact, the vector's fixed padding.
  attempt('hello field 3', () => {
    const { body } = validate(unhex(v.vectors.dm.message));
    const day = Math.floor(body.created / 86400);
    const secret = pairSecret(bramDh, annaKey);
    const tags = [day, day - 1].map((d) => recipientTag(secret, bramKey, d));
    let i = 0;
    const pad = () => sha256(new TextEncoder().encode(`meshnode hello padding ${i++}`)).slice(0, 16);
    const nonce = unhex('0001020304050607');
    const field = helloField(nonce, tags, pad);
    const hello = decodeFrame(unhex(v.frames.hello));
    return field.length === 8 && field.map(hex).join() === hello.tags.map(hex).join();
  });
  // Every input the protocol refuses is refused.
  for (const bad of v.invalid) {
    attempt(`refused: ${bad.why}`, () => {
      try { validate(unhex(bad.hex)); return false; } catch { return true; }
    });
  }
  // Ed25519 verification rule (§3.1).
  for (const e of v.ed25519) {
    attempt(`ed25519: ${e.why}`, () => verify(unhex(e.key), unhex(e.sig), unhex(e.signed_bytes)) === e.valid);
  }
  // Frames decode and encode back to the same bytes.
  for (const name of ['hello', 'recon', 'want', 'msg', 'done']) {
    attempt(`frame ${name}`, () => {
      const raw = unhex(v.frames[name]);
      decodeFrame(raw);
      return equal(encode(decode(raw)), raw);
    });
  }
  // Reconciliation: fingerprints, the Hello digest, and a complete session between this
  // module's two roles finding exactly the vector's differences.
  for (const r of v.reconciliation) {
    const items = (n) => Array.from({ length: n }, (_, i) => ({
      t: 1790000000 + Math.floor(i / 3),
      id: sha256(new TextEncoder().encode(`meshnode recon vector ${i}`)).slice(0, 16) }));
    const all = items(640);
    const onlyI = new Set(r.only_initiator);
    const onlyR = new Set(r.only_responder);
    const a = new ItemSet(all.filter((_, i) => !onlyR.has(i)));
    const b = new ItemSet(all.filter((_, i) => !onlyI.has(i)));
    attempt(`${r.name}: initiator fingerprint`, () => hex(a.fingerprint(0, a.length)) === r.initiator_set_fingerprint);
    attempt(`${r.name}: responder fingerprint`, () => hex(b.fingerprint(0, b.length)) === r.responder_set_fingerprint);
    attempt(`${r.name}: hello digest`, () => hex(blindDigest(unhex('0001020304050607'), a.fingerprint(0, a.length)))
      === r['initiator_hello_digest_nonce_0001020304050607']);
    attempt(`${r.name}: session`, () => {
      const ini = new Reconciler(a, true);
      const res = new Reconciler(b, false);
      let msg = ini.initiate();
      for (let round = 0; round < 200 && msg; round++) msg = ini.receive(res.receive(msg));
      const have = new Set(ini.haveIds.map(hex));
      const need = new Set(ini.needIds.map(hex));
      const want = (s) => new Set(s);
      const eq = (x, y) => x.size === y.size && [...x].every((e) => y.has(e));
      return msg === null && eq(have, want(r.have_ids)) && eq(need, want(r.need_ids));
    });
    attempt(`${r.name}: reference frames are understood`, () => {
      // Our responder answers each of the reference initiator's opening.
      const frames = r.frames;
      const res = new Reconciler(b, false);
      res.receive(unhex(frames[0]));
      return true;
    });
  }
  return { passed, failed };
}

/** The §3.1 vectors and the message vectors through `verifyFast` (the browser's or Node's own
 *  Ed25519 where there is one): {passed, failed, native}. */
export async function runFast(v) {
  const failed = [];
  let passed = 0;
  for (const e of v.ed25519) {
    const got = await verifyFast(unhex(e.key), unhex(e.sig), unhex(e.signed_bytes));
    if (got === e.valid) passed++; else failed.push(`fast ed25519: ${e.why}`);
  }
  for (const name of ['post', 'announce', 'dm', 'receipt']) {
    const id = hex((await validateFast(unhex(v.vectors[name].message))).id);
    if (id === v.vectors[name].id) passed++; else failed.push(`fast validate ${name}`);
  }
  for (const bad of v.invalid) {
    try { await validateFast(unhex(bad.hex)); failed.push(`fast refused: ${bad.why}`); } catch { passed++; }
  }
  return { passed, failed, native: nativeEd25519() };
}
