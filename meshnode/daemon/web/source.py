"""Reading the daemon's state for the board, through the local API's own request path.

`read_snapshot(call)` asks the daemon's core the same requests a local API client would
(`whoami`, `status`, `alerts`, `alert_history`, `posts`, `channels`): the board has no
database access and no copy of the service's logic. `Memo` keeps what was read, and the pages
rendered from it, for `FRESH_FOR` seconds, with one reader at a time per key: five hundred
phones opening the board cost the core a handful of requests, not thousands.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

import trio

from meshnode.daemon import api
from meshnode.daemon.web.board import NOTICE_CHANNEL, Snapshot

__all__ = ["FRESH_FOR", "Call", "Memo", "read_posts", "read_snapshot"]

FRESH_FOR = 2.0  # seconds a snapshot (and every page rendered from it) is served
HISTORY_THREADS = 20
NOTICES_READ = 50
CHANNEL_POSTS = 50

Call = Callable[[api.Request], Awaitable[dict[str, Any]]]
"""The daemon's `call`: one API request answered by its core; raises `ApiError`."""

V = TypeVar("V")


async def read_snapshot(call: Call) -> Snapshot:
    """The board's view of the daemon now (raises `ApiError` if the daemon refuses)."""
    return Snapshot(
        taken=int(time.time()),
        whoami=await call(api.Whoami()),
        status=await call(api.Status()),
        alerts=await call(api.Alerts()),
        history=await call(api.AlertHistory(limit=HISTORY_THREADS)),
        notices=await call(api.Posts(NOTICE_CHANNEL, limit=NOTICES_READ)),
        channels=await call(api.Channels()))


async def read_posts(call: Call, channel: str) -> dict[str, Any]:
    """The newest posts of one channel (the caller checked that the channel exists)."""
    return await call(api.Posts(channel, limit=CHANNEL_POSTS))


class Memo(Generic[V]):
    """Values by key, each kept `fresh_for` seconds (trio's clock), at most `size` of them.

    `get(key, make)` returns the kept value or awaits `make()` for a new one; concurrent
    callers for the same key never start a second `make`: while one is under way they get the
    value kept before it (however old), or, if there is none yet, wait for it. So a busy core
    delays one visitor every `fresh_for` seconds, not all of them. If `make` raises, the error
    reaches its caller and a waiting caller tries again.
    """

    def __init__(self, fresh_for: float, size: int = 256) -> None:
        self.fresh_for = fresh_for
        self.size = size
        self._kept: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._making: dict[Hashable, trio.Event] = {}
        self.made = 0  # how many times `make` ran (what the core was asked)

    async def get(self, key: Hashable, make: Callable[[], Awaitable[V]]) -> V:
        while True:
            kept = self._kept.get(key)
            if kept is not None and trio.current_time() - kept[0] < self.fresh_for:
                return kept[1]
            pending = self._making.get(key)
            if pending is None:
                break
            if kept is not None:
                return kept[1]  # stale, while its successor is being read
            await pending.wait()
        done = self._making[key] = trio.Event()
        try:
            value = await make()
            self.made += 1
            self._kept[key] = (trio.current_time(), value)
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
            return value
        finally:
            del self._making[key]
            done.set()
