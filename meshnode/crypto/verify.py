"""Ed25519 verification, with an optional memo of results.

A signature's validity is a pure function of (key, signature, data), so a memo cannot change
any outcome; it only saves repeated work. The same memo also remembers pure decodes with
immutable results (an alert's CAP body, a certificate). The simulator shares one memo among
thousands of nodes that each verify the same flooded messages; a daemon gains nothing from one.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from nacl.bindings import crypto_sign_open
from nacl.exceptions import CryptoError

__all__ = ["MemoEntries", "SignatureMemo", "ed25519_valid", "weak_public_key"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MemoEntries:
    """What one `SignatureMemo` learned, as an immutable value that can cross threads: its
    signature results and decoded bodies, keyed as the memo keys them. Made by `entries`,
    taken in by another memo's `absorb`."""

    results: tuple[tuple[bytes, bool], ...] = ()
    decoded: tuple[tuple[tuple[str, bytes], object], ...] = ()


@dataclass
class SignatureMemo:
    """Bounded memo of verification results (least recently used dropped).

    Not thread-safe: one thread uses a memo (a lookup moves the entry it finds). Work done on
    another thread reaches a memo as `MemoEntries` (that thread's own scratch memo's
    `entries`), which the memo's thread takes in with `absorb`."""

    size: int = 200_000
    hits: int = 0  # signature results found
    decoded_size: int = 1_024
    decoded_hits: int = 0
    _results: OrderedDict[bytes, bool] = field(default_factory=OrderedDict)
    _decoded: OrderedDict[tuple[str, bytes], object] = field(default_factory=OrderedDict)

    def lookup(self, key: bytes) -> bool | None:
        result = self._results.get(key)
        if result is not None:
            self._results.move_to_end(key)
            self.hits += 1
        return result

    def store(self, key: bytes, valid: bool) -> None:
        self._results[key] = valid
        if len(self._results) > self.size:
            self._results.popitem(last=False)

    def entries(self) -> MemoEntries:
        """Everything this memo holds, oldest first."""
        return MemoEntries(tuple(self._results.items()), tuple(self._decoded.items()))

    def absorb(self, entries: MemoEntries) -> None:
        """Take in another memo's `entries` as if their work had been done here. For entries
        of a memo filled only by `ed25519_valid` and `decoded`: a result's key is a digest of
        everything the result depends on, a body's key the exact bytes a pure decoder read, so
        such an entry says what the same work would say here."""
        for key, valid in entries.results:
            self.store(key, valid)
            self._results.move_to_end(key)
        for (what, data), value in entries.decoded:
            self._decoded[(what, data)] = value
            self._decoded.move_to_end((what, data))
            if len(self._decoded) > self.decoded_size:
                self._decoded.popitem(last=False)

    def decoded(self, what: str, data: bytes, decode: Callable[[bytes], T]) -> T:
        """`decode(data)`, remembered under (`what`, `data`).

        Only for pure decoders whose results are immutable. A decoder's exception is raised
        again on every call, never remembered (hostile input must not fill the memo)."""
        key = (what, data)
        known = self._decoded.get(key)
        if known is not None:
            self._decoded.move_to_end(key)
            self.decoded_hits += 1
            return cast(T, known)
        value = decode(data)
        self._decoded[key] = value
        if len(self._decoded) > self.decoded_size:
            self._decoded.popitem(last=False)
        return value


_P = 2**255 - 19
_SIG_SIZE = 64
# The y coordinates of the eight points of small order (docs/protocol.md §3.1).
_SMALL_ORDER_Y = frozenset({
    0,
    1,
    _P - 1,
    0x05FC536D880238B13933C6D305ACDFD5F098EFF289F4C345B027B2C28F95E826,
    0x7A03AC9277FDC74EC6CC392CFA53202A0F67100D760B3CBA4FD84D3D706A17C7,
})


def weak_public_key(key: bytes) -> bool:
    """Whether `key` is refused before any verification: not 32 bytes, a non-canonical
    encoding (y >= p), or a point of small order, whose "signatures" anyone can make."""
    if len(key) != 32:
        return True
    y = int.from_bytes(key, "little") & ((1 << 255) - 1)
    return y >= _P or y in _SMALL_ORDER_Y


def _verify(key: bytes, sig: bytes, data: bytes) -> bool:
    """The rule of docs/protocol.md §3.1. libsodium verifies in about half of OpenSSL's time
    (the hub's largest cost per message) and differs from §3.1 only where it refuses an `R`
    of small order, which OpenSSL accepts when the equation holds (a key's holder can make
    such a signature). So libsodium decides every signature whose `R` is a canonical point
    encoding of a y-coordinate not of small order (what honest signers make), and OpenSSL the
    rest; the keys that both would treat differently are refused before either runs."""
    if weak_public_key(key):
        return False
    if len(sig) == _SIG_SIZE and not weak_public_key(sig[:32]):
        try:
            crypto_sign_open(sig + data, key)
        except CryptoError:
            return False
        return True
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(key).verify(sig, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def ed25519_valid(key: bytes, sig: bytes, data: bytes, memo: SignatureMemo | None = None) -> bool:
    """Whether `sig` is `key`'s Ed25519 signature of `data`."""
    if memo is None:
        return _verify(key, sig, data)
    digest = hashlib.sha256(key + sig + hashlib.sha256(data).digest()).digest()
    known = memo.lookup(digest)
    if known is not None:
        return known
    valid = _verify(key, sig, data)
    memo.store(digest, valid)
    return valid
