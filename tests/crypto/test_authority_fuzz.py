"""Fuzzing the authority decoders (meshnode/crypto/authority.py): certificates, alert bodies and
revocations. Only `WireError` escapes a decoder, whatever decodes is canonical, and the
verifiers answer any mutated message with a `Rejection`, never an exception.

`ci` profile by default; `HYPOTHESIS_PROFILE=fuzz` for the long run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given
from hypothesis import strategies as st

from meshnode import wire
from meshnode.codec import WireError
from meshnode.crypto.authority import (
    Rejection,
    apply_rotation,
    create_revocation,
    decode_alert_body,
    decode_cert,
    decode_revocation,
    encode_cert,
    rotate_root,
    verify_alert,
    verify_cert,
    verify_revocation,
)
from tests.crypto.chain import DAY, NOW, make_chain
from tests.fuzzing import mutated_from, mutations

CHAIN = make_chain()
ALERT = CHAIN.alert()
REVOKE = create_revocation(CHAIN.root, [3, 17, 40], NOW, "key lost")
ROTATION = rotate_root(CHAIN.root, ed25519.Ed25519PrivateKey.generate(), "Next root", 2, NOW,
                       NOW + 365 * DAY)
BODIES = [CHAIN.cert_msg.body, ALERT.body, REVOKE.body, ROTATION.body]



def refused_or_canonical(data: bytes) -> None:
    for decode in (decode_cert, decode_alert_body, decode_revocation):
        try:
            value = decode(data)
        except WireError as exc:
            assert exc.field and exc.rule
            continue
        if decode is decode_cert:
            assert encode_cert(value) == data  # type: ignore[arg-type]


@given(st.binary(max_size=1024))
def test_arbitrary_bytes(data: bytes) -> None:
    refused_or_canonical(data)


@given(mutated_from(BODIES))
def test_mutated_bodies(data: bytes) -> None:
    refused_or_canonical(data)


@given(st.sampled_from([CHAIN.cert_msg, ALERT, REVOKE, ROTATION]), st.data())
def test_mutated_messages_are_rejected_by_every_verifier(msg: wire.Message,
                                                          data: st.DataObject) -> None:
    part = data.draw(st.sampled_from(["body", "sig"]))
    raw = data.draw(mutations(getattr(msg, part)))
    mutated = (dataclasses.replace(msg, body=raw) if part == "body"
               else dataclasses.replace(msg, sig=raw))
    changed = raw != getattr(msg, part)
    for result in (verify_alert(mutated, CHAIN.trust, NOW), verify_cert(mutated, CHAIN.trust, NOW),
                   verify_revocation(mutated, CHAIN.trust),
                   apply_rotation(CHAIN.trust, mutated, NOW)):
        if changed:
            assert isinstance(result, Rejection), result


@pytest.mark.parametrize("decode", [decode_cert, decode_alert_body, decode_revocation])
@pytest.mark.parametrize("bomb", [
    b"\x91" * 50_000, b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xc6\xff\xff\xff\xff",
    b"\xdb\xff\xff\xff\xff", b"\xc7\x01\x05x", msgpack.packb({1: 1.5}), b"",
])
def test_bombs_are_refused(decode: Callable[[bytes], object], bomb: bytes) -> None:
    with pytest.raises(WireError):
        decode(bomb)
