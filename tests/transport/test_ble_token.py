"""The rotating advertising token and the device secret."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshnode.crypto.identity import Identity
from meshnode.transport.ble_token import (
    EPOCH_SECONDS,
    SECRET_SIZE,
    TOKEN_SIZE,
    SecretFileError,
    advert_token,
    epoch_of,
    load_or_create_secret,
    next_rotation,
)

secrets_ = st.binary(min_size=SECRET_SIZE, max_size=SECRET_SIZE)
times = st.integers(min_value=0, max_value=(2**32 - 2) * EPOCH_SECONDS)


@given(secrets_, times)
def test_token_changes_every_epoch_and_only_then(secret: bytes, now: int) -> None:
    epoch = epoch_of(now)
    start = epoch * EPOCH_SECONDS
    token = advert_token(secret, epoch)
    assert len(token) == TOKEN_SIZE
    assert advert_token(secret, epoch_of(start)) == token
    assert advert_token(secret, epoch_of(start + EPOCH_SECONDS - 1)) == token
    assert next_rotation(now) == start + EPOCH_SECONDS
    assert advert_token(secret, epoch_of(next_rotation(now))) != token


def test_token_depends_on_the_secret_not_the_node_id() -> None:
    """Same identity, two secrets: unrelated tokens; the id appears in none of them, and a
    token is computable from the secret alone (so it cannot carry the id)."""
    node_id = Identity.generate().node_id
    epochs = range(1_000, 1_096)  # one day
    a, b = secrets.token_bytes(SECRET_SIZE), secrets.token_bytes(SECRET_SIZE)
    tokens_a = [advert_token(a, e) for e in epochs]
    tokens_b = [advert_token(b, e) for e in epochs]
    assert len(set(tokens_a)) == len(tokens_a)  # no token repeats within a day
    assert not set(tokens_a) & set(tokens_b)
    assert all(t not in node_id and node_id[:TOKEN_SIZE] != t for t in tokens_a + tokens_b)


def test_secret_is_created_once_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "data" / "ble-advert.secret"
    first = load_or_create_secret(path)
    assert len(first) == SECRET_SIZE
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_or_create_secret(path) == first
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


@pytest.mark.parametrize("size", [0, 16, 33])
def test_secret_of_the_wrong_size_is_refused_not_replaced(tmp_path: Path, size: int) -> None:
    path = tmp_path / "ble-advert.secret"
    path.write_bytes(b"\x01" * size)
    with pytest.raises(SecretFileError, match="expected 32 bytes"):
        load_or_create_secret(path)
    assert path.read_bytes() == b"\x01" * size


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        advert_token(b"short", 1)
    with pytest.raises(ValueError):
        advert_token(bytes(SECRET_SIZE), 2**32)
    with pytest.raises(ValueError):
        epoch_of(-1)
