"""Fuzzing key files (meshnode/crypto/keyfile.py): mutations of real plain and encrypted
identity files raise only `KeyFileError` (or its subclasses), never load a different
identity, and never leave anything behind.

`ci` profile by default; `HYPOTHESIS_PROFILE=fuzz` for the long run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshnode.crypto.identity import Identity
from meshnode.crypto.keyfile import KeyFileError, load_identity, save_identity
from tests.fuzzing import mutated_from, mutations

ME = Identity.from_seeds(hashlib.sha256(b"me").digest(), hashlib.sha256(b"me dh").digest())
PASSPHRASE = "correct horse battery"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("keys")
    out = {}
    for name, passphrase in (("plain", None), ("sealed", PASSPHRASE)):
        save_identity(ME, folder / name, passphrase=passphrase)
        out[name] = (folder / name).read_bytes()
    return out


def load(folder: Path, data: bytes, passphrase: str | None) -> None:
    path = folder / "mutated.key"
    path.write_bytes(data)
    path.chmod(0o600)
    try:
        identity = load_identity(path, passphrase=passphrase)
    except KeyFileError as exc:
        assert str(exc)
        return
    assert identity.seeds() == ME.seeds(), "a mutated key file loaded another identity"
    assert sorted(p.name for p in folder.iterdir()) == ["mutated.key"]


@given(st.data())
def test_mutated_plain_files(files: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory,
                             data: st.DataObject) -> None:
    folder = tmp_path_factory.mktemp("fuzz", numbered=True)
    load(folder, data.draw(mutated_from(list(files.values()))), None)


@settings(max_examples=15)
@given(st.data())
def test_mutated_sealed_files_with_the_passphrase(files: dict[str, bytes],
                                                  tmp_path_factory: pytest.TempPathFactory,
                                                  data: st.DataObject) -> None:
    """Each try costs an scrypt derivation, hence few examples."""
    folder = tmp_path_factory.mktemp("fuzz", numbered=True)
    load(folder, data.draw(mutations(files["sealed"])), PASSPHRASE)


@given(st.binary(max_size=600))
def test_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    load(tmp_path_factory.mktemp("fuzz", numbered=True), data, PASSPHRASE)
