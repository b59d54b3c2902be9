"""Key files: a node's private seeds on disk, owner-only, optionally passphrase-encrypted.

Layout: ``MAGIC || msgpack {1: format version, 2: scheme, 3: salt, 4: nonce, 5: payload}``.
Scheme 0 stores the seeds in the clear with a SHA-256 checksum; scheme 1 derives a key with
scrypt and seals the seeds with ChaCha20-Poly1305, the header bytes as associated data.
Files are written atomically with mode 0600 and refused when others can read them.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from meshnode.codec import Fields, WireError, pack, unpack_bounded
from meshnode.crypto.identity import Identity

__all__ = [
    "KeyFileError",
    "PassphraseRequired",
    "WrongPassphrase",
    "load_identity",
    "save_identity",
]

MAGIC = b"MESHNODE-KEY\x00"
FORMAT = 1
PLAIN, SCRYPT_CHACHA = 0, 1
# scrypt cost: about 0.1 s and 32 MiB on a laptop; a Raspberry Pi still opens it in a second.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


class KeyFileError(Exception):
    """The key file is missing, unreadable, unsafe or corrupt; the message says which."""


class PassphraseRequired(KeyFileError):
    """The key file is encrypted and no passphrase was given."""


class WrongPassphrase(KeyFileError):
    """The passphrase does not open the key file (or the encrypted part was modified)."""


def _kdf(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(
        passphrase.encode("utf-8")
    )


def _encode(identity: Identity, passphrase: str | None) -> bytes:
    payload = pack(list(identity.seeds()))
    if passphrase is None:
        checked = payload + hashlib.sha256(payload).digest()
        return MAGIC + pack({1: FORMAT, 2: PLAIN, 3: b"", 4: b"", 5: checked})
    if not passphrase:
        raise KeyFileError("an empty passphrase protects nothing; omit it or choose one")
    salt, nonce = os.urandom(16), os.urandom(12)
    header = MAGIC + pack([FORMAT, SCRYPT_CHACHA, salt, nonce])
    sealed = ChaCha20Poly1305(_kdf(passphrase, salt)).encrypt(nonce, payload, header)
    return MAGIC + pack({1: FORMAT, 2: SCRYPT_CHACHA, 3: salt, 4: nonce, 5: sealed})


def save_identity(
    identity: Identity, path: Path, *, passphrase: str | None = None, overwrite: bool = False
) -> None:
    """Write `identity` to `path` atomically with mode 0600 (parent created with 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise KeyFileError(f"{path} already exists; refusing to replace an identity")
    data = _encode(identity, passphrase)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_identity(path: Path, *, passphrase: str | None = None) -> Identity:
    """Read an identity; raises a `KeyFileError` subclass that says what is wrong."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"no key file at {path}; create one with `meshnode keygen`") from None
    if st.st_mode & 0o077:
        raise KeyFileError(
            f"{path} is accessible by other users (mode {stat.filemode(st.st_mode)}); "
            f"run `chmod 600 {path}`"
        )
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise KeyFileError(f"{path} is not a meshnode key file (or it is corrupt)")
    try:
        f = Fields(
            unpack_bounded(data[len(MAGIC):], what="keyfile", max_size=1024, max_items=5),
            "keyfile",
            allowed=frozenset(range(1, 6)),
        )
        version = f.uint(1, "version")
        if version != FORMAT:
            raise KeyFileError(f"{path} has key file format {version}; this version reads {FORMAT}")
        scheme = f.uint(2, "scheme", hi=1)
        salt = f.bin(3, "salt", hi=16)
        nonce = f.bin(4, "nonce", hi=12)
        blob = f.bin(5, "payload", hi=512)
    except WireError as exc:
        raise KeyFileError(f"{path} is corrupt ({exc})") from exc
    if scheme == PLAIN:
        payload, check = blob[:-32], blob[-32:]
        if hashlib.sha256(payload).digest() != check:
            raise KeyFileError(f"{path} is corrupt (checksum mismatch)")
    else:
        if passphrase is None:
            raise PassphraseRequired(f"{path} is encrypted; a passphrase is needed")
        if len(salt) != 16 or len(nonce) != 12:
            raise KeyFileError(f"{path} is corrupt (bad salt or nonce)")
        header = MAGIC + pack([FORMAT, SCRYPT_CHACHA, salt, nonce])
        try:
            payload = ChaCha20Poly1305(_kdf(passphrase, salt)).decrypt(nonce, blob, header)
        except InvalidTag:
            raise WrongPassphrase(
                f"wrong passphrase for {path} (or the file was modified)"
            ) from None
    try:
        seeds = unpack_bounded(payload, what="keyfile.seeds", max_size=128, max_items=2)
        if (
            not isinstance(seeds, list)
            or len(seeds) != 2
            or not all(type(s) is bytes and len(s) == 32 for s in seeds)
        ):
            raise WireError("keyfile.seeds", "expected two 32-byte seeds")
        return Identity.from_seeds(seeds[0], seeds[1])
    except (WireError, ValueError) as exc:
        raise KeyFileError(f"{path} is corrupt ({exc})") from exc
