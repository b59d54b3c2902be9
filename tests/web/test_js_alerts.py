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
    RootKey,
    SequenceWindow,
    TrustStore,
    create_revocation,
    decode_cert,
    issue_cert,
    rotate_root,
    sign_alert,
    verify_alert,
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
    assert json.loads(done.stdout) == {
        "verdicts": ["ok", "bad signature", "ok", "ok", "certificate revoked"],
        "current": 0}
    assert decode_cert(AUTH.cert_msg.body).serial == 17
