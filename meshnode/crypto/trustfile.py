"""Public key files for authorities: root pins and issuer keys, as small TOML files.

A node trusts the roots whose files are in ``<data dir>/roots/``. Operators install one with
`meshnode trust add-root FILE` after comparing its fingerprint out of band.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from meshnode.crypto.authority import RootKey, TrustStore
from meshnode.crypto.identity import fingerprint

__all__ = [
    "TrustFileError",
    "install_root",
    "load_trust",
    "read_public_key",
    "write_public_key",
]

ROOTS_DIR = "roots"
MAX_KEY_FILE = 4096  # a real one is about 250 bytes


class TrustFileError(Exception):
    """A key file is missing or malformed; the message names the file and the problem."""


def write_public_key(path: Path, *, role: str, name: str, key: bytes) -> None:
    """Write a public key file (`role` is "root" or "issuer"); never overwrites."""
    text = (
        f"# meshnode {role} public key. Compare the fingerprint in person before trusting it.\n"
        f"role = {json.dumps(role)}\n"
        f"name = {json.dumps(name, ensure_ascii=False)}\n"
        f"key = \"{key.hex()}\"\n"
        f"fingerprint = \"{fingerprint(key)}\"\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def read_public_key(path: Path, *, role: str) -> tuple[str, bytes]:
    """(name, key) from a public key file of the given role."""
    try:
        raw = path.read_bytes()
        if len(raw) > MAX_KEY_FILE:
            # tomllib's memory grows with the square of a dotted key's length: bound it first.
            raise TrustFileError(f"{path}: {len(raw):,} bytes, too large for a key file")
        data = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise TrustFileError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: tomllib recurses once per nested array or inline table.
        raise TrustFileError(f"{path}: not a meshnode key file ({exc})") from exc
    if data.get("role") != role:
        raise TrustFileError(f"{path}: expected a {role} key file, found {data.get('role')!r}")
    try:
        key = bytes.fromhex(str(data["key"]))
        name = str(data["name"])
    except (KeyError, ValueError) as exc:
        raise TrustFileError(f"{path}: missing or malformed 'key'/'name'") from exc
    if len(key) != 32:
        raise TrustFileError(f"{path}: key must be 32 bytes")
    if "fingerprint" in data and data["fingerprint"] != fingerprint(key):
        raise TrustFileError(f"{path}: fingerprint does not match the key (file altered?)")
    return name, key


def load_trust(data_dir: Path) -> TrustStore:
    """The roots pinned in `data_dir`/roots/*.toml (none is a valid, empty trust store)."""
    folder = data_dir / ROOTS_DIR
    roots = []
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        name, key = read_public_key(path, role="root")
        roots.append(RootKey(key, name))
    return TrustStore(tuple(roots))


def install_root(data_dir: Path, source: Path) -> RootKey:
    """Copy a root public key file into the trust folder; returns what was pinned."""
    name, key = read_public_key(source, role="root")
    root = RootKey(key, name)
    folder = data_dir / ROOTS_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = folder / f"{root.id.hex()}.toml"
    if not target.exists():
        write_public_key(target, role="root", name=name, key=key)
    return root
