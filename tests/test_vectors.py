"""The published test vectors (tests/vectors/v1.json, quoted in docs/protocol.md).

Encoding is checked byte for byte from the vector's fields and keys; decoding field by field.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode import wire
from meshnode.alerts.area import area_within, covers
from meshnode.alerts.compact import decode_alert, encode_alert
from meshnode.alerts.model import Area, Circle
from meshnode.codec import pack
from meshnode.crypto import sealing
from meshnode.crypto.authority import (
    KnownAlert,
    Reason,
    Rejection,
    RootKey,
    TrustStore,
    VerifiedAlert,
    apply_revocation,
    apply_rotation,
    create_revocation,
    issue_cert,
    rotate_root,
    sign_alert,
    verify_alert,
    verify_cert,
    verify_revocation,
)
from meshnode.crypto.identity import Identity, PublicIdentity
from meshnode.crypto.signing import SignatureError, sign_body, verify_message
from meshnode.crypto.verify import ed25519_valid
from meshnode.routing.frames import blind_digest
from meshnode.wire import Message, Routing, WireError
from tests.vectors.make_vectors import VECTORS_MARKER, markdown

ROOT = Path(__file__).parent.parent
DATA = json.loads((ROOT / "tests" / "vectors" / "v1.json").read_text())
KEYS = {k: bytes.fromhex(v) for k, v in DATA["keys"].items()}
SIGNED_KINDS = ["post", "post_reply", "announce"]
BASIC = ["post", "post_reply", "announce", "dm", "receipt"]
AUTHORITY = ["cert", "alert", "revoke", "root_rotation"]
CREATED = 1_790_000_000
PROTOCOL_DOC = (ROOT / "docs" / "protocol.md").read_text()


def person(name: str) -> Identity:
    return Identity.from_seeds(KEYS[f"{name}_sign_seed"], KEYS[f"{name}_dh_seed"])


def body_from(kind: wire.Kind, fields: dict[str, Any]) -> wire.Body:
    cls = {wire.Kind.POST: wire.PostBody, wire.Kind.ANNOUNCE: wire.AnnounceBody,
           wire.Kind.DM: wire.DmBody, wire.Kind.RECEIPT: wire.ReceiptBody}[kind]
    values = {}
    for name, value in fields.items():
        is_bytes = cls.__dataclass_fields__[name].type in ("bytes", "bytes | None")
        values[name] = bytes.fromhex(value) if is_bytes and value is not None else value
    return cls(**values)  # type: ignore[no-any-return]


def kind_of(name: str) -> wire.Kind:
    return wire.Kind[name.split("_")[0].upper()]


@pytest.mark.parametrize("name", BASIC)
def test_decoding_gives_the_fields(name: str) -> None:
    v = DATA["vectors"][name]
    msg = wire.decode_message(bytes.fromhex(v["message"]))
    assert msg.kind == kind_of(name)
    assert msg.body.hex() == v["body"]
    assert msg.sig.hex() == v["sig"]
    assert msg.id.hex() == v["id"]
    assert msg.signed_bytes.hex() == v["signed_bytes"]
    assert msg.routing == Routing(**v["routing"])
    assert verify_message(msg) == body_from(msg.kind, v["fields"])


@pytest.mark.parametrize("name", SIGNED_KINDS)
def test_encoding_from_fields_is_byte_for_byte(name: str) -> None:
    v = DATA["vectors"][name]
    body = body_from(kind_of(name), v["fields"])
    msg = sign_body(body, person(v["signer"]).signing, Routing(**v["routing"]))
    assert msg.body.hex() == v["body"]
    assert msg.sig.hex() == v["sig"]  # Ed25519 signatures are deterministic
    assert wire.encode_message(msg).hex() == v["message"]


def test_dm_vector_opens_and_re_encodes() -> None:
    v = DATA["vectors"]["dm"]
    anna, bram = person("anna"), person("bram")
    msg = wire.decode_message(bytes.fromhex(v["message"]))
    opened = sealing.open_dm(bram, msg)
    # `inner` is a nested object holding exactly plaintext fields 1-4 by name (§12).
    assert v["inner"] == {"sign_key": opened.sender.sign_key.hex(),
                          "dh_key": opened.sender.dh_key.hex(), "text": opened.text,
                          "ack_seed": opened.ack_seed.hex()}
    assert opened.sender == PublicIdentity(anna.public.sign_key, anna.public.dh_key)
    body = body_from(wire.Kind.DM, v["fields"])
    assert isinstance(body, wire.DmBody)
    # The tag is the pair tag (§5): both ends derive the same X25519 secret, given in the vector.
    for own, other in ((bram, anna), (anna, bram)):
        assert sealing.pair_secret(own.agreement, other.public.dh_key) == bytes.fromhex(
            v["pair_secret"])
    assert body.tag == sealing.recipient_tag(bytes.fromhex(v["pair_secret"]),
                                             bram.public.dh_key, body.created // wire.DAY)
    # The envelope, re-signed with the one-time key from the plaintext, is byte-identical.
    ack = ed25519.Ed25519PrivateKey.from_private_bytes(opened.ack_seed)
    again = sign_body(body, ack, Routing(**v["routing"]))
    assert wire.encode_message(again).hex() == v["message"]
    # The plaintext layout: fields 1-5, then zero padding to a multiple of 64 bytes.
    plain = bytes.fromhex(v["plaintext"])
    assert len(plain) % sealing.PAD_BLOCK == 0
    sig = anna.sign(sealing.INNER_SIG_DOMAIN + pack(
        [bram.public.dh_key, body.ack_key, body.created, body.expires, opened.text]))
    pad = len(plain) - len(pack({1: anna.public.sign_key, 2: anna.public.dh_key,
                                 3: opened.text, 4: opened.ack_seed, 5: sig, 6: b""}))
    assert plain == pack({1: anna.public.sign_key, 2: anna.public.dh_key, 3: opened.text,
                          4: opened.ack_seed, 5: sig, 6: bytes(pad)})
    assert 0 <= pad < sealing.PAD_BLOCK  # the smallest padding (§5 step 4)


def test_receipt_vector_matches_the_dm() -> None:
    dm = wire.decode_message(bytes.fromhex(DATA["vectors"]["dm"]["message"]))
    receipt = wire.decode_message(bytes.fromhex(DATA["vectors"]["receipt"]["message"]))
    r, d = verify_message(receipt), verify_message(dm)
    assert isinstance(r, wire.ReceiptBody) and isinstance(d, wire.DmBody)
    assert sealing.receipt_matches(r, dm.id, d)
    ack = ed25519.Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex(DATA["vectors"]["dm"]["inner"]["ack_seed"]))
    assert sign_body(r, ack).sig == receipt.sig


@pytest.mark.parametrize("case", DATA["invalid"], ids=lambda c: c["why"])
def test_invalid_vectors_are_refused_naming_the_field(case: dict[str, str]) -> None:
    with pytest.raises(WireError) as err:
        msg = wire.decode_message(bytes.fromhex(case["hex"]))
        wire.decode_body(msg.kind, msg.body)
    assert err.value.field == case["field"]


@pytest.mark.parametrize("name", list(DATA["vectors"]))
def test_protocol_doc_quotes_every_vector(name: str) -> None:
    assert DATA["vectors"][name]["message"] in PROTOCOL_DOC.replace("\n", "")


def test_protocol_doc_quotes_the_json_exactly_as_stored() -> None:
    """The generated part of §12 is what `make_vectors.markdown()` makes of v1.json now: the
    document names every object (`fields`, `inner`, `routing`) as the JSON holds it."""
    quoted = PROTOCOL_DOC.split(VECTORS_MARKER)[1]
    assert quoted.strip() == markdown().strip()


def test_reference_vectors_get_their_verdicts_in_order() -> None:
    """§6.5 step 9: each alert is verified knowing the alerts accepted before it."""
    refs = DATA["references"]
    trust = TrustStore((RootKey(ed("root").public_key().public_bytes_raw(), "Test root"),))
    known: dict[tuple[str, str], KnownAlert] = {}
    verdicts = []
    for case in refs["cases"]:
        msg = wire.decode_message(bytes.fromhex(case["message"]))
        result = verify_alert(msg, trust, refs["now"], known=lambda s, i: known.get((s, i)))
        if isinstance(result, VerifiedAlert):
            known[(result.alert.sender, result.alert.identifier)] = KnownAlert(
                result.cert.issuer_id, result.cert.level)
            verdicts.append("accepted")
        else:
            verdicts.append(result.reason.value)
    assert verdicts == [c["verdict"] for c in refs["cases"]]
    assert {"accepted", Reason.REFERENCE_OTHER_ISSUER.value} == set(verdicts)


def test_reply_vector_refers_to_the_post() -> None:
    post = Message(wire.Kind.POST, bytes.fromhex(DATA["vectors"]["post"]["body"]), bytes(64))
    assert DATA["vectors"]["post_reply"]["fields"]["reply_to"] == post.id.hex()


def ed(name: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(KEYS[f"{name}_seed"])


def vector_message(name: str) -> Message:
    return wire.decode_message(bytes.fromhex(DATA["vectors"][name]["message"]))


def test_every_vector_is_covered() -> None:
    assert sorted(DATA["vectors"]) == sorted(BASIC + AUTHORITY)


def test_authority_vectors_verify_and_re_sign_byte_for_byte() -> None:
    root, root2, issuer = ed("root"), ed("root2"), ed("issuer")
    trust = TrustStore((RootKey(root.public_key().public_bytes_raw(), "Test root"),))
    now = CREATED + 60

    cert_msg = vector_message("cert")
    cert_result = verify_cert(cert_msg, trust, now)
    assert not isinstance(cert_result, Rejection), cert_result
    cert = cert_result[0]
    fields = DATA["vectors"]["cert"]["fields"]
    assert (cert.serial, cert.issuer_id, cert.name, cert.key.hex()) == (
        fields["serial"], fields["issuer_id"], fields["name"], fields["key"])
    assert issue_cert(root, cert) == cert_msg

    alert_msg = vector_message("alert")
    verified = verify_alert(alert_msg, trust, now)
    assert isinstance(verified, VerifiedAlert), verified
    fields = DATA["vectors"]["alert"]["fields"]
    assert verified.alert.identifier == fields["identifier"]
    assert {i.language: i.headline for i in verified.alert.infos} == fields["headlines"]
    assert encode_alert(verified.alert).hex() == fields["cap"]
    assert sign_alert(issuer, cert_msg, decode_alert(bytes.fromhex(fields["cap"])),
                      fields["seq"]) == alert_msg

    revoke_msg = vector_message("revoke")
    rev = verify_revocation(revoke_msg, trust)
    assert not isinstance(rev, Rejection), rev
    assert list(rev.serials) == DATA["vectors"]["revoke"]["fields"]["serials"] == [17]
    assert create_revocation(root, rev.serials, rev.created, rev.reason) == revoke_msg
    revoked = apply_revocation(trust, revoke_msg)
    assert isinstance(revoked, TrustStore)
    assert isinstance(verify_alert(alert_msg, revoked, now), Rejection)

    rotation_msg = vector_message("root_rotation")
    rotated = apply_rotation(trust, rotation_msg, now)
    assert isinstance(rotated, TrustStore)
    assert rotated.root(RootKey(root2.public_key().public_bytes_raw(), "").id) is not None
    f = DATA["vectors"]["root_rotation"]["fields"]
    assert rotate_root(root, root2, f["name"], f["serial"], f["not_before"],
                       f["not_after"]) == rotation_msg


@pytest.mark.parametrize("name", AUTHORITY)
def test_authority_vector_ids_and_signed_bytes(name: str) -> None:
    v = DATA["vectors"][name]
    msg = vector_message(name)
    assert (msg.id.hex(), msg.signed_bytes.hex(), msg.sig.hex()) == (
        v["id"], v["signed_bytes"], v["sig"])


FRAMES = DATA["frames"]


def test_frame_vectors_decode_and_re_encode() -> None:
    from meshnode.routing.frames import Done, Hello, Msg, Recon, Want, decode_frame, encode_frame

    expected = {"hello": Hello, "recon": Recon, "want": Want, "msg": Msg, "done": Done}
    for name, cls in expected.items():
        frame = decode_frame(bytes.fromhex(FRAMES[name]))
        assert isinstance(frame, cls)
        assert encode_frame(frame).hex() == FRAMES[name]
    hello = decode_frame(bytes.fromhex(FRAMES["hello"]))
    assert isinstance(hello, Hello)
    # Bram's Hello presents the pair tags of Anna's DMs to him today and yesterday, blinded,
    # among padding to the smallest field size (§10.1).
    secret = bytes.fromhex(DATA["vectors"]["dm"]["pair_secret"])
    bram = person("bram")
    assert len(hello.tags) == 8 and list(hello.tags) == sorted(hello.tags)
    for day in (CREATED // wire.DAY, CREATED // wire.DAY - 1):
        tag = sealing.recipient_tag(secret, bram.public.dh_key, day)
        assert sealing.hello_tag(hello.nonce, tag) in hello.tags
    assert hello.alerts == (("nl-vr17", (1,)),)
    msg = decode_frame(bytes.fromhex(FRAMES["msg"]))
    assert isinstance(msg, Msg) and msg.data.hex() == DATA["vectors"]["post"]["message"]
    for name in ("hello", "recon", "want", "done"):
        assert FRAMES[name] in PROTOCOL_DOC.replace("\n", "")


def test_fragment_vector_reassembles() -> None:
    from meshnode.transport.framing import Fragmenter, Reassembler

    frame = bytes.fromhex(FRAMES["msg"])
    fragments = [bytes.fromhex(f) for f in FRAMES["fragments_mtu20_of_msg"]]
    assert Fragmenter(20).fragments(frame) == fragments
    assert all(len(f) <= 20 for f in fragments)
    reassembler = Reassembler()
    out = []
    for f in fragments:
        out += reassembler.feed(f, 0.0)
    assert out == [frame]
    assert all(f.hex() in PROTOCOL_DOC for f in fragments)


GEOMETRY = DATA["geometry"]


def area_of(data: dict[str, Any]) -> Area:
    return Area(area_desc=data["area_desc"],
                polygons=tuple(tuple((lat, lon) for lat, lon in r) for r in data["polygons"]),
                circles=tuple(Circle(*c) for c in data["circles"]),
                geocodes=tuple((g[0], g[1]) for g in data["geocodes"]))


def geometry_trust() -> TrustStore:
    return TrustStore((RootKey(ed("root").public_key().public_bytes_raw(), "Test root"),))


@pytest.mark.parametrize("case", GEOMETRY["cases"], ids=lambda c: c["name"])
def test_geometry_vectors_get_the_documented_verdict(case: dict[str, Any]) -> None:
    """§6.6: each edge case's signed alert is accepted exactly when its area is in scope."""
    msg = wire.decode_message(bytes.fromhex(case["message"]))
    verdict = verify_alert(msg, geometry_trust(), GEOMETRY["now"])
    if case["within"]:
        assert isinstance(verdict, VerifiedAlert), verdict
    else:
        assert isinstance(verdict, Rejection) and verdict.reason is Reason.AREA_OUT_OF_SCOPE
    cert = GEOMETRY["cert"]
    scope = tuple(tuple((lat, lon) for lat, lon in ring) for ring in cert["polygons"])
    areas = [area_of(a) for a in case["areas"]]
    assert area_within(areas, polygons=scope,
                       geocodes={(g[0], g[1]) for g in cert["geocodes"]}) == case["within"]
    assert decode_alert(bytes.fromhex(case["cap"])).areas == tuple(areas)


@pytest.mark.parametrize("case", GEOMETRY["covers"], ids=lambda c: c["name"])
def test_covers_vectors(case: dict[str, Any]) -> None:
    assert covers(area_of(case["area"]), case["lat"], case["lon"]) == case["covered"]


def test_geometry_vectors_cover_every_edge_case_on_both_sides() -> None:
    names = " | ".join(c["name"] for c in GEOMETRY["cases"])
    for edge_case in ("vertex on the boundary", "edge crosses", "centre on the edge",
                      "circle crossing", "geocode only", "description only"):
        assert edge_case in names, edge_case
    assert {c["within"] for c in GEOMETRY["cases"]} == {True, False}


@pytest.mark.parametrize("case", DATA["cap"]["accepted"], ids=lambda c: c["why"])
def test_cap_vectors_at_the_limits_decode_and_re_encode(case: dict[str, str]) -> None:
    data = bytes.fromhex(case["hex"])
    assert encode_alert(decode_alert(data)) == data


@pytest.mark.parametrize("case", DATA["cap"]["refused"], ids=lambda c: c["why"])
def test_cap_vectors_past_the_limits_are_refused_naming_the_field(case: dict[str, str]) -> None:
    with pytest.raises(WireError) as err:
        decode_alert(bytes.fromhex(case["hex"]))
    assert err.value.field == case["field"]


def test_the_text_limit_counts_code_points_not_utf16_units() -> None:
    case = next(c for c in DATA["cap"]["accepted"] if "code points" in c["why"])
    info = decode_alert(bytes.fromhex(case["hex"])).infos[0]
    text = info.description or ""
    assert len(text) == 1_395 and len(text.encode("utf-16-le")) // 2 == 1_396


@pytest.mark.parametrize("case", DATA["ed25519"], ids=lambda c: c["why"])
def test_ed25519_vectors_verify_exactly_as_documented(case: dict[str, Any]) -> None:
    key, sig = bytes.fromhex(case["key"]), bytes.fromhex(case["sig"])
    assert ed25519_valid(key, sig, bytes.fromhex(case["signed_bytes"])) == case["valid"]


def test_small_order_keys_are_refused_where_plain_openssl_would_accept() -> None:
    """The key rule is what stops these: OpenSSL alone accepts the forged signatures."""
    assert any(c["openssl"] and not c["valid"] for c in DATA["ed25519"])


def test_a_post_by_the_identity_point_does_not_verify() -> None:
    """A forged post whose author is a small-order key, signed with R = identity, S = 0."""
    identity = bytes([1]) + bytes(31)
    body = wire.PostBody(identity, "wijk-noord", CREATED, CREATED + 60, "I am anyone")
    msg = Message(wire.Kind.POST, wire.encode_body(body), identity + bytes(32))
    assert ed25519.Ed25519PublicKey.from_public_bytes(identity).verify(
        msg.sig, msg.signed_bytes) is None  # OpenSSL alone accepts it
    with pytest.raises(SignatureError):
        verify_message(wire.decode_message(wire.encode_message(msg)))


RECON = DATA["reconciliation"]


def _recon_side(case: dict[str, Any], everything: list[tuple[int, bytes]], role: str,
                absent: list[int]) -> tuple[Any, Any]:
    """One side of a reconciliation vector: its item set (class 0 for its held items and
    ghosts) and what it says it can give of each item."""
    from meshnode.routing.reconcile import GHOST, GIVES_LIVE, HELD, SortedItems

    ghosts = {everything[k][1] for k in case[f"{role}_ghosts"]}
    zero = ghosts | {everything[k][1] for k in case[f"{role}_held"]}
    items = SortedItems((everything[i] for i in range(640) if i not in absent),
                        dict.fromkeys(zero, 0))

    def describe(item_id: bytes, cls: int) -> int:
        return GHOST if item_id in ghosts else GIVES_LIVE if cls else HELD

    return items, describe


@pytest.mark.parametrize("case", RECON, ids=lambda c: c["name"])
def test_reconciliation_vectors_replay_frame_by_frame(case: dict[str, Any]) -> None:
    """§10.2: both sides, fed the vector's frames, produce exactly its next frames and learn
    exactly the difference: which items each side lacks, what the peer can give of them, and
    which ids each side learns as ghosts."""
    from meshnode.routing.reconcile import ReconcileConfig, Reconciler

    def item(i: int) -> tuple[int, bytes]:
        return (CREATED + i // 3 * case["spacing"],
                hashlib.sha256(b"meshnode recon vector %d" % i).digest()[:16])

    everything = [item(i) for i in range(640)]
    a, describe_a = _recon_side(case, everything, "initiator", case["only_responder"])
    b, describe_b = _recon_side(case, everything, "responder", case["only_initiator"])
    config = ReconcileConfig(frame_limit=case["frame_limit"])
    initiator = Reconciler(a, initiator=True, config=config, describe=describe_a)
    responder = Reconciler(b, initiator=False, config=config, describe=describe_b)
    frames = [bytes.fromhex(f) for f in case["frames"]]
    assert initiator.initiate() == frames[0]
    learnt: dict[bytes, int] = {}
    for n, frame in enumerate(frames[1:], start=1):
        side = responder if n % 2 else initiator
        assert side.receive(frames[n - 1]) == frame, f"frame {n}"
        learnt.update(responder.take_ghosts())
    assert initiator.receive(frames[-1]) is None
    assert sorted(i.hex() for i in initiator.have_ids) == case["have_ids"]
    assert sorted(i.hex() for i in initiator.need_ids) == case["need_ids"]
    assert {i.hex(): f for i, f in initiator.peer_flags.items()} == case["need_flags"]
    assert {i.hex(): t for i, t in initiator.take_ghosts().items()} == case[
        "initiator_learns_ghosts"]
    assert {i.hex(): t for i, t in learnt.items()} == case["responder_learns_ghosts"]
    differ = set(case["initiator_held"] + case["initiator_ghosts"]).symmetric_difference(
        case["responder_held"] + case["responder_ghosts"])
    assert {bytes.fromhex(i) for i in case["have_ids"]} == {
        everything[i][1] for i in case["only_initiator"]} | {
        everything[i][1] for i in differ if i not in case["only_responder"]}
    assert {bytes.fromhex(i) for i in case["need_ids"]} == {
        everything[i][1] for i in case["only_responder"]} | {
        everything[i][1] for i in differ if i not in case["only_initiator"]}
    assert all(len(f) <= case["frame_limit"] for f in frames)
    assert a.fingerprint(0, len(a)).hex() == case["initiator_set_fingerprint"]
    assert blind_digest(bytes(range(8)), a.fingerprint(0, len(a))).hex() == case[
        "initiator_hello_digest_nonce_0001020304050607"]


def test_reconciliation_vectors_cover_every_flag_and_the_known_range() -> None:
    """§10.2: between them the vectors exercise every offer value and a KNOWN range, and no
    side ever learns as a ghost an id that the peer can give it."""
    from meshnode.routing.reconcile import KnownRange
    from meshnode.routing.reconcile import Message as ReconMessage

    flags = {f & 3 for c in RECON for f in c["need_flags"].values()}
    assert flags == {0, 1, 3}  # GHOST, HELD, GIVES_LIVE (GIVES_DEAD needs a DM, see tests)
    ranges = [r for c in RECON for f in c["frames"] for r in
              ReconMessage.decode(bytes.fromhex(f)).ranges]
    assert any(isinstance(r, KnownRange) and r.ids for r in ranges)
    for c in RECON:
        assert not set(c["initiator_learns_ghosts"]) & {
            i for i, f in c["need_flags"].items() if f & 3 >= 2}


def test_reconciliation_vectors_are_multi_round_and_one_defers() -> None:
    from meshnode.routing.reconcile import Message as ReconMessage

    assert all(len(c["frames"]) >= 4 for c in RECON)
    decoded = [ReconMessage.decode(bytes.fromhex(f)) for f in RECON[1]["frames"]]
    assert any(m.more for m in decoded) and any(not m.ranges for m in decoded)


@pytest.mark.parametrize("case", GEOMETRY["refused_cert_bodies"], ids=lambda c: c["why"])
def test_certificates_with_non_simple_polygons_are_refused(case: dict[str, str]) -> None:
    from meshnode.crypto.authority import decode_cert

    with pytest.raises(WireError) as err:
        decode_cert(bytes.fromhex(case["body"]))
    assert err.value.field == case["field"]
