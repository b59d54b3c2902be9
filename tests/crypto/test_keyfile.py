"""Key files on disk: permissions, passphrases and corruption give clear, typed errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from meshnode.crypto.identity import Identity
from meshnode.crypto.keyfile import (
    KeyFileError,
    PassphraseRequired,
    WrongPassphrase,
    load_identity,
    save_identity,
)


@pytest.fixture
def me() -> Identity:
    return Identity.generate()


def test_plain_key_file_round_trips_with_owner_only_mode(tmp_path: Path, me: Identity) -> None:
    path = tmp_path / "data" / "identity.key"
    save_identity(me, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_identity(path).public == me.public


def test_encrypted_key_file_needs_the_right_passphrase(tmp_path: Path, me: Identity) -> None:
    path = tmp_path / "identity.key"
    save_identity(me, path, passphrase="correct horse")
    assert me.seeds()[0] not in path.read_bytes()
    with pytest.raises(PassphraseRequired):
        load_identity(path)
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        load_identity(path, passphrase="battery staple")
    assert load_identity(path, passphrase="correct horse").public == me.public


def test_existing_identity_is_not_replaced_silently(tmp_path: Path, me: Identity) -> None:
    path = tmp_path / "identity.key"
    save_identity(me, path)
    with pytest.raises(KeyFileError, match="already exists"):
        save_identity(Identity.generate(), path)
    assert load_identity(path).public == me.public


def test_readable_by_others_is_refused(tmp_path: Path, me: Identity) -> None:
    path = tmp_path / "identity.key"
    save_identity(me, path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_identity(path)


@pytest.mark.parametrize("passphrase", [None, "pw"])
def test_every_corruption_is_a_key_file_error(
    tmp_path: Path, me: Identity, passphrase: str | None
) -> None:
    path = tmp_path / "identity.key"
    save_identity(me, path, passphrase=passphrase)
    original = path.read_bytes()
    # Every byte of the header, then a stride through the payload (scrypt makes each try cost).
    for pos in [*range(40), *range(40, len(original), 5)]:
        damaged = bytearray(original)
        damaged[pos] ^= 0x40
        path.write_bytes(bytes(damaged))
        os.chmod(path, 0o600)
        with pytest.raises(KeyFileError):
            load_identity(path, passphrase=passphrase)
    for cut in (0, 5, len(original) // 2, len(original) - 1):
        path.write_bytes(original[:cut])
        with pytest.raises(KeyFileError):
            load_identity(path, passphrase=passphrase)


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="meshnode keygen"):
        load_identity(tmp_path / "nope.key")
