"""The authority trust chain: roots, issuer certificates, signed alerts, revocations.

A **root key** (a national body), pinned in each node's configuration, signs **issuer
certificates** (a safety region or municipality: its key, scope, validity, serial). An **alert**
carries its issuer certificate and a per-issuer sequence number and is signed by the issuer.
`verify_alert` checks all of it offline and returns a `VerifiedAlert` or a `Rejection` with a
typed reason; a node calls it before it stores or relays anything. Root-signed revocations
withdraw certificate serials; a root is replaced only by a rotation certificate signed by both
the old and the new root.

Everything here is pure: trust state (`TrustStore`, `SequenceWindow`) is plain data that the
caller keeps and persists, and time is always passed in.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.alerts import area as alert_area
from meshnode.alerts.compact import decode_alert, encode_alert
from meshnode.alerts.model import Alert, MsgType, Pair, Ring, Severity
from meshnode.codec import Fields, WireError, check_int, check_text, pack, unpack_bounded
from meshnode.crypto.identity import node_id
from meshnode.crypto.verify import SignatureMemo, ed25519_valid
from meshnode.wire import ID_SIZE, KEY_SIZE, MAX_BODY, SIG_SIZE, Kind, Message, signed_bytes

__all__ = [
    "MAX_CLOCK_SKEW",
    "AlertBody",
    "CertCache",
    "CertRole",
    "IssuerCert",
    "KnownAlert",
    "Level",
    "Reason",
    "Rejection",
    "Revocation",
    "RootKey",
    "SequenceWindow",
    "TrustStore",
    "VerifiedAlert",
    "apply_revocation",
    "apply_rotation",
    "create_revocation",
    "decode_alert_body",
    "decode_cert",
    "decode_revocation",
    "issue_cert",
    "proven_time",
    "root_label",
    "rotate_root",
    "scope_problem",
    "sign_alert",
    "verify_alert",
    "verify_cert",
    "verify_revocation",
]

MAX_CLOCK_SKEW = 3_600  # an alert "sent" more than this ahead of our clock is refused
SEQ_WINDOW = 1_024  # per issuer: sequence numbers this far below the highest seen are refused
MAX_SERIALS = 256
MAX_CERT_POLYGONS = 8
MAX_CERT_POINTS = 64
MAX_CERT_GEOCODES = 64
MAX_SENDERS = 8
COSIGN_DOMAIN = b"meshnode/v1/root-cosign\x00"


class CertRole(IntEnum):
    ISSUER = 1
    ROOT = 2  # a root rotation: the certified key becomes a root


class Level(IntEnum):
    """Issuer levels: an Update or Cancel may refer to alerts of the same issuer or lower."""

    MUNICIPALITY = 1
    REGION = 2
    NATIONAL = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuerCert:
    """What a root certifies about an issuer. Area scope: geocodes and/or polygons."""

    serial: int
    issuer_id: str
    name: str
    key: bytes
    root_id: bytes
    not_before: int
    not_after: int
    level: Level = Level.REGION
    senders: tuple[str, ...] = ()
    max_severity: Severity = Severity.EXTREME
    msg_types: frozenset[MsgType] = frozenset({MsgType.ALERT, MsgType.UPDATE, MsgType.CANCEL})
    geocodes: tuple[Pair, ...] = ()
    polygons: tuple[Ring, ...] = ()
    role: CertRole = CertRole.ISSUER
    cosig: bytes | None = None


@dataclass(frozen=True, slots=True)
class AlertBody:
    """The signed body of an `alert` message: certificate, sequence number, compact CAP alert."""

    cert_body: bytes
    cert_sig: bytes
    seq: int
    expires: int
    cap: bytes


@dataclass(frozen=True, slots=True)
class Revocation:
    """Certificate serials withdrawn by the root `root_id`."""

    root_id: bytes
    serials: tuple[int, ...]
    created: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RootKey:
    """A trusted root. A rotated-out root still verifies certificates issued before `retired`."""

    key: bytes
    name: str
    retired: int | None = None

    @property
    def id(self) -> bytes:
        return node_id(self.key)


@dataclass(frozen=True, slots=True)
class TrustStore:
    """Pinned roots and revoked (root id, serial) pairs. Immutable: `apply_*` return new ones."""

    roots: tuple[RootKey, ...]
    revoked: frozenset[tuple[bytes, int]] = frozenset()

    def root(self, root_id: bytes) -> RootKey | None:
        return next((r for r in self.roots if r.id == root_id), None)


class Reason(Enum):
    """Why an alert, certificate or revocation was refused."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad signature"
    UNKNOWN_ROOT = "unknown root"
    CERT_NOT_YET_VALID = "certificate not yet valid"
    CERT_EXPIRED = "certificate expired"
    NOT_AN_ISSUER = "certificate is not an issuer certificate"
    REVOKED = "certificate revoked"
    SENDER_NOT_CERTIFIED = "CAP sender not covered by the certificate"
    SENT_IN_FUTURE = "sent time is in the future"
    ALERT_EXPIRED = "alert expired"
    SEVERITY_TOO_HIGH = "severity above the issuer's maximum"
    MSG_TYPE_NOT_ALLOWED = "message type not allowed for the issuer"
    AREA_OUT_OF_SCOPE = "area outside the issuer's scope"
    SEQUENCE_REPLAYED = "sequence number already used"
    SEQUENCE_ROLLED_BACK = "sequence number older than the issuer's window"
    REFERENCE_OTHER_ISSUER = "update or cancel refers to another issuer's alert"


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    detail: str

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifiedAlert:
    """An alert whose whole chain verified at `now`."""

    msg_id: bytes
    alert: Alert
    cert: IssuerCert
    root: RootKey
    seq: int
    expires: int


@dataclass(frozen=True, slots=True)
class KnownAlert:
    """What a node remembers of an accepted alert, to judge Updates and Cancels referring to it."""

    issuer_id: str
    level: Level


@dataclass(slots=True)
class SequenceWindow:
    """Per-issuer sequence numbers seen: the highest, and the recent ones below it.

    Delay-tolerant links deliver out of order, so any unseen number within `SEQ_WINDOW` of the
    highest is accepted; a number seen before, or older than the window, is refused.
    """

    highest: dict[str, int] = field(default_factory=dict)
    recent: dict[str, set[int]] = field(default_factory=dict)

    def check(self, issuer_id: str, seq: int) -> Reason | None:
        top = self.highest.get(issuer_id)
        if top is None:
            return None
        if seq in self.recent.get(issuer_id, ()):
            return Reason.SEQUENCE_REPLAYED
        if seq <= top - SEQ_WINDOW:
            return Reason.SEQUENCE_ROLLED_BACK
        return None

    def record(self, issuer_id: str, seq: int) -> None:
        top = max(seq, self.highest.get(issuer_id, seq))
        self.highest[issuer_id] = top
        seen = self.recent.setdefault(issuer_id, set())
        seen.add(seq)
        for old in [s for s in seen if s <= top - SEQ_WINDOW]:
            seen.discard(old)


# --- encoding -------------------------------------------------------------------------------

_CERT_KEYS = frozenset(range(1, 16))
_E = TypeVar("_E", bound=IntEnum)


def _msg_type_mask(types: Iterable[MsgType]) -> int:
    return sum(1 << int(t) for t in set(types))


def _cert_map(c: IssuerCert, *, with_cosig: bool = True) -> dict[int, object]:
    d: dict[int, object] = {
        1: c.serial, 2: c.issuer_id, 3: c.name, 4: c.key, 5: c.root_id, 6: c.not_before,
        7: c.not_after, 8: int(c.level), 10: int(c.max_severity),
        11: _msg_type_mask(c.msg_types), 14: int(c.role),
    }
    if c.senders:
        d[9] = list(c.senders)
    if c.geocodes:
        d[12] = [list(p) for p in c.geocodes]
    if c.polygons:
        d[13] = [[v for pt in ring for v in pt] for ring in c.polygons]
    if with_cosig and c.cosig is not None:
        d[15] = c.cosig
    return d


def encode_cert(cert: IssuerCert) -> bytes:
    data = pack(_cert_map(cert))
    decode_cert(data)
    return data


def _int_enum(cls: type[_E], value: int, where: str) -> _E:
    try:
        return cls(value)
    except ValueError:
        raise WireError(where, f"unknown value {value}") from None


def _pairs(items: list[object], where: str) -> tuple[Pair, ...]:
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, list) or len(item) != 2:
            raise WireError(f"{where}[{i}]", "expected [name, value]")
        out.append((check_text(item[0], f"{where}[{i}]", lo=1, hi=256),
                    check_text(item[1], f"{where}[{i}]", lo=1, hi=256)))
    return tuple(out)


def _rings(items: list[object], where: str) -> tuple[Ring, ...]:
    """Polygons as flat [lat0, lon0, lat1, lon1, ...] arrays, as in the compact alert body."""
    rings = []
    for i, flat in enumerate(items):
        if not isinstance(flat, list) or len(flat) % 2 or not (
            3 <= len(flat) // 2 <= MAX_CERT_POINTS
        ):
            raise WireError(f"{where}[{i}]", f"expected 3..{MAX_CERT_POINTS} lat, lon pairs")
        lats = [check_int(v, f"{where}[{i}].lat", lo=-90 * 10**7, hi=90 * 10**7)
                for v in flat[0::2]]
        lons = [check_int(v, f"{where}[{i}].lon", lo=-180 * 10**7, hi=180 * 10**7)
                for v in flat[1::2]]
        ring = tuple(zip(lats, lons, strict=True))
        if not alert_area.is_simple_ring(ring):
            raise WireError(f"{where}[{i}]", "must be a simple polygon (§6.6)")
        rings.append(ring)
    return tuple(rings)


def decode_cert(data: bytes) -> IssuerCert:
    """Parse and validate a certificate body (canonical encoding required)."""
    obj = unpack_bounded(data, what="cert", max_size=MAX_BODY[Kind.CERT],
                         max_items=2 * MAX_CERT_POINTS)
    f = Fields(obj, "cert", allowed=_CERT_KEYS)
    mask = f.uint(11, "msg_types", hi=(1 << 6) - 1)
    cert = IssuerCert(
        serial=f.uint(1, "serial", hi=2**63 - 1),
        issuer_id=f.text(2, "issuer_id", lo=1, hi=64),
        name=f.text(3, "name", lo=1, hi=128),
        key=f.bin(4, "key", size=KEY_SIZE, hi=KEY_SIZE),
        root_id=f.bin(5, "root_id", size=ID_SIZE, hi=ID_SIZE),
        not_before=f.uint(6, "not_before", hi=2**40),
        not_after=f.uint(7, "not_after", hi=2**40),
        level=_int_enum(Level, f.uint(8, "level", hi=255), "cert.level"),
        senders=tuple(check_text(s, "cert.senders", lo=1, hi=256)
                      for s in (f.array(9, "senders", lo=1, hi=MAX_SENDERS)
                                if f.has(9) else [])),
        max_severity=_int_enum(Severity, f.uint(10, "max_severity", hi=255), "cert.max_severity"),
        msg_types=frozenset(t for t in MsgType if mask & (1 << int(t))),
        geocodes=_pairs(f.array(12, "geocodes", lo=1, hi=MAX_CERT_GEOCODES), "cert.geocodes")
        if f.has(12) else (),
        polygons=_rings(f.array(13, "polygons", lo=1, hi=MAX_CERT_POLYGONS), "cert.polygons")
        if f.has(13) else (),
        role=_int_enum(CertRole, f.uint(14, "role", hi=255), "cert.role"),
        cosig=f.opt_bin(15, "cosig", size=SIG_SIZE, hi=SIG_SIZE),
    )
    if mask & 1 or mask != _msg_type_mask(cert.msg_types):
        raise WireError("cert.msg_types", "unknown message type bits")
    if cert.not_after <= cert.not_before:
        raise WireError("cert.not_after", "must be later than not_before")
    if cert.role is CertRole.ISSUER and not cert.senders:
        raise WireError("cert.senders", "an issuer certificate names its CAP senders")
    if (cert.role is CertRole.ROOT) != (cert.cosig is not None):
        raise WireError("cert.cosig", "present exactly when the role is root")
    if pack(_cert_map(cert)) != bytes(data):
        raise WireError("cert", "not in canonical encoding")
    return cert


def _alert_body_map(b: AlertBody) -> dict[int, object]:
    return {1: b.cert_body, 2: b.cert_sig, 3: b.seq, 4: b.expires, 5: b.cap}


def decode_alert_body(data: bytes) -> AlertBody:
    obj = unpack_bounded(data, what="alert", max_size=MAX_BODY[Kind.ALERT], max_items=5)
    f = Fields(obj, "alert", allowed=frozenset(range(1, 6)))
    body = AlertBody(
        cert_body=f.bin(1, "cert", lo=1, hi=MAX_BODY[Kind.CERT]),
        cert_sig=f.bin(2, "cert_sig", size=SIG_SIZE, hi=SIG_SIZE),
        seq=f.uint(3, "seq", hi=2**63 - 1),
        expires=f.uint(4, "expires", hi=2**40),
        cap=f.bin(5, "cap", lo=1, hi=MAX_BODY[Kind.ALERT]),
    )
    if pack(_alert_body_map(body)) != bytes(data):
        raise WireError("alert", "not in canonical encoding")
    return body


def _revocation_map(r: Revocation) -> dict[int, object]:
    d: dict[int, object] = {1: r.root_id, 2: list(r.serials), 3: r.created}
    if r.reason is not None:
        d[4] = r.reason
    return d


def decode_revocation(data: bytes) -> Revocation:
    obj = unpack_bounded(data, what="revoke", max_size=MAX_BODY[Kind.REVOKE],
                         max_items=MAX_SERIALS)
    f = Fields(obj, "revoke", allowed=frozenset(range(1, 5)))
    serials = tuple(check_int(s, "revoke.serials", lo=0, hi=2**63 - 1)
                    for s in f.array(2, "serials", lo=1, hi=MAX_SERIALS))
    rev = Revocation(
        root_id=f.bin(1, "root_id", size=ID_SIZE, hi=ID_SIZE),
        serials=serials,
        created=f.uint(3, "created", hi=2**40),
        reason=f.opt_text(4, "reason", lo=1, hi=256),
    )
    if list(serials) != sorted(set(serials)):
        raise WireError("revoke.serials", "must be strictly increasing")
    if pack(_revocation_map(rev)) != bytes(data):
        raise WireError("revoke", "not in canonical encoding")
    return rev


# --- issuing ---------------------------------------------------------------------------------


def _sign(kind: Kind, body: bytes, key: ed25519.Ed25519PrivateKey) -> Message:
    return Message(kind, body, key.sign(signed_bytes(1, kind, body)))


def _raw(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def issue_cert(root: ed25519.Ed25519PrivateKey, cert: IssuerCert) -> Message:
    """Sign `cert` as the root; `cert.root_id` is set to the root's id."""
    cert = dataclasses.replace(cert, root_id=node_id(_raw(root)))
    return _sign(Kind.CERT, encode_cert(cert), root)


def _cosign_input(cert: IssuerCert) -> bytes:
    return COSIGN_DOMAIN + pack(_cert_map(cert, with_cosig=False))


def rotate_root(
    old: ed25519.Ed25519PrivateKey, new: ed25519.Ed25519PrivateKey, name: str, serial: int,
    not_before: int, not_after: int,
) -> Message:
    """A root-rotation certificate: signed by the old root, co-signed by the new one."""
    cert = IssuerCert(serial=serial, issuer_id="root", name=name, key=_raw(new),
                      root_id=node_id(_raw(old)), not_before=not_before, not_after=not_after,
                      level=Level.NATIONAL, role=CertRole.ROOT)
    cert = dataclasses.replace(cert, cosig=new.sign(_cosign_input(cert)))
    return _sign(Kind.CERT, encode_cert(cert), old)


def sign_alert(
    issuer: ed25519.Ed25519PrivateKey, cert_msg: Message, alert: Alert, seq: int,
    *, expires: int | None = None,
) -> Message:
    """Sign `alert` with sequence number `seq`, carrying the issuer's certificate message.

    `expires` defaults to the alert's own expiry and is required for alerts without infos.
    """
    until = alert.expires if expires is None else expires
    if until is None:
        raise WireError("alert.expires", "an alert without infos needs an explicit expiry")
    body = AlertBody(cert_msg.body, cert_msg.sig, seq, until, encode_alert(alert))
    data = pack(_alert_body_map(body))
    decode_alert_body(data)
    return _sign(Kind.ALERT, data, issuer)


def create_revocation(
    root: ed25519.Ed25519PrivateKey, serials: Iterable[int], now: int, reason: str | None = None
) -> Message:
    rev = Revocation(node_id(_raw(root)), tuple(sorted(set(serials))), now, reason)
    data = pack(_revocation_map(rev))
    decode_revocation(data)
    return _sign(Kind.REVOKE, data, root)


# --- verifying -------------------------------------------------------------------------------


def _sig_ok(key: bytes, sig: bytes, data: bytes, memo: SignatureMemo | None = None) -> bool:
    return ed25519_valid(key, sig, data, memo)


@dataclass
class CertCache:
    """Certificates whose root signature already verified, so that a burst of alerts from one
    issuer costs one Ed25519 verification each instead of two. Keyed by the exact certificate
    bytes, signature and root key; revocation and retirement are still checked every time.
    Bounded to `size` entries, least recently used dropped.
    """

    size: int = 256
    _entries: OrderedDict[tuple[bytes, bytes, bytes], IssuerCert] = field(
        default_factory=OrderedDict)

    def get(self, key: tuple[bytes, bytes, bytes]) -> IssuerCert | None:
        cert = self._entries.get(key)
        if cert is not None:
            self._entries.move_to_end(key)
        return cert

    def put(self, key: tuple[bytes, bytes, bytes], cert: IssuerCert) -> None:
        self._entries[key] = cert
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)


def root_label(root_id: bytes) -> str:
    """How messages name a root by id: ``root id 57b6c0d4e2f1a398`` (`meshnode trust list`
    shows it beside each pinned root's name and fingerprint)."""
    return f"root id {root_id.hex()[:16]}"


def unpinned_root(root_id: bytes) -> str:
    return (f"{root_label(root_id)} is not pinned here (`meshnode trust list` shows the pinned "
            "roots' ids and fingerprints)")


def _chain(
    cert_body: bytes, cert_sig: bytes, trust: TrustStore, cache: CertCache | None = None,
    memo: SignatureMemo | None = None,
) -> tuple[IssuerCert, RootKey] | Rejection:
    """The certificate parses, its root is pinned, the root signed it, it is not revoked."""
    try:
        cert = decode_cert(cert_body) if memo is None else memo.decoded(
            "cert", cert_body, decode_cert)
    except WireError as exc:
        return Rejection(Reason.MALFORMED, str(exc))
    root = trust.root(cert.root_id)
    if root is None:
        return Rejection(Reason.UNKNOWN_ROOT, unpinned_root(cert.root_id))
    key = (cert_body, cert_sig, root.key)
    if cache is None or cache.get(key) is None:
        if not _sig_ok(root.key, cert_sig, signed_bytes(1, Kind.CERT, cert_body)):
            return Rejection(Reason.BAD_SIGNATURE,
                             f"certificate {cert.serial} not signed by root {root.name}")
        if cache is not None:
            cache.put(key, cert)
    if (root.id, cert.serial) in trust.revoked:
        return Rejection(Reason.REVOKED, f"certificate {cert.serial} of {cert.name}")
    if root.retired is not None and cert.not_before >= root.retired:
        return Rejection(Reason.UNKNOWN_ROOT,
                         f"root {root.name} was retired before certificate {cert.serial}")
    return cert, root


def _validity(cert: IssuerCert, at: int, now: int) -> Rejection | None:
    """The certificate is valid at the statement's time `at` and has not expired by `now`."""
    if at < cert.not_before:
        return Rejection(Reason.CERT_NOT_YET_VALID, f"certificate valid from {cert.not_before}")
    if at > cert.not_after or now > cert.not_after:
        return Rejection(Reason.CERT_EXPIRED, f"certificate valid until {cert.not_after}")
    return None


def verify_cert(
    msg: Message, trust: TrustStore, now: int
) -> tuple[IssuerCert, RootKey] | Rejection:
    """Verify a standalone certificate message (issuer or root rotation) at `now`."""
    if msg.kind is not Kind.CERT:
        return Rejection(Reason.MALFORMED, f"expected a cert, got {msg.kind.name.lower()}")
    result = _chain(msg.body, msg.sig, trust)
    if isinstance(result, Rejection):
        return result
    cert, _ = result
    invalid = _validity(cert, now, now)
    if invalid is not None:
        return invalid
    if cert.role is CertRole.ROOT and not _sig_ok(cert.key, cert.cosig or b"",
                                                   _cosign_input(cert)):
        return Rejection(Reason.BAD_SIGNATURE, "rotation not co-signed by the new root")
    return result


def apply_rotation(trust: TrustStore, msg: Message, now: int) -> TrustStore | Rejection:
    """Add the new root of a verified rotation; the old root is retired from its not_before."""
    result = verify_cert(msg, trust, now)
    if isinstance(result, Rejection):
        return result
    cert, old = result
    if cert.role is not CertRole.ROOT:
        return Rejection(Reason.NOT_AN_ISSUER, "not a root rotation certificate")
    if trust.root(node_id(cert.key)) is not None:
        return trust
    roots = tuple(dataclasses.replace(r, retired=cert.not_before) if r.id == old.id else r
                  for r in trust.roots)
    return TrustStore((*roots, RootKey(cert.key, cert.name)), trust.revoked)


def verify_revocation(msg: Message, trust: TrustStore) -> Revocation | Rejection:
    if msg.kind is not Kind.REVOKE:
        return Rejection(Reason.MALFORMED, f"expected a revoke, got {msg.kind.name.lower()}")
    try:
        rev = decode_revocation(msg.body)
    except WireError as exc:
        return Rejection(Reason.MALFORMED, str(exc))
    root = trust.root(rev.root_id)
    if root is None:
        return Rejection(Reason.UNKNOWN_ROOT, unpinned_root(rev.root_id))
    if not _sig_ok(root.key, msg.sig, msg.signed_bytes):
        return Rejection(Reason.BAD_SIGNATURE, f"revocation not signed by root {root.name}")
    return rev


def apply_revocation(trust: TrustStore, msg: Message) -> TrustStore | Rejection:
    rev = verify_revocation(msg, trust)
    if isinstance(rev, Rejection):
        return rev
    added = {(rev.root_id, s) for s in rev.serials}
    return TrustStore(trust.roots, trust.revoked | added)


def _no_known(sender: str, identifier: str) -> KnownAlert | None:
    return None


def verify_alert(
    msg: Message,
    trust: TrustStore,
    now: int,
    *,
    seqs: SequenceWindow | None = None,
    known: Callable[[str, str], KnownAlert | None] = _no_known,
    cache: CertCache | None = None,
    memo: SignatureMemo | None = None,
) -> VerifiedAlert | Rejection:
    """Verify an alert message completely, offline, before it is stored or relayed.

    `seqs` holds the per-issuer sequence numbers already accepted (the caller records the new
    one after storing); `known` looks up earlier alerts by CAP (sender, identifier) so that
    Updates and Cancels can be checked against their issuer; `cache` skips re-verifying the
    root's signature over a certificate seen before; `memo` remembers signature results.
    """
    if msg.kind is not Kind.ALERT:
        return Rejection(Reason.MALFORMED, f"expected an alert, got {msg.kind.name.lower()}")
    try:
        body = decode_alert_body(msg.body)
    except WireError as exc:
        return Rejection(Reason.MALFORMED, str(exc))
    chain = _chain(body.cert_body, body.cert_sig, trust, cache, memo)
    if isinstance(chain, Rejection):
        return chain
    cert, root = chain
    # The issuer key is taken from the certificate only once the root's signature over it has
    # verified, and every later check reads that same verified object.
    if not _sig_ok(cert.key, msg.sig, msg.signed_bytes, memo):
        return Rejection(Reason.BAD_SIGNATURE, f"alert not signed by {cert.name}'s key")
    if cert.role is not CertRole.ISSUER:
        return Rejection(Reason.NOT_AN_ISSUER, "root rotation certificates cannot sign alerts")
    try:
        alert = decode_alert(body.cap) if memo is None else memo.decoded(
            "alert", body.cap, decode_alert)
    except WireError as exc:
        return Rejection(Reason.MALFORMED, str(exc))
    return _check_content(msg, body, alert, cert, root, now, seqs, known)


def proven_time(msg: Message, trust: TrustStore, *, cache: CertCache | None = None,
                memo: SignatureMemo | None = None) -> tuple[int, IssuerCert] | None:
    """The time an alert proves has come, whatever our clock says, and the certificate that
    proves it: its `sent`, if its chain
    verifies (a pinned root signed the certificate, which is not revoked, and the issuer's key
    signed the alert) and the certificate was valid then; else None.

    A lower bound on the current time for a node that trusts the root: an issuer signs with
    its own clock, and cannot have signed in its future. A stolen issuer key can push it no
    further than its certificate's end (`not_after`), which the root chose.
    """
    if msg.kind is not Kind.ALERT:
        return None
    try:
        body = decode_alert_body(msg.body)
    except WireError:
        return None
    chain = _chain(body.cert_body, body.cert_sig, trust, cache, memo)
    if isinstance(chain, Rejection):
        return None
    cert, _ = chain
    if cert.role is not CertRole.ISSUER or not _sig_ok(cert.key, msg.sig, msg.signed_bytes, memo):
        return None
    try:
        alert = decode_alert(body.cap) if memo is None else memo.decoded(
            "alert", body.cap, decode_alert)
    except WireError:
        return None
    if _validity(cert, alert.sent, alert.sent) is not None:
        return None
    return alert.sent, cert


def scope_problem(alert: Alert, cert: IssuerCert, expires: int, now: int) -> Rejection | None:
    """Whether `alert` (with wire expiry `expires`) stays within what `cert` allows at `now`:
    the certificate is valid at the alert's `sent` time and still at `now`, and the alert's
    sender, times, severity, type and area are within it.

    Every check on an alert's content that does not need the mesh's state (the issuer's
    sequence window, earlier alerts): an issuer runs it before signing (`meshnode authority
    sign-alert`), and `verify_alert` runs this same function, so both always agree.
    """
    invalid = _validity(cert, alert.sent, now)
    if invalid is not None:
        return invalid
    if alert.expires is not None and alert.expires != expires:
        return Rejection(Reason.MALFORMED, "alert expiry differs from its latest info expiry")
    if alert.sender not in cert.senders:
        return Rejection(Reason.SENDER_NOT_CERTIFIED,
                         f"{alert.sender!r} is not one of {', '.join(cert.senders)}")
    if alert.sent > now + MAX_CLOCK_SKEW:
        return Rejection(Reason.SENT_IN_FUTURE, f"sent {alert.sent - now} s ahead of our clock")
    if expires <= now:
        return Rejection(Reason.ALERT_EXPIRED, f"expired {now - expires} s ago")
    if expires > cert.not_after:
        return Rejection(Reason.CERT_EXPIRED, "the alert would outlive its certificate")
    severity = alert.max_severity
    if severity is not None and severity > cert.max_severity:
        return Rejection(Reason.SEVERITY_TOO_HIGH,
                         f"{severity.cap} above {cert.max_severity.cap}")
    if alert.msg_type not in cert.msg_types:
        return Rejection(Reason.MSG_TYPE_NOT_ALLOWED, alert.msg_type.cap)
    # An alert without infos (a bare Cancel) has no area of its own; its reference is checked.
    # Every info needs an area: an info without one is addressed to everyone. An area that
    # several infos repeat (one per language, as NL-Alert sends them) is checked once.
    if alert.infos and not (all(info.areas for info in alert.infos) and alert_area.area_within(
        dict.fromkeys(area for info in alert.infos for area in info.areas),
        polygons=cert.polygons, geocodes=cert.geocodes)
    ):
        descs = ", ".join(dict.fromkeys(a.area_desc for a in alert.areas))
        return Rejection(Reason.AREA_OUT_OF_SCOPE,
                         f"{descs or '(no area: everyone)'} not inside {cert.name}'s area")
    return None


def _check_content(
    msg: Message, body: AlertBody, alert: Alert, cert: IssuerCert, root: RootKey, now: int,
    seqs: SequenceWindow | None, known: Callable[[str, str], KnownAlert | None],
) -> VerifiedAlert | Rejection:
    problem = scope_problem(alert, cert, body.expires, now)
    if problem is not None:
        return problem
    if alert.msg_type in (MsgType.UPDATE, MsgType.CANCEL):
        for ref in alert.references:
            other = known(ref.sender, ref.identifier)
            if other is None:
                same = ref.sender == alert.sender
            else:
                same = other.issuer_id == cert.issuer_id
            above = other is not None and cert.level > other.level
            if not (same or above):
                return Rejection(Reason.REFERENCE_OTHER_ISSUER,
                                 f"{ref.identifier} was issued by {ref.sender}")
    if seqs is not None:
        seq_problem = seqs.check(cert.issuer_id, body.seq)
        if seq_problem is not None:
            return Rejection(seq_problem, f"{cert.issuer_id} #{body.seq}")
    return VerifiedAlert(msg.id, alert, cert, root, body.seq, body.expires)
