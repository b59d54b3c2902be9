// The browser node's alert verification (app/alerts.js, app/cap.js) against the protocol's
// authority vectors (tests/vectors/v1.json): the signed alert verifies through its chain, the
// revocation withdraws its certificate, every `cap` vector is accepted or refused as listed,
// every refused certificate body is refused, and each `geometry` case gets its documented
// verdict (§6.6) through the whole §6.5 check. Also a forged chain of each kind is refused with
// the reason the Python node gives. `checkAlerts(vectors)` returns {passed, failed}.

import { ed25519 } from '../../../meshnode/daemon/web/static/vendor/crypto.js';
import { AlertBook, Reason, makeRoot, readCert, verifyAlert, verifyRevoke }
  from '../../../meshnode/daemon/web/static/app/alerts.js';
import { covers, readCap } from '../../../meshnode/daemon/web/static/app/cap.js';
import { decode, encode, hex, unhex } from '../../../meshnode/daemon/web/static/app/msgpack.js';
import { Kind, decodeMessage, encodeMessage, makeMessage } from '../../../meshnode/daemon/web/static/app/wire.js';

export function checkAlerts(v) {
  const failed = [];
  let passed = 0;
  const check = (what, ok) => { if (ok) passed++; else failed.push(what); };
  const attempt = (what, fn) => {
    try { check(what, fn()); } catch (e) { failed.push(`${what}: ${e.stack}`); }
  };
  const rootKey = ed25519.getPublicKey(unhex(v.keys.root_seed));
  const root = makeRoot(rootKey, 'Test root');
  const trust = () => ({ roots: [root], revoked: new Set() });
  const alert = unhex(v.vectors.alert.message);
  const now = v.geometry.now; // the vectors' creation time + 60 s
  const reason = (data, t = trust(), at = now) => {
    const got = verifyAlert(data, t, at);
    return got.ok ? 'ok' : got.reason;
  };

  attempt('alert vector verifies through its chain', () => {
    const got = verifyAlert(alert, trust(), now);
    return got.ok && got.cert.name === v.vectors.cert.fields.name && got.root === root
      && hex(got.id) === v.vectors.alert.id;
  });
  attempt('alert vector: unknown root without the pin', () =>
    reason(alert, { roots: [], revoked: new Set() }) === Reason.UNKNOWN_ROOT);
  attempt('alert vector: the revocation vector withdraws its certificate', () => {
    const t = trust();
    const rev = verifyRevoke(unhex(v.vectors.revoke.message), t);
    if (!rev.ok) return false;
    for (const s of rev.rev.serials) t.revoked.add(`${hex(rev.rev.rootId)}:${s}`);
    return reason(alert, t) === Reason.REVOKED;
  });
  attempt('alert vector: expired later', () =>
    reason(alert, trust(), v.vectors.alert.fields.expires) === Reason.ALERT_EXPIRED);
  attempt('alert vector: certificate expired later', () =>
    reason(alert, trust(), v.vectors.cert.fields.not_after + 1) === Reason.CERT_EXPIRED);
  attempt('alert vector: certificate not yet valid (sent before not_before)', () =>
    reason(alert, trust(), v.vectors.cert.fields.not_before - 7200) !== 'ok');
  attempt('alert vector: sent an hour and more ahead of the clock', () =>
    reason(alert, trust(), decodeCapOf(alert).sent - 3601) === Reason.SENT_IN_FUTURE);

  // Forgeries: a flipped bit of the alert's signature, of the certificate's root signature,
  // and a certificate the pinned root never signed (a second root posing as it).
  attempt('forged: alert signature', () => reason(flip(alert, 'sig')) === Reason.BAD_SIGNATURE);
  attempt('forged: certificate signature', () => reason(withBody(alert, (m) => {
    m.set(2, Uint8Array.from(m.get(2), (b, i) => (i === 0 ? b ^ 1 : b)));
  })) === Reason.BAD_SIGNATURE);
  attempt('forged: issuer certified by another root under the pinned root id', () => {
    const impostor = unhex(v.keys.root2_seed);
    const m = bodyMap(alert);
    const cert = m.get(1);
    m.set(2, ed25519.sign(concatSigned(Kind.CERT, cert), impostor));
    return reason(resign(m, unhex(v.keys.issuer_seed))) === Reason.BAD_SIGNATURE;
  });
  attempt('forged: alert signed by a key that is not the certificate\'s', () => {
    const m = bodyMap(alert);
    return reason(resign(m, unhex(v.keys.anna_sign_seed))) === Reason.BAD_SIGNATURE;
  });
  attempt('alert book: replay of the same sequence number refused', () => {
    const book = new AlertBook({ pins: [{ key: hex(rootKey), name: 'Test root' }] }, () => null, now);
    const first = book.take(alert, now);
    const m = bodyMap(alert);
    const again = book.take(resign(m, unhex(v.keys.issuer_seed), 7), now); // other routing: same id
    const twin = verifyAlert(alert, book.trust, now, { seqs: book.seqs });
    return first.ok && again === null && twin.reason === Reason.SEQUENCE_REPLAYED
      && book.current(now).length === 1;
  });
  attempt('alert book: a forged copy (same id) does not keep the genuine alert out', () => {
    const book = new AlertBook({ pins: [{ key: hex(rootKey), name: 'Test root' }] }, () => null, now);
    const forged = book.take(flip(alert, 'sig'), now);
    const genuine = book.take(alert, now);
    return forged.reason === Reason.BAD_SIGNATURE && genuine.ok && book.current(now).length === 1;
  });
  attempt('alert book: pins once, keeps its first roots', () => {
    const book = new AlertBook({}, () => null, now);
    const before = book.take(alert, now);
    const pinned = book.pin([{ key: hex(rootKey), name: 'Test root' }]);
    const after = book.take(alert, now);
    const second = book.pin([{ key: hex(ed25519.getPublicKey(unhex(v.keys.root2_seed))), name: 'x' }]);
    return before.reason === Reason.UNKNOWN_ROOT && pinned && after.ok && !second
      && book.roots().length === 1;
  });

  for (const c of v.cap.accepted) attempt(`cap accepted: ${c.why}`, () => readCap(unhex(c.hex)) !== null);
  for (const c of v.cap.refused) {
    attempt(`cap refused: ${c.why}`, () => {
      try { readCap(unhex(c.hex)); return false; } catch (e) { return e.constructor.name === 'WireError'; }
    });
  }
  for (const c of v.geometry.refused_cert_bodies) {
    attempt(`cert refused: ${c.why}`, () => {
      try { readCert(unhex(c.body)); return false; } catch (e) { return e.constructor.name === 'WireError'; }
    });
  }
  for (const c of v.geometry.cases) {
    attempt(`geometry: ${c.name}`, () =>
      reason(unhex(c.message)) === (c.within ? 'ok' : Reason.AREA_OUT_OF_SCOPE));
  }
  for (const c of v.geometry.covers) {
    const area = { polygons: c.area.polygons, circles: c.area.circles };
    attempt(`covers: ${c.name}`, () => covers(area, c.lat, c.lon) === c.covered);
  }
  return { passed, failed };
}

function bodyMap(data) {
  return decode(decodeMessage(data).body);
}

function decodeCapOf(data) { return readCap(bodyMap(data).get(5)); }

function concatSigned(kind, body) {
  const domain = new TextEncoder().encode('meshnode/v1/sig');
  return Uint8Array.from([...domain, 0, 1, kind, ...body]);
}

function resign(m, seed, hops = 8) {
  return encodeMessage(makeMessage(Kind.ALERT, m, seed, hops));
}

function withBody(data, change) {
  const msg = decodeMessage(data);
  const m = bodyMap(data);
  change(m);
  return encodeMessage({ ...msg, body: encode(m) });
}

function flip(data, field) {
  const msg = decodeMessage(data);
  const sig = Uint8Array.from(msg[field], (b, i) => (i === 5 ? b ^ 0x10 : b));
  return encodeMessage({ ...msg, [field]: sig });
}
