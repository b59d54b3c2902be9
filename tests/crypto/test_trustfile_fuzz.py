"""Fuzzing public key files (meshnode/crypto/trustfile.py): mutations of a real root key file,
hostile TOML (deep nesting, long dotted keys) and arbitrary bytes raise only `TrustFileError`.

`ci` profile by default; `HYPOTHESIS_PROFILE=fuzz` for the long run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from meshnode.crypto.trustfile import (
    MAX_KEY_FILE,
    TrustFileError,
    read_public_key,
    write_public_key,
)
from tests.fuzzing import mutations

KEY = bytes(range(32))
REGRESSIONS = Path(__file__).resolve().parents[2] / "fuzz" / "regressions" / "trustfile"


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("roots") / "root.toml"
    write_public_key(path, role="root", name="Rijksoverheid (test)", key=KEY)
    return path.read_bytes()


def read(folder: Path, data: bytes) -> None:
    path = folder / "root.toml"
    path.write_bytes(data)
    try:
        name, key = read_public_key(path, role="root")
    except TrustFileError as exc:
        assert str(path) in str(exc)
        return
    assert len(key) == 32 and isinstance(name, str)


@given(st.data())
def test_mutated_key_files(valid: bytes, tmp_path_factory: pytest.TempPathFactory,
                           data: st.DataObject) -> None:
    read(tmp_path_factory.mktemp("fuzz", numbered=True), data.draw(mutations(valid)))


@given(st.binary(max_size=400))
@example(b'role = "root"\nname = ' + b"[" * 600)  # tomllib recursed into a RecursionError
@example(b'role = "root"\nname = ' + b"{a=" * 600)
@example(b"a." * (MAX_KEY_FILE // 2) + b"b = 1")  # quadratic memory in tomllib: size bound
def test_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    read(tmp_path_factory.mktemp("fuzz", numbered=True), data)


@pytest.mark.parametrize("path", sorted(REGRESSIONS.glob("*")), ids=lambda p: p.name)
def test_saved_regressions(path: Path) -> None:
    with pytest.raises(TrustFileError):
        read_public_key(path, role="root")
