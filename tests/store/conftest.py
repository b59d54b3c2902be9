"""Fixtures running the store behaviour suite against both implementations."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from meshnode.store.base import MessageStore

from .helpers import KINDS, open_store

StoreFactory = Callable[..., MessageStore]


@pytest.fixture(params=KINDS)
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Factory `new_store(capacity, seen_capacity=64)`; SQLite stores get a fresh file each."""
    opened: list[MessageStore] = []
    counter = itertools.count()

    def factory(capacity: int, seen_capacity: int = 64) -> MessageStore:
        path = tmp_path / f"store-{next(counter)}.db"
        store = open_store(request.param, path, capacity, seen_capacity)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()  # closing twice is harmless
