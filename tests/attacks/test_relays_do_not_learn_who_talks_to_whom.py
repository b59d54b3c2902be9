"""Requirement 7: a relay's whole view of a DM names neither its sender nor its recipient.

Attacker: a modified relay that records every byte it receives, stores and sends. Defence:
the DM envelope carries only a daily recipient tag, times, a one-time ack key and the HPKE
ciphertext (`seal_dm`); the receipt names the DM id and that ack key; the routing header holds
hops and copies only, so nothing marks which nodes a message passed (no relay trail).
"""

from __future__ import annotations

import base64

from meshnode.crypto.identity import Identity
from meshnode.events import DmDelivered, DmReceived
from meshnode.routing.frames import Hello, Msg, decode_frame
from meshnode.testing import Mesh
from meshnode.wire import Kind, decode_message
from tests.attacks.peers import NOW, recording


def secrets_of(identity: Identity) -> list[bytes]:
    pub = identity.public
    fp = pub.fingerprint
    raw_fp = base64.b32decode(fp.replace(" ", ""))
    return [pub.node_id, pub.sign_key, pub.dh_key, raw_fp, fp.encode(),
            fp.replace(" ", "").encode(), pub.node_id.hex().encode(), pub.sign_key.hex().encode()]


def test_a_relay_sees_no_sender_or_recipient_in_anything_it_handles() -> None:
    mesh = Mesh()
    anna = mesh.add("anna", NOW)
    bram = mesh.add("bram", NOW)
    relay = recording(mesh.trust)
    mesh.nodes["relay"] = relay
    _, outs = anna.send_dm(bram.identity.public, "Ik ben bij de sporthal.", NOW)
    mesh.local("anna", outs, NOW)
    mesh.connect("anna", "relay", NOW + 60)
    mesh.disconnect("anna", "relay", NOW + 61)
    mesh.connect("relay", "bram", NOW + 120)
    mesh.disconnect("relay", "bram", NOW + 121)
    mesh.connect("relay", "anna", NOW + 180)
    assert [e.text for e in mesh.of("bram", DmReceived)] == ["Ik ben bij de sporthal."]  # type: ignore[attr-defined]
    assert mesh.of("anna", DmDelivered)

    frames = [decode_frame(d) for _, d in relay.heard]
    dm_frames = [f.data for f in frames if isinstance(f, Msg)
                 and decode_message(f.data).kind in (Kind.DM, Kind.RECEIPT)]
    # The DM from Anna (again on the way back: she still held it), the receipt from Bram.
    assert {decode_message(d).kind for d in dm_frames} == {Kind.DM, Kind.RECEIPT}
    stored = [s for s in relay.store.by_kind(int(Kind.RECEIPT))]
    view = b"".join(dm_frames) + b"".join(s.raw + (s.tag or b"") + (s.ref or b"")
                                          for s in stored)
    view += repr(mesh.events["relay"]).encode() + repr(relay.status(NOW)).encode()
    for person in (anna.identity, bram.identity):
        for secret in secrets_of(person):
            assert secret not in view
    assert not mesh.of("relay", DmReceived)
    # No DM or receipt frame carries a trace of the nodes it passed (no relay trail).
    for secret in secrets_of(relay.identity):
        assert all(secret not in d for d in dm_frames)


def test_dms_between_the_same_people_are_not_linkable_by_their_envelope() -> None:
    """Two DMs Anna sends Bram on the same day share only the day's tag; on different days,
    nothing. Sizes are padded to 64-byte buckets, so length does not tell texts apart."""
    anna, bram = Identity.generate(), Identity.generate()
    from meshnode.crypto.sealing import seal_dm
    from meshnode.wire import DmBody, decode_body

    def envelope(text: str, now: int) -> DmBody:
        body = decode_body(Kind.DM, seal_dm(anna, bram.public, text, now).body)
        assert isinstance(body, DmBody)
        return body

    a, b = envelope("ja", NOW), envelope("nee, morgen", NOW + 60)
    c = envelope("ja", NOW + 86_400)
    assert a.tag == b.tag != c.tag
    assert a.ack_key != b.ack_key and len(a.sealed) == len(b.sealed)
    assert a.sealed[:32] != b.sealed[:32]  # fresh HPKE encapsulation each time
    hello = Hello(nonce=bytes(8))
    assert hello.tags == ()  # a relay's own Hello carries no foreign tag either
