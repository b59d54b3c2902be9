"""Identities: node ids and fingerprints derive from the signing key, as specified."""

from __future__ import annotations

import hashlib
import re

from meshnode.crypto.identity import Identity, fingerprint, node_id


def test_node_id_is_first_16_bytes_of_sha256_of_signing_key() -> None:
    me = Identity.generate()
    assert me.node_id == hashlib.sha256(me.public.sign_key).digest()[:16]
    assert node_id(me.public.sign_key) == me.node_id


def test_fingerprint_is_eight_groups_of_four_base32_characters() -> None:
    fp = Identity.generate().fingerprint
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", fp)


def test_fingerprints_differ_between_identities_and_are_stable() -> None:
    a, b = Identity.generate(), Identity.generate()
    assert a.fingerprint != b.fingerprint
    assert fingerprint(a.public.sign_key) == a.fingerprint


def test_identity_rebuilds_from_its_seeds() -> None:
    me = Identity.generate()
    again = Identity.from_seeds(*me.seeds())
    assert again.public == me.public
