"""The authority chain: every forgery is refused with its own reason, offline."""

from __future__ import annotations

import dataclasses

from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import assume, given
from hypothesis import strategies as st

from meshnode import wire
from meshnode.alerts.model import Area, MsgType, Reference, Severity
from meshnode.crypto.authority import (
    KnownAlert,
    Level,
    Reason,
    Rejection,
    RootKey,
    SequenceWindow,
    TrustStore,
    VerifiedAlert,
    apply_revocation,
    apply_rotation,
    create_revocation,
    decode_alert_body,
    decode_cert,
    issue_cert,
    proven_time,
    rotate_root,
    verify_alert,
    verify_cert,
)
from meshnode.crypto.verify import SignatureMemo
from meshnode.wire import Message
from tests.crypto.chain import DAY, NOW, SENDER, make_chain, nl_alert


def reason(result: VerifiedAlert | Rejection) -> Reason | None:
    return result.reason if isinstance(result, Rejection) else None


def relay(msg: Message) -> Message:
    return wire.decode_message(wire.encode_message(msg))


def test_a_genuine_alert_verifies_offline_with_its_chain() -> None:
    chain = make_chain()
    result = verify_alert(relay(chain.alert()), chain.trust, NOW + 60)
    assert isinstance(result, VerifiedAlert), result
    assert result.alert == nl_alert()
    assert result.cert.name == "Veiligheidsregio Rotterdam-Rijnmond"
    assert result.root.name == "Test root"
    assert result.seq == 1
    assert result.expires == NOW + 6 * 3600


def test_typical_alert_fits_the_limits() -> None:
    raw = wire.encode_message(make_chain().alert())
    assert len(raw) <= wire.MAX_MESSAGE
    assert len(decode_alert_body(wire.decode_message(raw).body).cap) <= 4096


def test_bad_alert_signature() -> None:
    chain = make_chain()
    forged = chain.alert(key=ed25519.Ed25519PrivateKey.generate())
    assert reason(verify_alert(forged, chain.trust, NOW)) is Reason.BAD_SIGNATURE


def test_certificate_not_signed_by_the_root() -> None:
    chain = make_chain()
    mallory_root = ed25519.Ed25519PrivateKey.generate()
    fake_cert = issue_cert(mallory_root, chain.cert)
    # Claim the real root's id on a certificate the real root never signed.
    fake = dataclasses.replace(fake_cert, body=chain.cert_msg.body)
    msg = chain.alert(cert_msg=dataclasses.replace(fake, sig=fake_cert.sig))
    assert reason(verify_alert(msg, chain.trust, NOW)) is Reason.BAD_SIGNATURE


def test_unknown_root() -> None:
    chain, other = make_chain(), make_chain()
    assert reason(verify_alert(chain.alert(), other.trust, NOW)) is Reason.UNKNOWN_ROOT


def test_certificate_not_yet_valid() -> None:
    chain = make_chain().with_cert(not_before=NOW + 3600)
    assert reason(verify_alert(chain.alert(), chain.trust, NOW)) is Reason.CERT_NOT_YET_VALID


def test_certificate_expired() -> None:
    chain = make_chain().with_cert(not_before=NOW - 10 * DAY, not_after=NOW - DAY)
    assert reason(verify_alert(chain.alert(), chain.trust, NOW)) is Reason.CERT_EXPIRED


def test_alert_outliving_its_certificate() -> None:
    """A stolen key of an expiring certificate cannot mint long-lived alerts."""
    chain = make_chain().with_cert(not_after=NOW + 3600)
    assert reason(verify_alert(chain.alert(), chain.trust, NOW)) is Reason.CERT_EXPIRED


def test_area_outside_the_issuers_scope() -> None:
    chain = make_chain()
    amsterdam = ((524_000_000, 48_000_000), (524_000_000, 50_000_000),
                 (523_000_000, 50_000_000))
    alert = nl_alert()
    infos = tuple(dataclasses.replace(i, areas=(Area(area_desc="Amsterdam",
                                                     polygons=(amsterdam,)),))
                  for i in alert.infos)
    msg = chain.alert(dataclasses.replace(alert, infos=infos))
    assert reason(verify_alert(msg, chain.trust, NOW)) is Reason.AREA_OUT_OF_SCOPE


def test_geocode_scope() -> None:
    chain = make_chain()
    alert = nl_alert()

    def with_code(code: str) -> Message:
        infos = tuple(dataclasses.replace(i, areas=(Area(area_desc="Gemeente",
                                                         geocodes=(("CBS", code),)),))
                      for i in alert.infos)
        return chain.alert(dataclasses.replace(alert, infos=infos))

    assert isinstance(verify_alert(with_code("GM0599"), chain.trust, NOW), VerifiedAlert)
    assert reason(verify_alert(with_code("GM0363"), chain.trust, NOW)) is Reason.AREA_OUT_OF_SCOPE


def test_severity_above_the_issuers_maximum() -> None:
    chain = make_chain().with_cert(max_severity=Severity.MODERATE)
    assert reason(verify_alert(chain.alert(), chain.trust, NOW)) is Reason.SEVERITY_TOO_HIGH


def test_msg_type_not_allowed() -> None:
    chain = make_chain().with_cert(msg_types=frozenset({MsgType.UPDATE}))
    assert reason(verify_alert(chain.alert(), chain.trust, NOW)) is Reason.MSG_TYPE_NOT_ALLOWED


def test_revoked_certificate() -> None:
    chain = make_chain()
    trust = apply_revocation(chain.trust, relay(create_revocation(chain.root, [17], NOW)))
    assert isinstance(trust, TrustStore)
    assert reason(verify_alert(chain.alert(), trust, NOW)) is Reason.REVOKED


def test_revocation_by_someone_else_is_refused() -> None:
    chain = make_chain()
    bogus = create_revocation(ed25519.Ed25519PrivateKey.generate(), [17], NOW)
    assert reason(apply_revocation(chain.trust, bogus)) is Reason.UNKNOWN_ROOT  # type: ignore[arg-type]
    tampered = dataclasses.replace(create_revocation(chain.root, [18], NOW), sig=bytes(64))
    assert reason(apply_revocation(chain.trust, tampered)) is Reason.BAD_SIGNATURE  # type: ignore[arg-type]


def test_sequence_replayed_and_rolled_back() -> None:
    chain = make_chain()
    seqs = SequenceWindow()
    first = verify_alert(chain.alert(seq=5000), chain.trust, NOW, seqs=seqs)
    assert isinstance(first, VerifiedAlert)
    seqs.record(first.cert.issuer_id, first.seq)
    update = nl_alert(identifier="other")
    assert reason(verify_alert(chain.alert(update, seq=5000), chain.trust, NOW,
                               seqs=seqs)) is Reason.SEQUENCE_REPLAYED
    assert reason(verify_alert(chain.alert(update, seq=10), chain.trust, NOW,
                               seqs=seqs)) is Reason.SEQUENCE_ROLLED_BACK
    # Out of order but recent: delay-tolerant links deliver like this, and it is accepted.
    assert isinstance(verify_alert(chain.alert(update, seq=4990), chain.trust, NOW, seqs=seqs),
                      VerifiedAlert)


def test_update_of_another_issuers_alert() -> None:
    region = make_chain()
    ref = Reference(sender="someone-else@example", identifier="their-alert", sent=NOW - 60)
    cancel = nl_alert(msg_type=MsgType.CANCEL, references=(ref,))
    assert reason(verify_alert(region.alert(cancel), region.trust, NOW)
                  ) is Reason.REFERENCE_OTHER_ISSUER
    # A known alert of a lower-level issuer may be cancelled by the region ...
    lower = KnownAlert("nl-gm0599", Level.MUNICIPALITY)
    assert isinstance(verify_alert(region.alert(cancel), region.trust, NOW,
                                   known=lambda s, i: lower), VerifiedAlert)
    # ... but not one of an equal issuer, even under the same CAP sender string.
    peer = KnownAlert("nl-vr18", Level.REGION)
    own_ref = Reference(sender=SENDER, identifier="theirs", sent=NOW - 60)
    update = nl_alert(msg_type=MsgType.UPDATE, references=(own_ref,))
    assert reason(verify_alert(region.alert(update), region.trust, NOW,
                               known=lambda s, i: peer)) is Reason.REFERENCE_OTHER_ISSUER


def test_update_of_own_alert_is_accepted() -> None:
    chain = make_chain()
    ref = Reference(sender=SENDER, identifier="nl.vrr.1", sent=NOW - 60)
    update = nl_alert(msg_type=MsgType.UPDATE, references=(ref,))
    assert isinstance(verify_alert(chain.alert(update), chain.trust, NOW), VerifiedAlert)


def test_alert_already_expired() -> None:
    chain = make_chain()
    assert reason(verify_alert(chain.alert(), chain.trust, NOW + 7 * 3600)
                  ) is Reason.ALERT_EXPIRED


def test_alert_sent_in_the_future() -> None:
    chain = make_chain()
    assert reason(verify_alert(chain.alert(), chain.trust, NOW - 2 * 3600)
                  ) is Reason.SENT_IN_FUTURE


def test_sender_not_certified() -> None:
    chain = make_chain()
    msg = chain.alert(nl_alert(sender="nl-alert@government.example"))
    assert reason(verify_alert(msg, chain.trust, NOW)) is Reason.SENDER_NOT_CERTIFIED


def test_root_rotation_needs_both_roots() -> None:
    chain = make_chain()
    new = ed25519.Ed25519PrivateKey.generate()
    rotation = rotate_root(chain.root, new, "Root 2027", 1, NOW, NOW + 365 * DAY)
    trust = apply_rotation(chain.trust, relay(rotation), NOW)
    assert isinstance(trust, TrustStore)
    assert len(trust.roots) == 2
    # Certificates the old root issued before the rotation still verify ...
    assert isinstance(verify_alert(chain.alert(), trust, NOW), VerifiedAlert)
    # ... the old root is retired for certificates issued from the rotation on ...
    late = chain.with_cert(serial=18, not_before=NOW)
    assert reason(verify_alert(late.alert(), trust, NOW)) is Reason.UNKNOWN_ROOT
    # ... and the new root's certificates verify.
    moved = dataclasses.replace(chain, root=new).with_cert(serial=19, not_before=NOW)
    assert isinstance(verify_alert(moved.alert(), trust, NOW), VerifiedAlert)
    assert reason(verify_alert(moved.alert(), chain.trust, NOW)) is Reason.UNKNOWN_ROOT
    # A rotation signed only by the old root (new root did not co-sign) is refused.
    forged_cosig = rotate_root(chain.root, new, "Root 2027", 2, NOW, NOW + DAY)
    body = wire.decode_message(wire.encode_message(forged_cosig)).body
    bad = dataclasses.replace(decode_cert(body), cosig=bytes(64))
    bad_msg = issue_cert(chain.root, bad)
    assert reason(verify_cert(bad_msg, chain.trust, NOW)) is Reason.BAD_SIGNATURE  # type: ignore[arg-type]
    # Signed by the new root alone (not by the pinned old one) is an unknown root.
    unknown = rotate_root(new, ed25519.Ed25519PrivateKey.generate(), "X", 3, NOW, NOW + DAY)
    assert reason(apply_rotation(chain.trust, unknown, NOW)) is Reason.UNKNOWN_ROOT  # type: ignore[arg-type]


def test_rotation_certificate_cannot_sign_alerts() -> None:
    chain = make_chain()
    new = ed25519.Ed25519PrivateKey.generate()
    rotation = rotate_root(chain.root, new, "Root 2027", 1, NOW - DAY, NOW + 365 * DAY)
    msg = chain.alert(key=new, cert_msg=rotation)
    assert reason(verify_alert(msg, chain.trust, NOW)) is Reason.NOT_AN_ISSUER


def test_malformed_alert_body() -> None:
    chain = make_chain()
    msg = chain.alert()
    broken = dataclasses.replace(msg, body=msg.body[:-1])
    assert reason(verify_alert(broken, chain.trust, NOW)) is Reason.MALFORMED


@given(st.data())
def test_random_mutations_of_signed_alerts_never_verify(data: st.DataObject) -> None:
    chain = CHAIN
    msg = SIGNED
    target = data.draw(st.sampled_from(["body", "sig"]))
    raw = bytearray(getattr(msg, target))
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] ^= data.draw(st.integers(1, 255))
    assume(bytes(raw) != getattr(msg, target))  # two flips of one bit cancel out
    mutated = dataclasses.replace(msg, **{target: bytes(raw)})
    assert isinstance(verify_alert(mutated, chain.trust, NOW), Rejection)


CHAIN = make_chain()
SIGNED = CHAIN.alert()


def test_trust_store_pins_by_id() -> None:
    chain = make_chain()
    root = chain.trust.roots[0]
    assert chain.trust.root(root.id) == root
    assert chain.trust.root(bytes(16)) is None
    assert RootKey(root.key, "x").id == root.id


def test_certificate_cache_still_checks_revocation_and_signatures() -> None:
    from meshnode.crypto.authority import CertCache

    chain = make_chain()
    cache = CertCache(size=2)
    assert isinstance(verify_alert(chain.alert(), chain.trust, NOW, cache=cache), VerifiedAlert)
    assert isinstance(verify_alert(chain.alert(seq=2), chain.trust, NOW, cache=cache),
                      VerifiedAlert)
    revoked = apply_revocation(chain.trust, create_revocation(chain.root, [17], NOW))
    assert isinstance(revoked, TrustStore)
    assert reason(verify_alert(chain.alert(seq=3), revoked, NOW, cache=cache)) is Reason.REVOKED
    # A cached certificate does not excuse a bad alert signature.
    forged = chain.alert(seq=4, key=ed25519.Ed25519PrivateKey.generate())
    assert reason(verify_alert(forged, chain.trust, NOW, cache=cache)) is Reason.BAD_SIGNATURE
    # Nor a certificate body with another signature than the one cached.
    bad_sig = dataclasses.replace(chain.cert_msg, sig=bytes(64))
    assert reason(verify_alert(chain.alert(seq=5, cert_msg=bad_sig), chain.trust, NOW,
                               cache=cache)) is Reason.BAD_SIGNATURE


MEMO = SignatureMemo()
REVOKED_TRUST = apply_revocation(CHAIN.trust, create_revocation(CHAIN.root, [17], NOW))
_AMSTERDAM = Area(area_desc="Amsterdam", polygons=((
    (524_000_000, 48_000_000), (524_000_000, 50_000_000), (523_000_000, 50_000_000)),))
OUT_OF_SCOPE = CHAIN.alert(dataclasses.replace(nl_alert(), infos=tuple(
    dataclasses.replace(i, areas=(_AMSTERDAM,)) for i in nl_alert().infos)), seq=3)


@given(st.data())
def test_a_shared_memo_never_changes_a_verdict(data: st.DataObject) -> None:
    """The simulator shares one memo (signatures, decoded alerts and certificates) among
    thousands of nodes: every verdict must be the one a node without it reaches, whatever the
    time, the trust and the bytes."""
    msg = data.draw(st.sampled_from([SIGNED, CHAIN.alert(seq=2), OUT_OF_SCOPE]))
    if data.draw(st.booleans()):
        target = data.draw(st.sampled_from(["body", "sig"]))
        raw = bytearray(getattr(msg, target))
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] ^= data.draw(st.integers(1, 255))
        msg = dataclasses.replace(msg, **{target: bytes(raw)})
    trust = data.draw(st.sampled_from([CHAIN.trust, REVOKED_TRUST, TrustStore(())]))
    now = data.draw(st.sampled_from([NOW - 2 * DAY, NOW, NOW + 7 * 3600, NOW + 400 * DAY]))
    assert isinstance(trust, TrustStore)
    assert verify_alert(msg, trust, now, memo=MEMO) == verify_alert(msg, trust, now)


def test_an_alert_proves_its_sent_time_only_through_its_whole_chain() -> None:
    chain = make_chain()
    later = NOW + 10 * DAY
    assert proven_time(chain.alert(nl_alert(sent=later)), chain.trust) == (later, chain.cert)
    forged = chain.alert(nl_alert(sent=later), key=ed25519.Ed25519PrivateKey.generate())
    assert proven_time(forged, chain.trust) is None
    assert proven_time(chain.alert(nl_alert(sent=NOW + 40 * DAY)), chain.trust) is None
    revoked = apply_revocation(chain.trust, create_revocation(chain.root, [chain.cert.serial],
                                                              NOW))
    assert isinstance(revoked, TrustStore)
    assert proven_time(chain.alert(nl_alert(sent=later)), revoked) is None
    assert proven_time(chain.alert(nl_alert(sent=later)), make_chain().trust) is None
