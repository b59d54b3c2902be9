// Authority alerts, verified in the browser itself (docs/protocol.md §6): the pinned roots, the
// issuer certificate each alert carries, the alert's own signature and every rule of §6.5, in
// its order, offline. Nothing the hub says about an alert is taken on trust: the hub only
// carries the bytes. `verifyAlert` is the pure check (the reference is verify_alert in
// meshnode/crypto/authority.py); `AlertBook` keeps what a node must remember between alerts
// (pinned roots, revoked serials, sequence windows, the alerts accepted) and is what the page
// reads. Sans-IO: persistence goes through the `save` callback.
//
// What the book verified it also carries, as any node relays them (§6, §10.1 step 2): the
// alerts, the revocations and the certificates (issuer certificates and root rotations), each
// with its routing clamped on arrival and one hop less at each hand-over; they are compared
// with a peer by the Hello's summaries (fields 4 and 5), not reconciled. What fails the check
// is never carried. A root rotation signed by a root this phone trusts, and co-signed by the
// new root, is followed (§6.5): the new root is trusted from then on and the old one retired.

import { WireError, compare, concat, decode, encode, hex, unhex, utf8 } from './msgpack.js';
import { areaWithin, fields, int, isSimpleRing, list, readCap, readRing, text } from './cap.js';
import { Kind, decodeMessage, encodeMessage, fingerprint, messageId, nodeId, signedBytes, verify }
  from './wire.js';

export const MAX_CLOCK_SKEW = 3600;
const SEQ_WINDOW = 1024n;
const INT63 = 2n ** 63n - 1n;

/** The refusal reasons, worded as the Python node words them (Reason in authority.py). */
export const Reason = {
  MALFORMED: 'malformed',
  BAD_SIGNATURE: 'bad signature',
  UNKNOWN_ROOT: 'unknown root',
  CERT_NOT_YET_VALID: 'certificate not yet valid',
  CERT_EXPIRED: 'certificate expired',
  NOT_AN_ISSUER: 'certificate is not an issuer certificate',
  REVOKED: 'certificate revoked',
  SENDER_NOT_CERTIFIED: 'CAP sender not covered by the certificate',
  SENT_IN_FUTURE: 'sent time is in the future',
  ALERT_EXPIRED: 'alert expired',
  SEVERITY_TOO_HIGH: "severity above the issuer's maximum",
  MSG_TYPE_NOT_ALLOWED: 'message type not allowed for the issuer',
  AREA_OUT_OF_SCOPE: "area outside the issuer's scope",
  SEQUENCE_REPLAYED: 'sequence number already used',
  SEQUENCE_ROLLED_BACK: "sequence number older than the issuer's window",
  REFERENCE_OTHER_ISSUER: "update or cancel refers to another issuer's alert",
  // Not verdicts of §6.5: the book's own refusals to keep (a Python node's store says these).
  SUPERSEDED: 'a later update or cancel is held',
  FULL: 'no room: the alerts held are at their bound',
};

const refuse = (reason, detail = '') => ({ ok: false, reason, detail });

/** A pinned root from its Ed25519 key (bytes) and a name to show. */
export function makeRoot(key, name) {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new WireError('root key: bin(32)');
  return { key, name, id: nodeId(key), idHex: hex(nodeId(key)), fingerprint: fingerprint(key) };
}

/** A pinned root ({key (hex), name, retired}): a root the hub had retired by a rotation stays
 *  retired here, verifying only certificates it issued before `retired` (unix seconds). */
function pinnedRoot(pin) {
  const root = makeRoot(unhexKey(pin.key), pin.name);
  return Number.isSafeInteger(pin.retired) && pin.retired >= 0 ? { ...root, retired: pin.retired } : root;
}

function bin(m, k, where, lo, hi) {
  const v = m.get(k);
  if (!(v instanceof Uint8Array) || v.length < lo || v.length > hi) {
    throw new WireError(`${where}: expected bin(${lo}..${hi})`);
  }
  return v;
}

function need(m, k, where) {
  if (!m.has(k)) throw new WireError(`${where}: missing`);
  return m.get(k);
}

/** A certificate body (§6.1), every rule checked; canonical encoding is the decoder's. */
export function readCert(data) {
  if (data.length > 2048) throw new WireError('cert: too large');
  const m = fields(decode(data, { maxItems: 128 }), 'cert', 15);
  const mask = Number(int(need(m, 11, 'cert.msg_types'), 'cert.msg_types', 0, 63));
  const cert = {
    serial: BigInt(int(need(m, 1, 'cert.serial'), 'cert.serial', 0, INT63)),
    issuerId: text(need(m, 2, 'cert.issuer_id'), 'cert.issuer_id', 1, 64),
    name: text(need(m, 3, 'cert.name'), 'cert.name', 1, 128),
    key: bin(m, 4, 'cert.key', 32, 32),
    rootId: bin(m, 5, 'cert.root_id', 16, 16),
    notBefore: Number(int(need(m, 6, 'cert.not_before'), 'cert.not_before', 0, 2 ** 40)),
    notAfter: Number(int(need(m, 7, 'cert.not_after'), 'cert.not_after', 0, 2 ** 40)),
    level: Number(int(need(m, 8, 'cert.level'), 'cert.level', 1, 3)),
    senders: (list(m, 9, 'cert.senders', 8) || []).map((s) => text(s, 'cert.senders', 1, 256)),
    maxSeverity: Number(int(need(m, 10, 'cert.max_severity'), 'cert.max_severity', 0, 4)),
    msgTypes: mask,
    geocodes: (list(m, 12, 'cert.geocodes', 64) || []).map((p, i) => {
      if (!Array.isArray(p) || p.length !== 2) throw new WireError(`cert.geocodes[${i}]: pair`);
      return [text(p[0], `cert.geocodes[${i}]`, 1, 256), text(p[1], `cert.geocodes[${i}]`, 1, 256)];
    }),
    polygons: (list(m, 13, 'cert.polygons', 8) || []).map((flat, i) => {
      const ring = readRing(flat, `cert.polygons[${i}]`);
      if (!isSimpleRing(ring)) throw new WireError(`cert.polygons[${i}]: must be a simple polygon`);
      return ring;
    }),
    role: Number(int(need(m, 14, 'cert.role'), 'cert.role', 1, 2)),
    cosig: m.has(15) ? bin(m, 15, 'cert.cosig', 64, 64) : null,
  };
  if (mask & 1) throw new WireError('cert.msg_types: unknown message type bits');
  if (cert.notAfter <= cert.notBefore) throw new WireError('cert.not_after: not after not_before');
  if (cert.role === 1 && !cert.senders.length) throw new WireError('cert.senders: missing');
  if ((cert.role === 2) !== (cert.cosig !== null)) throw new WireError('cert.cosig');
  return cert;
}

/** The signed body of an alert (§6.2). */
export function readAlertBody(data) {
  const m = fields(decode(data, { maxItems: 5 }), 'alert', 5);
  return {
    cert: bin(m, 1, 'alert.cert', 1, 2048),
    certSig: bin(m, 2, 'alert.cert_sig', 64, 64),
    seq: BigInt(int(need(m, 3, 'alert.seq'), 'alert.seq', 0, INT63)),
    expires: Number(int(need(m, 4, 'alert.expires'), 'alert.expires', 0, 2 ** 40)),
    cap: bin(m, 5, 'alert.cap', 1, 6144),
  };
}

/** A revocation body (§6.3). */
export function readRevoke(data) {
  const m = fields(decode(data, { maxItems: 256 }), 'revoke', 4);
  const serials = list(m, 2, 'revoke.serials', 256, { required: true })
    .map((s) => BigInt(int(s, 'revoke.serials', 0, INT63)));
  for (let i = 1; i < serials.length; i++) {
    if (serials[i] <= serials[i - 1]) throw new WireError('revoke.serials: not strictly increasing');
  }
  return { rootId: bin(m, 1, 'revoke.root_id', 16, 16), serials,
    created: Number(int(need(m, 3, 'revoke.created'), 'revoke.created', 0, 2 ** 40)),
    reason: m.has(4) ? text(m.get(4), 'revoke.reason', 1, 256) : null };
}

const sigOk = (key, sig, kind, body) => verify(key, sig, signedBytes(1, kind, body));

/** Trust state: `roots` (makeRoot), `revoked` (Set of `${rootIdHex}:${serial}`). */
export function rootOf(trust, rootId) {
  const id = hex(rootId);
  return trust.roots.find((r) => r.idHex === id) || null;
}

// §6.5 step 2: the certificate parses, its root is pinned, signed it, has not revoked it.
function chain(body, trust) {
  let cert;
  try { cert = readCert(body.cert); } catch (e) {
    if (e instanceof WireError) return refuse(Reason.MALFORMED, e.message);
    throw e;
  }
  const root = rootOf(trust, cert.rootId);
  if (!root) return refuse(Reason.UNKNOWN_ROOT, `root id ${hex(cert.rootId).slice(0, 16)} is not pinned here`);
  if (!sigOk(root.key, body.certSig, Kind.CERT, body.cert)) {
    return refuse(Reason.BAD_SIGNATURE, `certificate ${cert.serial} not signed by root ${root.name}`);
  }
  if (trust.revoked.has(`${root.idHex}:${cert.serial}`)) {
    return refuse(Reason.REVOKED, `certificate ${cert.serial} of ${cert.name}`);
  }
  if (root.retired != null && cert.notBefore >= root.retired) {
    return refuse(Reason.UNKNOWN_ROOT, `root ${root.name} was retired before certificate ${cert.serial}`);
  }
  return { ok: true, cert, root };
}

function validity(cert, at, now) {
  if (at < cert.notBefore) return refuse(Reason.CERT_NOT_YET_VALID, `valid from ${cert.notBefore}`);
  if (at > cert.notAfter || now > cert.notAfter) return refuse(Reason.CERT_EXPIRED, `valid until ${cert.notAfter}`);
  return null;
}

// §6.5 steps 5-8: what the certificate allows, at `now`.
function scopeProblem(alert, cert, expires, now) {
  const invalid = validity(cert, alert.sent, now);
  if (invalid) return invalid;
  if (alert.expires !== null && alert.expires !== expires) {
    return refuse(Reason.MALFORMED, 'alert expiry differs from its latest info expiry');
  }
  if (!cert.senders.includes(alert.sender)) return refuse(Reason.SENDER_NOT_CERTIFIED, alert.sender);
  if (alert.sent > now + MAX_CLOCK_SKEW) return refuse(Reason.SENT_IN_FUTURE, `${alert.sent - now} s ahead`);
  if (expires <= now) return refuse(Reason.ALERT_EXPIRED, `expired ${now - expires} s ago`);
  if (expires > cert.notAfter) return refuse(Reason.CERT_EXPIRED, 'the alert would outlive its certificate');
  if (alert.maxSeverity !== null && alert.maxSeverity > cert.maxSeverity) {
    return refuse(Reason.SEVERITY_TOO_HIGH, `${alert.maxSeverity} above ${cert.maxSeverity}`);
  }
  if (!(cert.msgTypes & (1 << alert.msgType))) return refuse(Reason.MSG_TYPE_NOT_ALLOWED, String(alert.msgType));
  if (alert.infos.length && !alert.infos.every((i) => areaWithin(i.areas, cert.polygons, cert.geocodes))) {
    return refuse(Reason.AREA_OUT_OF_SCOPE, `not inside ${cert.name}'s area`);
  }
  return null;
}

// §6.5 step 1: the envelope and the body of the expected kind parse (`malformed`).
function parse(data, kind, read) {
  try {
    const msg = decodeMessage(data);
    if (msg.kind !== kind) return refuse(Reason.MALFORMED, `not of kind ${kind}`);
    return { ok: true, msg, body: read(msg.body) };
  } catch (e) {
    if (e instanceof WireError) return refuse(Reason.MALFORMED, e.message);
    throw e;
  }
}

/**
 * Verify an alert message (its encoded bytes) completely, offline, as §6.5 orders it.
 * `trust`: {roots, revoked}; `now`: unix seconds; `seqs`: a SequenceWindow or null; `known`:
 * (sender, identifier) -> {issuerId, level} of an alert accepted before, or null.
 * Returns {ok: true, msg, id, alert, cert, root, seq, expires} or {ok: false, reason, detail}.
 */
export function verifyAlert(data, trust, now, { seqs = null, known = () => null } = {}) {
  const parsed = parse(data, Kind.ALERT, readAlertBody);
  if (!parsed.ok) return parsed;
  const { msg, body } = parsed;
  const linked = chain(body, trust);
  if (!linked.ok) return linked;
  const { cert, root } = linked;
  // The issuer key is read from the certificate only after the root's signature verified.
  if (!sigOk(cert.key, msg.sig, Kind.ALERT, msg.body)) {
    return refuse(Reason.BAD_SIGNATURE, `alert not signed by ${cert.name}'s key`);
  }
  if (cert.role !== 1) return refuse(Reason.NOT_AN_ISSUER, 'root rotation certificates cannot sign alerts');
  let alert;
  try { alert = readCap(body.cap); } catch (e) {
    if (e instanceof WireError) return refuse(Reason.MALFORMED, e.message);
    throw e;
  }
  const problem = scopeProblem(alert, cert, body.expires, now);
  if (problem) return problem;
  if (alert.msgType === 2 || alert.msgType === 3) {
    for (const ref of alert.references) {
      const other = known(ref.sender, ref.identifier);
      const same = other ? other.issuerId === cert.issuerId : ref.sender === alert.sender;
      if (!(same || (other && cert.level > other.level))) {
        return refuse(Reason.REFERENCE_OTHER_ISSUER, `${ref.identifier} was issued by ${ref.sender}`);
      }
    }
  }
  if (seqs) {
    const seqProblem = seqs.check(cert.issuerId, body.seq);
    if (seqProblem) return refuse(seqProblem, `${cert.issuerId} #${body.seq}`);
  }
  return { ok: true, msg, id: messageId(msg), alert, cert, root, seq: body.seq, expires: body.expires };
}

/** A revocation message verified against the pinned roots: its body, or a refusal. */
export function verifyRevoke(data, trust) {
  const parsed = parse(data, Kind.REVOKE, readRevoke);
  if (!parsed.ok) return parsed;
  const { msg, body: rev } = parsed;
  const root = rootOf(trust, rev.rootId);
  if (!root) return refuse(Reason.UNKNOWN_ROOT, 'revocation by a root not pinned here');
  if (!sigOk(root.key, msg.sig, Kind.REVOKE, msg.body)) return refuse(Reason.BAD_SIGNATURE, 'revocation');
  return { ok: true, root, rev };
}

const COSIGN_DOMAIN = concat(utf8('meshnode/v1/root-cosign'), Uint8Array.of(0));

// §6.1 key 15: the new root signs the certificate's map without its own signature.
function cosignInput(certBody) {
  const m = decode(certBody, { maxItems: 128 });
  m.delete(15);
  return concat(COSIGN_DOMAIN, encode(m));
}

/** A standalone certificate message (an issuer certificate or a root rotation, §6.1) verified
 *  at `now` against `trust` (verify_cert in authority.py): its chain as for an alert, valid
 *  now, and a rotation co-signed by the new root. {ok, msg, cert, root} or a refusal. */
export function verifyCert(data, trust, now) {
  const parsed = parse(data, Kind.CERT, (body) => body);
  if (!parsed.ok) return parsed;
  const { msg } = parsed;
  const linked = chain({ cert: msg.body, certSig: msg.sig }, trust);
  if (!linked.ok) return linked;
  const { cert, root } = linked;
  const invalid = validity(cert, now, now);
  if (invalid) return invalid;
  if (cert.role === 2 && !verify(cert.key, cert.cosig, cosignInput(msg.body))) {
    return refuse(Reason.BAD_SIGNATURE, 'rotation not co-signed by the new root');
  }
  return { ok: true, msg, cert, root };
}

/**
 * Follow a root rotation (§6.5, apply_rotation in authority.py): verified as `verifyCert` says,
 * it adds the new root and retires the old one from the rotation's `not_before` (its later
 * certificates are refused; those issued before stay valid). Returns {ok, cert, root, trust,
 * successor} (`successor` null when the new root was trusted already) or a refusal.
 */
export function applyRotation(data, trust, now) {
  const v = verifyCert(data, trust, now);
  if (!v.ok) return v;
  if (v.cert.role !== 2) return refuse(Reason.NOT_AN_ISSUER, 'not a root rotation certificate');
  if (rootOf(trust, nodeId(v.cert.key))) return { ...v, trust, successor: null };
  const successor = makeRoot(v.cert.key, v.cert.name);
  const roots = trust.roots.map((r) => (r.idHex === v.root.idHex ? { ...r, retired: v.cert.notBefore } : r));
  return { ...v, trust: { roots: [...roots, successor], revoked: trust.revoked }, successor };
}

/** Per-issuer sequence numbers (§6.5 step 10): any unseen number inside the window. */
export class SequenceWindow {
  constructor() { this.highest = new Map(); this.recent = new Map(); }

  check(issuer, seq) {
    const top = this.highest.get(issuer);
    if (top === undefined) return null;
    if (this.recent.get(issuer).has(seq)) return Reason.SEQUENCE_REPLAYED;
    if (seq <= top - SEQ_WINDOW) return Reason.SEQUENCE_ROLLED_BACK;
    return null;
  }

  record(issuer, seq) {
    const top = this.highest.has(issuer) && this.highest.get(issuer) > seq ? this.highest.get(issuer) : seq;
    this.highest.set(issuer, top);
    const seen = this.recent.get(issuer) || new Set();
    seen.add(seq);
    for (const s of seen) if (s <= top - SEQ_WINDOW) seen.delete(s);
    this.recent.set(issuer, seen);
  }
}

const MAX_REFUSED = 50; // the refusals the page lists (newest kept)
const MAX_ALERTS = 500; // alerts held: expired ones go first, then a newcomer is refused
const MAX_TRUST = 128; // revocations and certificates held: all Hello field 4 can name (§10)
const MAX_SEEN = 4096;
const MAX_HOPS = 32; // routing on arrival of anything but a post or announce (§10.1 step 5)
const MAX_COPIES = 32; // L, the spray-and-wait budget (§10.1 step 5, as the reference node)
const MAX_ISSUERS = 32; // Hello field 5: issuers, and the latest sequence numbers of each
const MAX_SEQS = 64;
const FOREVER = 2 ** 40; // a revocation's lifetime (§9.1: permanent)

const bySeq = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const newestFirst = (a, b) => b.created - a.created;

/**
 * What the resident's node knows of authority alerts: the pinned roots (`pins`: [{key, name, retired?}]
 * with keys as hex, as stored), the rotations it followed from them, revocations, the alerts it
 * verified and those it refused, and what of these it carries to the next hub.
 * `save(state)` persists {pins, rotations, trust, alerts} (encoded messages) when they change.
 */
export class AlertBook {
  constructor({ pins = [], revocations = [], rotations = [], trust = [], alerts = [] } = {},
    save = () => null, now = nowS()) {
    this.save = () => null; // nothing is written back while the stored state is read
    this.pins = pins;
    this.trust = { roots: pins.map(pinnedRoot), revoked: new Set() };
    this.rotations = []; // followed: {data, from, to, at} (kept when the certificate expires)
    this.held = new Map(); // hex id -> a revocation or certificate carried: {key, id, kind, data, created, expires}
    this.seqs = new SequenceWindow();
    this.verified = new Map(); // hex id -> verified alert, with `data` as carried
    this.known = new Map(); // `${sender}\n${identifier}` -> {issuerId, level}: for references
    this.superseded = new Set(); // `${sender}\n${identifier}` updated or cancelled by one held
    this.refused = []; // {key, reason, detail, at}
    this.seen = new Set(); // id + signature of what was judged (a refusal is not judged twice)
    for (const data of [...rotations, ...revocations, ...trust, ...alerts]) {
      this.take(data, now, { stored: true });
    }
    this.save = save;
  }

  /** Pin these roots ({key: hex, name}), once: a phone keeps the roots it pinned first. */
  pin(roots) {
    if (this.pins.length || !roots.some((r) => r.retired == null)) return false;
    this.pins = roots.map((r) => (r.retired == null ? { key: r.key, name: r.name }
      : { key: r.key, name: r.name, retired: r.retired }));
    this.trust.roots = this.pins.map(pinnedRoot);
    this.seen.clear(); // alerts judged before any root was pinned are judged again
    this._save();
    return true;
  }

  /** Every root this phone trusts: those it pinned and those it followed (some retired). */
  roots() { return this.trust.roots; }

  /** A root list (from a hub) that differs from the roots this phone has in service: those it
   *  pinned, or their successors where it followed a rotation signed by them. */
  differs(roots) {
    const mine = new Set(this.trust.roots.filter((r) => r.retired == null).map((r) => hex(r.key)));
    const theirs = roots.filter((r) => r.retired == null);
    return theirs.some((r) => !mine.has(r.key)) || [...mine].some((k) => !theirs.some((r) => r.key === k));
  }

  /** An alert, revocation or certificate from the mesh: judged once, kept and carried if it
   *  verified. Returns the verdict ({ok, ...}) or null for a message judged before. */
  take(data, now = nowS(), { stored = false } = {}) {
    let msg;
    try { msg = decodeMessage(data); } catch (e) {
      if (e instanceof WireError) return this._refuse(null, refuse(Reason.MALFORMED, e.message), now);
      throw e;
    }
    const id = hex(messageId(msg));
    // Judged once per signature, not per id: a copy with a forged signature carries the
    // genuine alert's id, and must not keep the genuine one out.
    const key = id + hex(msg.sig);
    if (this.seen.has(key) || this.verified.has(id) || this.held.has(id)) return null;
    const verdict = msg.kind === Kind.ALERT ? this._takeAlert(data, msg, id, now)
      : msg.kind === Kind.REVOKE ? this._takeRevoke(data, msg, id, now)
        : msg.kind === Kind.CERT ? this._takeCert(data, msg, id, now, stored) : null;
    if (verdict === null) return null;
    if (!verdict.ok) return verdict.reason === Reason.FULL ? verdict : this._refuse(key, verdict, now);
    this._mark(key);
    this._save();
    return verdict;
  }

  _takeAlert(data, msg, id, now) {
    const verdict = verifyAlert(data, this.trust, now, { seqs: this.seqs,
      known: (sender, identifier) => this.known.get(`${sender}\n${identifier}`) || null });
    if (!verdict.ok) return verdict;
    const { alert, cert } = verdict;
    const name = `${alert.sender}\n${alert.identifier}`;
    if (this.superseded.has(name)) return refuse(Reason.SUPERSEDED, alert.identifier);
    if (this._count(true) >= MAX_ALERTS) this.expire(now);
    if (this._count(true) >= MAX_ALERTS) return refuse(Reason.FULL, `${MAX_ALERTS} alerts held`);
    this.seqs.record(cert.issuerId, verdict.seq);
    this.known.set(name, { issuerId: cert.issuerId, level: cert.level });
    this.verified.set(id, { ...verdict, key: id, data: carried(msg), created: alert.sent });
    if (alert.msgType === 2 || alert.msgType === 3) {
      // An Update or Cancel replaces what it refers to: that is neither shown nor carried on.
      for (const ref of alert.references) {
        const old = `${ref.sender}\n${ref.identifier}`;
        this.superseded.add(old);
        for (const [k, a] of this.verified) {
          if (`${a.alert.sender}\n${a.alert.identifier}` === old) this.verified.delete(k);
        }
      }
    }
    return verdict;
  }

  _takeRevoke(data, msg, id, now) {
    const verdict = verifyRevoke(data, this.trust);
    if (!verdict.ok) return verdict;
    for (const s of verdict.rev.serials) this.trust.revoked.add(`${hex(verdict.rev.rootId)}:${s}`);
    for (const [k, a] of this.verified) {
      if (this.trust.revoked.has(`${a.root.idHex}:${a.cert.serial}`)) this.verified.delete(k);
    }
    // Applied whatever the bound; carried within it (only a pinned root can make one).
    this._hold(msg, id, verdict.rev.created, FOREVER, now);
    return verdict;
  }

  // A certificate: held and carried while valid; a rotation is followed. Read back from the
  // phone's storage, one is judged at the end of its validity if that has passed: a rotation
  // followed stays followed (it is no longer carried).
  _takeCert(data, msg, id, now, stored) {
    let at = now;
    if (stored) {
      try { at = Math.min(now, readCert(msg.body).notAfter); } catch { /* judged below */ }
    }
    const verdict = verifyCert(data, this.trust, at);
    if (!verdict.ok) return verdict;
    const { cert } = verdict;
    if (cert.role === 2) {
      const rotated = applyRotation(data, this.trust, at);
      if (!rotated.ok) return rotated;
      if (rotated.successor) {
        this.trust = rotated.trust;
        this.rotations.push({ data, from: rotated.root, to: rotated.successor, at: cert.notBefore });
        this.seen.clear(); // what the new root certifies is judged again
      }
    }
    if (cert.notAfter >= now) this._hold(msg, id, cert.notBefore, cert.notAfter, now);
    return verdict;
  }

  _count(alerts) { return alerts ? this.verified.size : this.held.size; }

  _hold(msg, id, created, expires, now) {
    if (this.held.size >= MAX_TRUST) this.expire(now);
    if (this.held.size >= MAX_TRUST) return;
    this.held.set(id, { key: id, id: unhex(id), kind: msg.kind, data: carried(msg), created, expires });
  }

  // Bounded: a hostile link sending endless forgeries costs memory for the newest only.
  _mark(key) {
    this.seen.add(key);
    if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.values().next().value);
  }

  _refuse(key, verdict, now) {
    if (key) this._mark(key);
    this.refused.unshift({ key, reason: verdict.reason, detail: verdict.detail, at: now });
    this.refused.length = Math.min(this.refused.length, MAX_REFUSED);
    return verdict;
  }

  /** Drop alerts that expired (or whose certificate did), and certificates that expired. */
  expire(now = nowS()) {
    for (const [key, a] of this.verified) {
      if (a.expires <= now || a.cert.notAfter < now) this.verified.delete(key);
    }
    for (const [key, c] of this.held) if (c.expires <= now) this.held.delete(key);
  }

  /** The verified alerts in force, newest first; an alert cancelled or updated by a later
   *  verified one (same sender, referenced) is left out. */
  current(now = nowS()) {
    const all = [...this.verified.values()].filter((a) => a.expires > now && a.cert.notAfter >= now);
    const replaced = new Set();
    for (const a of all) for (const r of a.alert.references) replaced.add(`${r.sender}\n${r.identifier}`);
    return all.filter((a) => !replaced.has(`${a.alert.sender}\n${a.alert.identifier}`))
      .sort((a, b) => b.alert.sent - a.alert.sent);
  }

  // --- carrying (§10.1 step 2) ------------------------------------------------------------

  /** Hello fields 4 and 5: the ids of the revocations and certificates held, and per issuer
   *  (in code point order, the first 32) the latest 64 sequence numbers of its alerts held. */
  summary(now = nowS()) {
    const trustIds = [...this.held.values()].filter((c) => c.expires > now).slice(0, MAX_TRUST)
      .map((c) => c.id);
    const seqs = new Map();
    for (const a of this.verified.values()) {
      if (a.expires > now) seqs.set(a.cert.issuerId, [...(seqs.get(a.cert.issuerId) || []), a.seq]);
    }
    const issuers = [...seqs.keys()].sort((a, b) => compare(utf8(a), utf8(b))).slice(0, MAX_ISSUERS);
    return { trustIds, alerts: issuers.map((i) => [i, seqs.get(i).sort(bySeq).slice(-MAX_SEQS)]) };
  }

  /** What the peer whose Hello is `peer` lacks by its summaries: revocations and certificates
   *  first, then alerts, newest first within each. */
  lacking(peer, now = nowS()) {
    const has = new Set(peer.trustIds.map(hex));
    const peerSeqs = new Map(peer.alerts.map(([issuer, s]) => [issuer, new Set(s.map(String))]));
    const trust = [...this.held.values()].filter((c) => c.expires > now && !has.has(c.key));
    const alerts = [...this.verified.values()].filter((a) => a.expires > now
      && !(peerSeqs.get(a.cert.issuerId) || new Set()).has(String(a.seq)));
    return [...trust.sort(newestFirst), ...alerts.sort(newestFirst)];
  }

  /** A carried message by hex id: an alert, revocation or certificate held, or null. */
  entry(id) { return this.verified.get(id) || this.held.get(id) || null; }

  /** The copy to hand a peer of a carried message (an entry of `lacking`), or null when it has
   *  no hops left: authority messages flood, one hop less at each hand-over (§10.1 step 5). */
  handOver(entry) {
    const msg = decodeMessage(entry.data);
    if (msg.hops === 0) return null;
    return encodeMessage({ ...msg, hops: msg.hops - 1, copies: 1 });
  }

  _save() {
    this.save({ pins: this.pins, rotations: this.rotations.map((r) => r.data),
      trust: [...this.held.values()].map((c) => c.data),
      alerts: [...this.verified.values()].map((a) => a.data) });
  }
}

// The bytes kept and carried: routing as received, clamped (§10.1 step 5).
function carried(msg) {
  return encodeMessage({ ...msg, hops: Math.min(msg.hops, MAX_HOPS), copies: Math.min(msg.copies, MAX_COPIES) });
}

const nowS = () => Math.floor(Date.now() / 1000);

function unhexKey(s) {
  if (typeof s !== 'string' || !/^[0-9a-f]{64}$/.test(s)) throw new WireError('root key: 64 hex digits');
  return Uint8Array.from(s.match(/../g), (x) => parseInt(x, 16));
}
