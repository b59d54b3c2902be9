"""The simulator's seeded sealing is real HPKE: cryptography's suite and open_dm accept it."""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from hypothesis import given
from hypothesis import strategies as st

from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import open_dm, seal_dm
from sim.sealing import SeededSealer

SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)


@given(st.binary(max_size=600), st.binary(max_size=80), st.integers(0, 2**32))
def test_cryptography_opens_what_the_seeded_sealer_seals(plain: bytes, info: bytes,
                                                          seed: int) -> None:
    recipient = x25519.X25519PrivateKey.generate()
    sealed = SeededSealer(np.random.default_rng(seed))(plain, recipient.public_key(), info)
    assert SUITE.decrypt(sealed, recipient, info=info) == plain


def test_same_seed_same_bytes_and_open_dm_accepts() -> None:
    anna, bram = Identity.generate(), Identity.generate()

    def sealed(seed: int) -> bytes:
        rng = np.random.default_rng(seed)
        ack = ed25519.Ed25519PrivateKey.from_private_bytes(rng.bytes(32))
        return seal_dm(anna, bram.public, "hoi", 1_790_000_000, ack=ack,
                       encrypt=SeededSealer(rng)).body

    assert sealed(7) == sealed(7) != sealed(8)
    rng = np.random.default_rng(1)
    msg = seal_dm(anna, bram.public, "hoi", 1_790_000_000,
                  ack=ed25519.Ed25519PrivateKey.from_private_bytes(rng.bytes(32)),
                  encrypt=SeededSealer(rng))
    assert open_dm(bram, msg).text == "hoi"
