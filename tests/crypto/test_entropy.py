"""Seeded entropy seals real HPKE: cryptography's suite and open_dm accept it; system entropy
draws fresh bytes every time."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from hypothesis import given
from hypothesis import strategies as st

from meshnode.crypto.entropy import SeededEntropy, SystemEntropy
from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import open_dm, seal_dm

SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)
NOW = 1_790_000_000


@given(st.binary(max_size=600), st.binary(max_size=80), st.integers(0, 2**32))
def test_cryptography_opens_what_seeded_entropy_seals(plain: bytes, info: bytes,
                                                     seed: int) -> None:
    recipient = x25519.X25519PrivateKey.generate()
    sealed = SeededEntropy(seed).seal(plain, recipient.public_key(), info)
    assert SUITE.decrypt(sealed, recipient, info=info) == plain


def test_same_seed_seals_the_same_bytes_and_open_dm_accepts() -> None:
    anna, bram = Identity.generate(), Identity.generate()

    def sealed(seed: int) -> bytes:
        return seal_dm(anna, bram.public, "hoi", NOW, entropy=SeededEntropy(seed)).body

    assert sealed(7) == sealed(7) != sealed(8)
    msg = seal_dm(anna, bram.public, "hoi", NOW, entropy=SeededEntropy(1))
    assert open_dm(bram, msg).text == "hoi"


def test_system_entropy_never_seals_the_same_dm_twice() -> None:
    anna, bram = Identity.generate(), Identity.generate()
    first = seal_dm(anna, bram.public, "hoi", NOW, entropy=SystemEntropy())
    second = seal_dm(anna, bram.public, "hoi", NOW)
    assert first.body != second.body
    assert open_dm(bram, first).text == open_dm(bram, second).text == "hoi"
