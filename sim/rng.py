"""Seeded random streams: one independent `numpy.random.Generator` per purpose.

Each purpose name ("mobility", "workload.posts", ...) gets its own child of the scenario seed.
Children are keyed by a hash of the *name*, not by spawn order (as `SeedSequence.spawn` would
do), so adding, removing or reordering a purpose never changes the numbers another purpose
draws: a new workload leaves mobility, and therefore the contact trace, bit-for-bit the same.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["Streams"]


def _name_key(name: str) -> tuple[int, int]:
    # Two 32-bit words of SHA-256: stable across runs and platforms, unlike hash().
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:8], "little")


class Streams:
    """Factory of independent random streams derived from one seed.

    `generator(name)` returns a fresh generator, positioned at the stream's start, on every
    call: callers keep the generator they were given. `child(name)` derives a sub-factory, for
    a family of streams (e.g. one per node) that must not collide with the parent's.
    """

    __slots__ = ("_key", "_seed")

    def __init__(self, seed: int, _key: tuple[int, ...] = ()) -> None:
        if type(seed) is not int or seed < 0:
            raise ValueError("seed must be a non-negative int")
        self._seed = seed
        self._key = _key

    @property
    def seed(self) -> int:
        return self._seed

    def sequence(self, name: str) -> np.random.SeedSequence:
        if not name:
            raise ValueError("stream name must not be empty")
        return np.random.SeedSequence(self._seed, spawn_key=(*self._key, *_name_key(name)))

    def generator(self, name: str) -> np.random.Generator:
        """The generator for purpose `name` (same seed and name: same numbers)."""
        return np.random.Generator(np.random.PCG64(self.sequence(name)))

    def child(self, name: str) -> Streams:
        """A sub-factory whose streams are independent of this factory's own streams."""
        return Streams(self._seed, (*self._key, *_name_key(name), 0xC417D))

    def integer_seed(self, name: str) -> int:
        """A 63-bit integer seed, for components seeded with an int (e.g. `NodeConfig.seed`)."""
        return int(self.sequence(name).generate_state(2, np.uint32).view(np.uint64)[0] >> 1)
