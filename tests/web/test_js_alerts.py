"""The browser node's alert check (app/alerts.js) and the Python node's (`verify_alert`) give
the same verdict, reason for reason, on the same alerts: a valid one, and one breaking each rule
of docs/protocol.md §6.5 (forged signatures, unknown or impostor roots, a revoked certificate,
expiry, clock skew, sender, severity, type, area, references, sequence numbers) and texts
where JavaScript and Python could read Unicode differently (U+FEFF at an end, which JS `trim`
strips and Python does not; emoji counted as code points, not UTF-16 units). Python's verdict is
computed here, and Node.js runs the same messages through the browser's module
(tests/web/js/verify_alerts.mjs): real code on both sides, nothing stubbed."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.alerts.examples import example_authority, example_nl_alert
from meshnode.alerts.model import Alert, MsgType, Reference, Severity
from meshnode.codec import pack
from meshnode.crypto.authority import (
    CertRole,
    Rejection,
    RootKey,
    SequenceWindow,
    TrustStore,
    apply_revocation,
    apply_rotation,
    create_revocation,
    decode_cert,
    issue_cert,
    rotate_root,
    sign_alert,
    verify_alert,
    verify_cert,
)
from meshnode.wire import Kind, Message, encode_message, signed_bytes

RUNNER = Path(__file__).parent / "js" / "verify_alerts.mjs"
NOW = 1_790_000_000
KEYS = json.loads((Path(__file__).parent.parent / "vectors" / "v1.json").read_text())["keys"]


def _key(name: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(KEYS[f"{name}_seed"]))


AUTH = example_authority(NOW, root=_key("root"), issuer=_key("issuer"), root_name="Test root")
ROOT_KEY = AUTH.root.public_key().public_bytes_raw()


def _raw_alert(cap: bytes, *, signer: ed25519.Ed25519PrivateKey = AUTH.issuer,
               cert: Message = AUTH.cert_msg, expires: int = NOW + 6 * 3600,
               seq: int = 1) -> Message:
    """An alert body packed by hand, so that its CAP bytes may break the rules."""
    body = pack({1: cert.body, 2: cert.sig, 3: seq, 4: expires, 5: cap})
    return Message(Kind.ALERT, body, signer.sign(signed_bytes(1, Kind.ALERT, body)))


def _cap_with(change: Callable[[dict[int, Any]], None]) -> bytes:
    """The example alert's compact CAP bytes, decoded, changed, packed canonically."""
    valid = msgpack.unpackb(AUTH.alert(NOW).body, strict_map_key=False)[5]
    cap = msgpack.unpackb(valid, strict_map_key=False)
    change(cap)
    return pack(cap)


def _headline(text: str) -> Callable[[dict[int, Any]], None]:
    def change(cap: dict[int, Any]) -> None:
        cap[15] = cap[15][:1]  # one language: the long texts must fit in 4,096 bytes
        cap[15][0][17] = text
        cap[15][0].pop(18, None)
        cap[15][0].pop(19, None)
    return change


def _cert(**changes: Any) -> Message:
    return issue_cert(AUTH.root, dataclasses.replace(AUTH.cert, **changes))


def _signed(alert: Alert, cert: Message = AUTH.cert_msg, seq: int = 1) -> Message:
    return sign_alert(AUTH.issuer, cert, alert, seq)


BASE = example_nl_alert(NOW)
UPDATE_OTHER = dataclasses.replace(BASE, msg_type=MsgType.UPDATE, references=(
    Reference("nl-alert@other.example", "nl.other.1", NOW - 60, 0),))
UPDATE_OWN = dataclasses.replace(BASE, msg_type=MsgType.UPDATE, references=(
    Reference(BASE.sender, "nl.vrr.earlier", NOW - 60, 0),))
ROTATION = rotate_root(AUTH.root, _key("root2"), "Test root 2", 99, NOW - 10, NOW + 86_400)
REVOKED = TrustStore(AUTH.trust.roots, frozenset({(AUTH.trust.roots[0].id, 17)}))
STRANGER = TrustStore((RootKey(_key("root2").public_key().public_bytes_raw(), "Other"),))
SEEN = SequenceWindow()
SEEN.record("nl-vr17", 1)
SEEN.record("nl-vr17", 2000)

# name -> (message, trust, now, sequence numbers seen)
CASES: dict[str, tuple[Message, TrustStore, int, SequenceWindow | None]] = {
    "valid": (AUTH.alert(NOW), AUTH.trust, NOW + 60, None),
    "alert signed by another key": (
        sign_alert(_key("anna_sign"), AUTH.cert_msg, BASE, 1), AUTH.trust, NOW, None),
    "certificate signed by an impostor root": (
        _signed(BASE, Message(Kind.CERT, AUTH.cert_msg.body, _key("root2").sign(
            signed_bytes(1, Kind.CERT, AUTH.cert_msg.body)))), AUTH.trust, NOW, None),
    "root not pinned": (AUTH.alert(NOW), STRANGER, NOW, None),
    "certificate revoked": (AUTH.alert(NOW), REVOKED, NOW, None),
    "rotation certificate signing": (
        sign_alert(_key("root2"), ROTATION, BASE, 1), AUTH.trust, NOW, None),
    "certificate not yet valid": (
        _signed(BASE, _cert(not_before=NOW + 10)), AUTH.trust, NOW + 20, None),
    "certificate expired": (AUTH.alert(NOW), AUTH.trust, NOW + 31 * 86_400, None),
    "alert outlives its certificate": (
        _signed(BASE, _cert(not_after=NOW + 3600)), AUTH.trust, NOW, None),
    "alert expired": (AUTH.alert(NOW), AUTH.trust, NOW + 7 * 3600, None),
    "sent in the future": (AUTH.alert(NOW), AUTH.trust, NOW - 3601, None),
    "sender not certified": (_signed(dataclasses.replace(BASE, sender="x@evil.example")),
                             AUTH.trust, NOW, None),
    "severity above the maximum": (
        _signed(BASE, _cert(max_severity=Severity.MODERATE)), AUTH.trust, NOW, None),
    "message type not allowed": (
        _signed(BASE, _cert(msg_types=frozenset({MsgType.CANCEL}))), AUTH.trust, NOW, None),
    "area outside the scope": (
        _signed(BASE, _cert(polygons=(((520_000_000, 40_000_000), (520_000_000, 41_000_000),
                                       (519_000_000, 41_000_000)),))), AUTH.trust, NOW, None),
    "update of another issuer's alert": (_signed(UPDATE_OTHER), AUTH.trust, NOW, None),
    "update of its own sender's alert": (_signed(UPDATE_OWN), AUTH.trust, NOW, None),
    "sequence number replayed": (_signed(BASE, seq=2000), AUTH.trust, NOW, SEEN),
    "sequence number below the window": (_signed(BASE, seq=900), AUTH.trust, NOW, SEEN),
    "sequence number inside the window": (_signed(BASE, seq=1500), AUTH.trust, NOW, SEEN),
    "malformed: body not canonical": (Message(Kind.ALERT, b"\x80", b"\x00" * 64), AUTH.trust,
                                      NOW, None),
    "headline ending in U+FEFF (JS trim would strip it)": (
        _raw_alert(_cap_with(_headline("Brand\ufeff"))), AUTH.trust, NOW, None),
    "headline ending in a no-break space": (
        _raw_alert(_cap_with(_headline("Brand\u00a0"))), AUTH.trust, NOW, None),
    "headline of 1,395 code points (1,790 UTF-16 units)": (
        _raw_alert(_cap_with(_headline("a" * 1000 + "\U0001f525" * 395))), AUTH.trust, NOW,
        None),
    "headline of 1,396 code points": (
        _raw_alert(_cap_with(_headline("a" * 1001 + "\U0001f525" * 395))), AUTH.trust, NOW,
        None),
    "expiry differs from the latest info expiry": (
        _raw_alert(_cap_with(lambda c: None), expires=NOW + 5 * 3600), AUTH.trust, NOW, None),
}


def _python_verdict(msg: Message, trust: TrustStore, now: int,
                    seqs: SequenceWindow | None) -> str:
    got = verify_alert(msg, trust, now, seqs=seqs)
    return "ok" if not hasattr(got, "reason") else str(got.reason.value)


def _case(name: str) -> dict[str, Any]:
    msg, trust, now, seqs = CASES[name]
    return {"name": name, "message": encode_message(msg).hex(), "now": now,
            "roots": [{"key": r.key.hex(), "name": r.name} for r in trust.roots],
            "revoked": [[rid.hex(), serial] for rid, serial in sorted(trust.revoked)],
            "seen": [] if seqs is None else [[i, s] for i, nums in seqs.recent.items()
                                             for s in sorted(nums)],
            "python": _python_verdict(msg, trust, now, seqs)}


@pytest.fixture(scope="module")
def verdicts() -> dict[str, dict[str, str]]:
    node = shutil.which("node") or shutil.which("nodejs")
    assert node is not None, "Node.js is needed (apt-get install nodejs; .ci/run installs it)"
    cases = [_case(name) for name in CASES]
    done = subprocess.run([node, str(RUNNER)], input=json.dumps(cases), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    js = json.loads(done.stdout)
    return {c["name"]: {"python": c["python"], "js": js[c["name"]]} for c in cases}


def test_the_browser_and_the_python_node_agree_on_every_alert(
        verdicts: dict[str, dict[str, str]]) -> None:
    disagree = {name: v for name, v in verdicts.items() if v["python"] != v["js"]}
    assert disagree == {}


def test_the_cases_cover_acceptance_and_every_refusal_reason(
        verdicts: dict[str, dict[str, str]]) -> None:
    """The agreement above means something: the cases reach each verdict of §6.5."""
    reasons = {v["python"] for v in verdicts.values()}
    assert reasons >= {
        "ok", "malformed", "bad signature", "unknown root", "certificate revoked",
        "certificate is not an issuer certificate", "certificate not yet valid",
        "certificate expired", "alert expired", "sent time is in the future",
        "CAP sender not covered by the certificate", "severity above the issuer's maximum",
        "message type not allowed for the issuer", "area outside the issuer's scope",
        "update or cancel refers to another issuer's alert", "sequence number already used",
        "sequence number older than the issuer's window"}
    assert verdicts["headline of 1,395 code points (1,790 UTF-16 units)"]["python"] == "ok"
    assert verdicts["headline ending in U+FEFF (JS trim would strip it)"]["python"] == "ok"
    assert verdicts["certificate signed by an impostor root"]["python"] == "bad signature"


def test_a_revocation_from_the_root_withdraws_the_certificate_in_the_browser() -> None:
    node = shutil.which("node") or shutil.which("nodejs")
    assert node is not None
    revoke = create_revocation(AUTH.root, [AUTH.cert.serial], NOW, "key lost")
    forged = create_revocation(_key("root2"), [AUTH.cert.serial], NOW)
    forged = Message(Kind.REVOKE, pack({**msgpack.unpackb(forged.body, strict_map_key=False),
                                        1: AUTH.trust.roots[0].id}), forged.sig)
    case = {"book": True, "now": NOW, "roots": [{"key": ROOT_KEY.hex(), "name": "Test root"}],
            "steps": [encode_message(m).hex() for m in (
                AUTH.alert(NOW), forged, AUTH.alert(NOW, seq=2, identifier="b"), revoke,
                AUTH.alert(NOW, seq=3, identifier="c"))]}
    done = subprocess.run([node, str(RUNNER)], input=json.dumps(case), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert (got["verdicts"], got["current"]) == (
        ["ok", "bad signature", "ok", "ok", "certificate revoked"], 0)
    assert decode_cert(AUTH.cert_msg.body).serial == 17


# --- root rotation (§6.5): the browser follows exactly the rotations the Python node does ----

ROOT2, ROOT3, ROOT4 = _key("root2"), ed25519.Ed25519PrivateKey.from_private_bytes(
    bytes([3]) * 32), ed25519.Ed25519PrivateKey.from_private_bytes(bytes([4]) * 32)
ROTATED_AT = NOW - 10  # the rotation's not_before: the old root is retired from then on


def _resigned_rotation(msg: Message, *, cosigner: ed25519.Ed25519PrivateKey | None = None,
                       signer: ed25519.Ed25519PrivateKey | None = None) -> Message:
    """`msg` (a rotation) co-signed by `cosigner` (and then signed again by the first root)
    or signed by `signer` instead."""
    body = msg.body
    if cosigner is not None:
        signer = signer or AUTH.root
        fields = msgpack.unpackb(body, strict_map_key=False)
        fields.pop(15)
        fields[15] = cosigner.sign(b"meshnode/v1/root-cosign\x00" + pack(fields))
        body = pack(fields)
    sig = msg.sig if signer is None else signer.sign(signed_bytes(1, Kind.CERT, body))
    return Message(Kind.CERT, body, sig)


def _issuer_cert(root: ed25519.Ed25519PrivateKey, serial: int, not_before: int) -> Message:
    return issue_cert(root, dataclasses.replace(AUTH.cert, serial=serial, not_before=not_before))


def _alert_under(cert: Message, seq: int, name: str) -> Message:
    return _signed(dataclasses.replace(BASE, identifier=f"nl.vrr.{name}"), cert, seq)


GOOD_ROTATION = rotate_root(AUTH.root, ROOT2, "Test root 2", 40, ROTATED_AT, NOW + 86_400)
# name -> message, fed in this order to a node that pinned AUTH's root
ROTATION_STEPS: list[tuple[str, Message]] = [
    ("an alert under the first root", _alert_under(AUTH.cert_msg, 1, "a")),
    ("a rotation co-signed by another key than the new root's",
     _resigned_rotation(GOOD_ROTATION, cosigner=ROOT3)),
    ("a rotation to a key the pinned root never signed (a stranger root signed it)",
     _resigned_rotation(GOOD_ROTATION, signer=ROOT3)),
    ("a rotation signed by a root not pinned", rotate_root(ROOT3, ROOT4, "Vier", 1,
                                                           ROTATED_AT, NOW + 86_400)),
    ("a rotation that expired", rotate_root(AUTH.root, ROOT2, "Test root 2", 41, NOW - 7200,
                                            NOW - 3600)),
    ("a rotation not yet valid", rotate_root(AUTH.root, ROOT2, "Test root 2", 42, NOW + 3600,
                                             NOW + 86_400)),
    ("an alert under the new root, before the rotation", _alert_under(
        _issuer_cert(ROOT2, 1, NOW - 5), 2, "b")),
    ("the rotation, signed and co-signed", GOOD_ROTATION),
    ("an alert under the new root", _alert_under(_issuer_cert(ROOT2, 2, NOW - 5), 3, "c")),
    ("an alert under the old root's certificate from after the rotation",
     _alert_under(_issuer_cert(AUTH.root, 50, ROTATED_AT), 4, "d")),
    ("an alert under the old root's certificate from before", _alert_under(
        _issuer_cert(AUTH.root, 51, ROTATED_AT - 1), 5, "e")),
    ("a rotation from the retired root", rotate_root(AUTH.root, ROOT4, "Vier", 43,
                                                     NOW - 5, NOW + 86_400)),
    ("an issuer certificate of the new root", _issuer_cert(ROOT2, 3, NOW - 5)),
    ("a rotation from the new root onwards", rotate_root(ROOT2, ROOT3, "Drie", 7, NOW - 2,
                                                         NOW + 86_400)),
    ("an alert under the third root", _alert_under(_issuer_cert(ROOT3, 1, NOW - 1), 6, "f")),
    ("a revocation by the new root of its certificate",
     create_revocation(ROOT2, [2], NOW)),
    ("an alert under the revoked certificate", _alert_under(
        _issuer_cert(ROOT2, 2, NOW - 5), 7, "g")),
]


def _python_book(steps: list[Message], now: int) -> list[str]:
    """What the Python node's rules say of each message in turn: the functions its intake
    calls (verify_alert, verify_cert, apply_rotation, apply_revocation), its trust carried
    from one message to the next."""
    trust, seqs, out = AUTH.trust, SequenceWindow(), []
    for msg in steps:
        if msg.kind is Kind.ALERT:
            got: Any = verify_alert(msg, trust, now, seqs=seqs)
            if not hasattr(got, "reason"):
                seqs.record(got.cert.issuer_id, got.seq)
        elif msg.kind is Kind.REVOKE:
            got = apply_revocation(trust, msg)
        else:
            got = verify_cert(msg, trust, now)
            if not hasattr(got, "reason") and got[0].role is CertRole.ROOT:
                got = apply_rotation(trust, msg, now)
        if isinstance(got, TrustStore):
            trust = got
        out.append("ok" if not hasattr(got, "reason") else str(got.reason.value))
    return out


def _js_book(steps: list[Message], now: int, saved: dict[str, Any] | None = None,
             roots: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The browser's AlertBook (pinning `roots`, by default the test root, or read back from
    `saved`) fed `steps` in order at `now`, run by Node.js."""
    node = shutil.which("node") or shutil.which("nodejs")
    assert node is not None
    pins = roots if roots is not None else [{"key": ROOT_KEY.hex(), "name": "Test root"}]
    case = {"book": True, "now": now, "roots": pins,
            "saved": saved, "steps": [encode_message(m).hex() for m in steps]}
    done = subprocess.run([node, str(RUNNER)], input=json.dumps(case), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_the_browser_follows_root_rotations_as_the_python_node_does() -> None:
    steps = [m for _, m in ROTATION_STEPS]
    python = _python_book(steps, NOW)
    js = _js_book(steps, NOW)
    assert dict(zip([n for n, _ in ROTATION_STEPS], js["verdicts"], strict=True)) == \
        dict(zip([n for n, _ in ROTATION_STEPS], python, strict=True))
    # The agreement means something: acceptance and each refusal a rotation can meet.
    assert set(python) >= {"ok", "bad signature", "unknown root", "certificate expired",
                           "certificate not yet valid", "certificate revoked"}
    assert python[ROTATION_STEPS.index(next(s for s in ROTATION_STEPS
                                            if s[0] == "the rotation, signed and co-signed"))] \
        == "ok"
    assert js["roots"] == [["Test root", ROTATED_AT], ["Test root 2", NOW - 2], ["Drie", None]]


def test_a_rotation_followed_is_kept_across_a_reload_even_after_it_expired() -> None:
    """The phone keeps the rotations it followed in its storage; read back after the rotation
    certificate's end, the new root is still trusted (and the certificate no longer carried)."""
    short = rotate_root(AUTH.root, ROOT2, "Test root 2", 44, ROTATED_AT, NOW + 3600)
    later = NOW + 7200
    alert = _signed(dataclasses.replace(BASE, identifier="nl.vrr.h", sent=NOW + 7100),
                    _issuer_cert(ROOT2, 9, NOW + 7000))
    js = _js_book([short], NOW)
    assert js["verdicts"] == ["ok"]
    reloaded = _js_book([], later, js["saved"])
    assert reloaded["roots"] == [["Test root", ROTATED_AT], ["Test root 2", None]]
    assert reloaded["carried"] == 0  # the expired rotation is not carried
    reloaded = _js_book([alert], later, js["saved"])
    assert reloaded["verdicts"] == ["ok"]
    assert reloaded["carried"] == 1  # the alert


def test_a_phone_pinning_after_a_rotation_still_verifies_the_old_roots_earlier_certificates(
) -> None:
    """A phone that first visits a steunpunt after a rotation pins the roots as the hub hands
    them out (/app/roots.json): the retired root with the moment it was retired. Certificates
    the old root issued before then still verify, later ones do not, as at the Python node."""
    steps = [_alert_under(_issuer_cert(AUTH.root, 51, ROTATED_AT - 1), 1, "before"),
             _alert_under(_issuer_cert(AUTH.root, 52, ROTATED_AT), 2, "after"),
             _alert_under(_issuer_cert(ROOT2, 1, NOW - 5), 3, "new")]
    hub = TrustStore((RootKey(ROOT_KEY, "Test root", retired=ROTATED_AT),
                      RootKey(ROOT2.public_key().public_bytes_raw(), "Test root 2")))
    python = []
    for msg in steps:
        got = verify_alert(msg, hub, NOW)
        python.append(got.reason.value if isinstance(got, Rejection) else "ok")
    pins = [{"key": r.key.hex(), "name": r.name, "retired": r.retired} for r in hub.roots]
    js = _js_book(steps, NOW, roots=pins)
    assert js["verdicts"] == python == ["ok", "unknown root", "ok"]
    assert js["roots"] == [["Test root", ROTATED_AT], ["Test root 2", None]]
