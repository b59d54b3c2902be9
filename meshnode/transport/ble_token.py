"""The rotating advertising token and the per-device secret it is derived from.

No static identifier goes on the air (docs/design.md §2 and §5, requirement 1). A BLE advert carries

    token = HMAC-SHA256(secret, "meshnode/v1/adv" || epoch as uint32 big-endian)[:8]

where `epoch = unix_time // 900` (15 minutes) and `secret` is 32 random bytes that this
device generated once and keeps in its data directory (`SECRET_FILE`, mode 0600). The
secret is never derived from, nor stored next to anything derived from, the node identity:
without it, tokens of two epochs cannot be linked to each other or to the node id. A
scanner uses a token only to tell apart the devices it hears within one epoch.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

__all__ = [
    "EPOCH_SECONDS",
    "SECRET_FILE",
    "SECRET_SIZE",
    "TOKEN_DOMAIN",
    "TOKEN_SIZE",
    "SecretFileError",
    "advert_token",
    "epoch_of",
    "load_or_create_secret",
    "next_rotation",
]

EPOCH_SECONDS = 15 * 60
TOKEN_SIZE = 8
SECRET_SIZE = 32
TOKEN_DOMAIN = b"meshnode/v1/adv"
SECRET_FILE = "ble-advert.secret"


class SecretFileError(Exception):
    """The secret file exists but cannot be used (wrong size, unreadable)."""


def epoch_of(now: float) -> int:
    """The advertising epoch that unix time `now` falls in."""
    epoch = int(now) // EPOCH_SECONDS
    if not 0 <= epoch <= 0xFFFFFFFF:
        raise ValueError(f"time {now} is outside the uint32 epoch range")
    return epoch


def next_rotation(now: float) -> int:
    """The unix time at which the epoch after the one holding `now` begins."""
    return (epoch_of(now) + 1) * EPOCH_SECONDS


def advert_token(secret: bytes, epoch: int) -> bytes:
    """The `TOKEN_SIZE`-byte token of `epoch` under `secret`."""
    if len(secret) != SECRET_SIZE:
        raise ValueError(f"secret must be {SECRET_SIZE} bytes, got {len(secret)}")
    if not 0 <= epoch <= 0xFFFFFFFF:
        raise ValueError(f"epoch {epoch} outside uint32")
    mac = hmac.new(secret, TOKEN_DOMAIN + epoch.to_bytes(4, "big"), hashlib.sha256)
    return mac.digest()[:TOKEN_SIZE]


def load_or_create_secret(path: Path) -> bytes:
    """Read the device secret at `path`, creating it (random, mode 0600) if absent.

    Creation is atomic (O_EXCL on a temporary name, then rename), so two processes racing
    to create it end up with one secret. A file of the wrong size raises `SecretFileError`
    rather than being replaced: the operator decides.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(SECRET_SIZE))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process created it meanwhile
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        data = path.read_bytes()
    except OSError as exc:
        raise SecretFileError(f"{path}: cannot read the BLE advert secret: {exc}") from exc
    if len(data) != SECRET_SIZE:
        raise SecretFileError(f"{path}: expected {SECRET_SIZE} bytes, found {len(data)}; "
                              "remove the file to generate a new secret")
    return data
