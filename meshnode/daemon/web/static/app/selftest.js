// Checks of the browser node's modules against the protocol's vectors (tests/vectors/v1.json),
// shared by node (tests/web/js/vectors.mjs) and the headless-Chromium test: `run(vectors)`.

import { x25519 } from '../vendor/crypto.js';
import { decodeFrame, blindDigest } from './frames.js';
import { WireError, decode, encode, equal, hex, unhex } from './msgpack.js';
import { GHOST, GIVES_LIVE, HELD, ItemSet, Reconciler } from './recon.js';
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
  // Reconciliation (§10.2): fingerprints and the Hello digest; this module's two roles
  // against the reference's payloads, byte for byte in both directions; and a session between
  // them learning what the reference learns (the difference, the peer's flags, the ghosts).
  let sparse = null; // the last vector's two sides, for the refusals below
  for (const r of v.reconciliation) {
    const all = Array.from({ length: 640 }, (_, i) => ({ t: 1790000000 + Math.floor(i / 3) * r.spacing,
      id: sha256(new TextEncoder().encode(`meshnode recon vector ${i}`)).slice(0, 16) }));
    const side = (absent, held, ghosts) => {
      const zero = new Set([...held, ...ghosts]);
      const gone = new Set(absent);
      const set = new ItemSet(all.flatMap((x, i) => (gone.has(i) ? []
        : [{ ...x, cls: zero.has(i) ? 0 : 1, ghost: ghosts.includes(i) }])));
      const describe = (item) => (item.ghost ? GHOST : item.cls ? GIVES_LIVE : HELD);
      return { set, peer: (initiator) => new Reconciler(set, initiator, describe, r.frame_limit) };
    };
    const a = side(r.only_responder, r.initiator_held, r.initiator_ghosts);
    const b = side(r.only_initiator, r.responder_held, r.responder_ghosts);
    const whole = (s) => s.set.fingerprint(0, s.set.length);
    attempt(`${r.name}: initiator fingerprint`, () => hex(whole(a)) === r.initiator_set_fingerprint);
    attempt(`${r.name}: responder fingerprint`, () => hex(whole(b)) === r.responder_set_fingerprint);
    attempt(`${r.name}: hello digest`, () => hex(blindDigest(unhex('0001020304050607'), whole(a)))
      === r['initiator_hello_digest_nonce_0001020304050607']);
    attempt(`${r.name}: initiator's payloads`, () => {
      const ini = a.peer(true);
      const sent = [hex(ini.initiate())];
      for (let i = 1; i < r.frames.length; i += 2) {
        const reply = ini.receive(unhex(r.frames[i]));
        if (reply) sent.push(hex(reply));
      }
      return sent.join() === r.frames.filter((_, i) => i % 2 === 0).join();
    });
    attempt(`${r.name}: responder's payloads`, () => {
      const res = b.peer(false);
      return r.frames.every((f, i) => i % 2 === 1 || hex(res.receive(unhex(f))) === r.frames[i + 1]);
    });
    attempt(`${r.name}: session`, () => {
      const ini = a.peer(true);
      const res = b.peer(false);
      let msg = ini.initiate();
      const learnt = new Map();
      for (let round = 0; round < 200 && msg; round++) {
        const reply = res.receive(msg);
        for (const g of res.takeGhosts()) learnt.set(hex(g.id), g.t);
        msg = ini.receive(reply);
      }
      const same = (got, want) => JSON.stringify(Object.fromEntries([...got].sort()))
        === JSON.stringify(Object.fromEntries(Object.entries(want).sort()));
      const ids = (list) => list.map(hex).sort().join();
      return msg === null && ids(ini.haveIds) === [...r.have_ids].sort().join()
        && ids(ini.needIds) === [...r.need_ids].sort().join()
        && same(ini.needIds.map((id) => [hex(id), ini.peerFlag(id)]), r.need_flags)
        && same(ini.takeGhosts().map((g) => [hex(g.id), g.t]), r.initiator_learns_ghosts)
        && same(learnt, r.responder_learns_ghosts);
    });
    sparse = { r, a, b };
  }
  reconRefusals(sparse, attempt);
  return { passed, failed };
}

// §10.2 "Refusals", on the last vector's payloads edited: each edit is refused with a
// WireError, and a refused message changes nothing (the genuine one is then answered as the
// reference answers it).
function reconRefusals({ r, a, b }, attempt) {
  const [opening, list] = r.frames.map(unhex);
  const edit = (raw, fn) => { const m = decode(raw); fn(m); return encode(m); };
  const refused = (peer, bad) => {
    try { peer.receive(bad); return false; } catch (e) { return e instanceof WireError; }
  };
  const responder = b.peer(false);
  const toResponder = {
    'version 1': edit(opening, (m) => m.set(1, 1)),
    'no opening first': edit(opening, (m) => m.delete(1)),
    'more from the initiator': edit(opening, (m) => m.set(4, 1)),
    'since 0': edit(opening, (m) => m.set(2, 0)),
    'an ID_DIFF to the responder': encode(new Map([[1, 2], [3, [[3, 0, new Uint8Array(Math.ceil(b.set.length / 8)),
      new Uint8Array(0), new Uint8Array(0), []]]]])),
  };
  for (const [why, bad] of Object.entries(toResponder)) {
    attempt(`recon refused: ${why}`, () => refused(responder, bad));
  }
  attempt('recon: the responder answers as before', () => hex(responder.receive(opening)) === r.frames[1]);
  const initiator = a.peer(true);
  initiator.initiate();
  const row = (m) => m.get(3)[0]; // [2, dt, ids, flags, times, prefix]: one id HELD, the rest live
  const toInitiator = {
    'a GHOST of class 1': edit(list, (m) => { const f = row(m)[3]; f[f.indexOf(1)] = 4; }),
    'a reserved flag bit': edit(list, (m) => { row(m)[3][0] |= 8; }),
    'a flag too many': edit(list, (m) => { row(m)[3] = Uint8Array.of(...row(m)[3], 7); }),
    'a time too many': edit(list, (m) => { row(m)[4].push(1790000001); }),
    'a time outside its range': edit(list, (m) => { row(m)[4] = [1790000099]; }),
    'a repeated id': edit(list, (m) => { row(m)[2].copyWithin(16, 0, 16); }),
    'a KNOWN range to the initiator': edit(list, (m) => {
      const [, dt, , , , prefix] = row(m);
      m.get(3)[0] = [4, dt, new Uint8Array(0), new Uint8Array(0), [], prefix];
    }),
  };
  for (const [why, bad] of Object.entries(toInitiator)) {
    attempt(`recon refused: ${why}`, () => refused(initiator, bad));
  }
  attempt('recon: the initiator answers as before', () => hex(initiator.receive(list)) === r.frames[2]);
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
