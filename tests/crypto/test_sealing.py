"""Sealed DMs: only the recipient reads them and learns the sender; every failure looks alike."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from meshnode import wire
from meshnode.codec import pack
from meshnode.crypto import sealing
from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import (
    OpenError,
    create_receipt,
    open_dm,
    pair_secret,
    receipt_matches,
    recipient_tag,
    seal_dm,
)
from meshnode.crypto.signing import SignatureError, sign_body, verify_message
from meshnode.wire import DAY, DmBody, Message, ReceiptBody

NOW = 1_790_000_000
ANNA, BRAM, CARLA = Identity.generate(), Identity.generate(), Identity.generate()


def pair_tag(sender: Identity, recipient: Identity, day: int, *, computed_by: Identity) -> bytes:
    """The tag on `sender`'s DMs to `recipient` on `day`, as `computed_by` (one of the two)
    computes it from its own private key and the other's public key."""
    other = recipient if computed_by is sender else sender
    secret = pair_secret(computed_by.agreement, other.public.dh_key)
    assert secret is not None
    return recipient_tag(secret, recipient.public.dh_key, day)


def relay(msg: Message) -> Message:
    return wire.decode_message(wire.encode_message(msg))


def outer(msg: Message) -> DmBody:
    body = verify_message(msg)
    assert isinstance(body, DmBody)
    return body


def test_recipient_reads_text_and_verified_sender() -> None:
    msg = relay(seal_dm(ANNA, BRAM.public, "Are you OK?", NOW))
    opened = open_dm(BRAM, msg)
    assert opened.text == "Are you OK?"
    assert opened.sender == ANNA.public
    assert opened.dm_id == msg.id
    assert (opened.created, opened.expires) == (NOW, NOW + sealing.DEFAULT_DM_TTL)


def test_relay_sees_neither_sender_nor_recipient() -> None:
    msg = seal_dm(ANNA, BRAM.public, "Are you OK?", NOW)
    raw = wire.encode_message(msg)
    for who in (ANNA, BRAM):
        for secret in (who.public.sign_key, who.public.dh_key, who.node_id):
            assert secret not in raw
    assert b"Are you OK?" not in raw
    body = outer(msg)
    # Sender and recipient compute the same pair tag, each from its own private key ...
    assert body.tag == pair_tag(ANNA, BRAM, NOW // DAY, computed_by=BRAM)
    assert body.tag == pair_tag(ANNA, BRAM, NOW // DAY, computed_by=ANNA)
    # ... and it is neither Bram's tag with a third person nor Anna's for a reply.
    assert body.tag != pair_tag(CARLA, BRAM, NOW // DAY, computed_by=BRAM)
    assert body.tag != pair_tag(BRAM, ANNA, NOW // DAY, computed_by=BRAM)
    with pytest.raises(OpenError):
        open_dm(CARLA, msg)


def test_tag_rotates_daily_and_is_unlinkable_across_days() -> None:
    tags = {pair_tag(ANNA, BRAM, day, computed_by=BRAM) for day in range(20_000, 20_030)}
    assert len(tags) == 30
    a = outer(seal_dm(ANNA, BRAM.public, "x", NOW))
    b = outer(seal_dm(ANNA, BRAM.public, "x", NOW + DAY))
    assert a.tag != b.tag


def test_same_text_twice_gives_unrelated_ciphertexts_and_lengths_are_padded() -> None:
    a = outer(seal_dm(ANNA, BRAM.public, "ja", NOW))
    b = outer(seal_dm(ANNA, BRAM.public, "ja", NOW))
    assert a.sealed != b.sealed and a.ack_key != b.ack_key
    lengths = {len(outer(seal_dm(ANNA, BRAM.public, "x" * n, NOW)).sealed) for n in range(1, 200)}
    # HPKE adds enc (32) and the AEAD tag (16); the plaintext is a whole number of pad blocks.
    assert all((n - 48) % sealing.PAD_BLOCK == 0 for n in lengths)
    assert len(lengths) <= 200 // sealing.PAD_BLOCK + 1


SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)


def plaintext_of(text: str) -> bytes:
    """The plaintext `seal_dm` hands to HPKE for `text`, captured on its way in."""
    captured: list[bytes] = []

    def encrypt(plain: bytes, key: object, info: bytes) -> bytes:
        captured.append(plain)
        return bytes(wire.DM_SEAL_OVERHEAD + len(plain))

    seal_dm(ANNA, BRAM.public, text, NOW, encrypt=encrypt)  # type: ignore[arg-type]
    return captured[0]


@pytest.mark.parametrize("size", [1, 2, 13, 14, 15, 31, 32, 77, 78, 255, 256, 1000, 4095, 4096])
def test_padding_is_the_smallest_that_makes_whole_blocks(size: int) -> None:
    plain = plaintext_of("é" * (size // 2) + "x" * (size % 2))
    fields = msgpack_fields(plain)
    padding = fields.pop(6)
    assert padding == bytes(len(padding))
    unpadded = len(pack({**fields, 6: b""}))
    assert len(plain) % sealing.PAD_BLOCK == 0
    assert len(plain) - unpadded < sealing.PAD_BLOCK  # one block less would not hold the fields


def test_sealed_lengths_span_exactly_the_wire_range() -> None:
    assert len(plaintext_of("x")) + wire.DM_SEAL_OVERHEAD == wire.DM_SEALED_MIN
    assert len(plaintext_of("x" * wire.DM_TEXT_MAX)) + wire.DM_SEAL_OVERHEAD == wire.DM_SEALED_MAX
    real = outer(seal_dm(ANNA, BRAM.public, "x" * wire.DM_TEXT_MAX, NOW))
    assert len(real.sealed) == wire.DM_SEALED_MAX


@pytest.mark.parametrize("size", [wire.DM_SEALED_MIN - 64, wire.DM_SEALED_MIN + 1,
                                  wire.DM_SEALED_MAX - 1, wire.DM_SEALED_MAX + 64])
def test_relays_refuse_sealed_lengths_that_are_not_48_plus_whole_blocks(size: int) -> None:
    body = outer(seal_dm(ANNA, BRAM.public, "x", NOW))
    raw = pack({1: body.tag, 2: body.created, 3: body.expires, 4: body.ack_key, 5: bytes(size)})
    with pytest.raises(wire.WireError) as err:
        wire.decode_body(wire.Kind.DM, raw)
    assert err.value.field == "dm.sealed"


@pytest.mark.parametrize("change", ["one block too many", "nonzero padding"])
def test_recipient_refuses_a_plaintext_padded_otherwise(change: str) -> None:
    genuine = plaintext_of("Are you OK?")
    fields = msgpack_fields(genuine)
    pad = fields[6]
    assert isinstance(pad, bytes)
    fields[6] = bytes(len(pad) + 64) if change == "one block too many" else b"\x01" + pad[1:]
    plain = pack(fields)
    ack = ed25519.Ed25519PrivateKey.from_private_bytes(fields[4])  # type: ignore[arg-type]
    msg = seal_dm(ANNA, BRAM.public, "Are you OK?", NOW, ack=ack,
                  encrypt=lambda _, key, info: SUITE.encrypt(plain, key, info=info))
    with pytest.raises(OpenError):
        open_dm(BRAM, msg)


def msgpack_fields(plain: bytes) -> dict[int, object]:
    import msgpack

    out = msgpack.unpackb(plain, raw=False, strict_map_key=False)
    assert isinstance(out, dict)
    return out


def flip(data: bytes, pos: int) -> bytes:
    b = bytearray(data)
    b[pos] ^= 0x01
    return bytes(b)


def reseal_outer(msg: Message, **changes: object) -> Message:
    """Change an outer field and re-sign it with a fresh key, as a hostile relay could."""
    body = dataclasses.replace(outer(msg), **changes)
    return sign_body(body, ed25519.Ed25519PrivateKey.generate())


def test_every_failure_is_the_same_error() -> None:
    msg = seal_dm(ANNA, BRAM.public, "Are you OK?", NOW)
    body = outer(msg)
    cases = [
        ("wrong key", CARLA, msg),
        ("tampered ciphertext", BRAM, sign_like(msg, sealed=flip(body.sealed, 40))),
        ("tampered enc", BRAM, sign_like(msg, sealed=flip(body.sealed, 3))),
        ("changed expiry", BRAM, reseal_outer(msg, expires=body.expires - 60)),
        ("other ack key", BRAM, reseal_outer(msg)),
        ("bad envelope signature", BRAM, dataclasses.replace(msg, sig=flip(msg.sig, 0))),
        ("not a dm", BRAM, create_receipt(open_dm(BRAM, msg), NOW)),
    ]
    messages = set()
    for _name, who, bad in cases:
        with pytest.raises(OpenError) as err:
            open_dm(who, bad)
        messages.add(str(err.value))
    assert messages == {"cannot open this direct message"}


def sign_like(msg: Message, **changes: object) -> Message:
    """Change the outer body but keep a valid envelope signature: requires the ack key, so the
    test rebuilds it from what the recipient can see after opening."""
    seed = open_dm(BRAM, msg).ack_seed
    body = dataclasses.replace(outer(msg), **changes)
    return sign_body(body, ed25519.Ed25519PrivateKey.from_private_bytes(seed))


def hand_sealed(claimed: Identity, signer: Identity, text: str, *,
                signed_for: bytes | None = None) -> Message:
    """A DM to Bram built by hand from the spec: `claimed` is the sender named inside, `signer`
    makes the inner signature, over `signed_for` as recipient key (Bram's by default)."""
    from cryptography.hazmat.primitives.asymmetric import x25519

    ack = ed25519.Ed25519PrivateKey.generate()
    ack_key = ack.public_key().public_bytes_raw()
    tag = pair_tag(claimed, BRAM, NOW // DAY, computed_by=BRAM)
    recipient = BRAM.public.dh_key if signed_for is None else signed_for
    sig = signer.sign(
        sealing.INNER_SIG_DOMAIN + pack([recipient, ack_key, NOW, NOW + 3600, text])
    )
    fields = {1: claimed.public.sign_key, 2: claimed.public.dh_key, 3: text,
              4: ack.private_bytes_raw(), 5: sig}
    # §5 step 4: field 6 costs 3 bytes plus the padding; the smallest padding to 64-byte blocks.
    inner = pack({**fields, 6: bytes(-(len(pack(fields)) + 3) % 64)})
    info = sealing.HPKE_INFO_DOMAIN + pack([tag, NOW, NOW + 3600, ack_key])
    sealed = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305).encrypt(
        inner, x25519.X25519PublicKey.from_public_bytes(BRAM.public.dh_key), info=info)
    return sign_body(DmBody(tag, NOW, NOW + 3600, ack_key, sealed), ack)


def test_hand_built_dm_following_the_spec_opens() -> None:
    """Guards the forgery tests below: the hand-built path is correct when honest."""
    opened = open_dm(BRAM, hand_sealed(ANNA, ANNA, "hoi"))
    assert (opened.text, opened.sender) == ("hoi", ANNA.public)


def test_forged_inner_signature_is_refused() -> None:
    """Carla claims to be Anna inside the ciphertext but can only sign with her own key."""
    with pytest.raises(OpenError):
        open_dm(BRAM, hand_sealed(ANNA, CARLA, "Send me your address"))


def test_dm_re_addressed_by_its_recipient_is_refused() -> None:
    """Anna's signature covers her recipient's key: words she signed for Carla cannot be
    delivered to Bram as if she had written them to him."""
    with pytest.raises(OpenError):
        open_dm(BRAM, hand_sealed(ANNA, ANNA, "I trust you", signed_for=CARLA.public.dh_key))


def test_receipt_purges_only_its_own_dm() -> None:
    msg = seal_dm(ANNA, BRAM.public, "Are you OK?", NOW)
    other = seal_dm(ANNA, BRAM.public, "Second", NOW)
    receipt = relay(create_receipt(open_dm(BRAM, msg), NOW + 5))
    body = verify_message(receipt)
    assert isinstance(body, ReceiptBody)
    assert receipt_matches(body, msg.id, outer(msg))
    assert not receipt_matches(body, other.id, outer(other))
    raw = wire.encode_message(receipt)
    for who in (ANNA, BRAM):
        assert who.public.sign_key not in raw and who.public.dh_key not in raw


def test_forged_receipt_does_not_verify() -> None:
    """A relay cannot make a receipt: it lacks the ack seed that only the recipient learns."""
    msg = seal_dm(ANNA, BRAM.public, "Are you OK?", NOW)
    fake = ReceiptBody(msg.id, outer(msg).ack_key, NOW, NOW + 60)
    forged = sign_body(fake, ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(SignatureError):
        verify_message(forged)


def test_too_long_text_is_refused_before_sealing() -> None:
    with pytest.raises(wire.WireError, match="dm.text"):
        seal_dm(ANNA, BRAM.public, "x" * (wire.DM_TEXT_MAX + 1), NOW)
    longest = seal_dm(ANNA, BRAM.public, "é" * (wire.DM_TEXT_MAX // 2), NOW)
    assert len(wire.encode_message(longest)) <= wire.MAX_MESSAGE
    assert open_dm(BRAM, longest).text == "é" * (wire.DM_TEXT_MAX // 2)
