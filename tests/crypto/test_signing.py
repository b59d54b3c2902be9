"""Signed posts and announces: any change to body, signature or claimed author is refused."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshnode import wire
from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import (
    SignatureError,
    create_announce,
    create_post,
    sign_body,
    verify_message,
)
from meshnode.wire import AnnounceBody, Message, PostBody, WireError

NOW = 1_790_000_000
ANNA = Identity.generate()
MALLORY = Identity.generate()


def relay(msg: Message) -> Message:
    return wire.decode_message(wire.encode_message(msg))


def test_post_verifies_and_names_its_author() -> None:
    body = verify_message(relay(create_post(ANNA, "wijk-noord", "Water at the gym", NOW)))
    assert isinstance(body, PostBody)
    assert body.author == ANNA.public.sign_key
    assert (body.channel, body.text, body.created) == ("wijk-noord", "Water at the gym", NOW)


@given(st.data())
def test_any_single_byte_change_in_the_signed_part_is_refused(data: st.DataObject) -> None:
    msg = create_post(ANNA, "wijk-noord", "Water at the gym", NOW)
    target = data.draw(st.sampled_from(["body", "sig"]))
    raw = bytearray(getattr(msg, target))
    raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    tampered = dataclasses.replace(msg, **{target: bytes(raw)})
    with pytest.raises((SignatureError, WireError)):
        verify_message(tampered)


def test_claiming_another_author_is_refused() -> None:
    msg = create_post(MALLORY, "wijk-noord", "Evacuate now!", NOW)
    body = wire.decode_body(msg.kind, msg.body)
    assert isinstance(body, PostBody)
    stolen = dataclasses.replace(body, author=ANNA.public.sign_key)
    # Mallory's signature over a body that names Anna as author.
    forged = dataclasses.replace(sign_body(stolen, MALLORY.signing))
    with pytest.raises(SignatureError):
        verify_message(forged)


def test_signature_is_bound_to_the_kind() -> None:
    """A post's signature cannot be replayed as another kind over the same bytes."""
    msg = create_post(ANNA, "wijk-noord", "hallo", NOW)
    with pytest.raises((SignatureError, WireError)):
        verify_message(dataclasses.replace(msg, kind=wire.Kind.ANNOUNCE))


def test_announce_binds_name_and_agreement_key_to_the_signing_key() -> None:
    body = verify_message(relay(create_announce(ANNA, "Anna de Vries", NOW)))
    assert isinstance(body, AnnounceBody)
    assert (body.sign_key, body.dh_key, body.name) == (
        ANNA.public.sign_key, ANNA.public.dh_key, "Anna de Vries")
    swapped = dataclasses.replace(body, dh_key=MALLORY.public.dh_key)
    forged = sign_body(swapped, MALLORY.signing)
    with pytest.raises(SignatureError):
        verify_message(forged)


def test_authority_kinds_are_not_verified_here() -> None:
    msg = create_post(ANNA, "wijk-noord", "hallo", NOW)
    with pytest.raises(WireError, match="chain"):
        verify_message(dataclasses.replace(msg, kind=wire.Kind.ALERT))
