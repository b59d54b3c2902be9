"""Minting proof-of-work stamps ahead, off the daemon's core (docs/protocol.md §15).

With `[node] stamp_own`, every post and announce the node makes carries its stamp of the day
and every DM a stamp for its new ack key. Minting costs 2**stamp_bits hashes (milliseconds
here, up to a few tenths of a second on a slow board: docs/benchmarks.md, "Proof-of-work
stamps"), which must not stall the core that runs the node. `StampMinter.run` therefore
keeps, minted on a worker thread, the node's own stamp for the current UTC day and one spare
stamped ack key; the core hands the own stamp to the node at its next tick (`give_due`) and a
DM takes the spare (`take_ack`), after which the next is minted. Should a post, announce or DM
come before its stamp is ready (at start, or DMs in quick succession), the node mints it
itself: the cost of one stamp, once, on the core.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import trio

from meshnode.crypto.sealing import StampedAck, stamped_ack
from meshnode.crypto.stamp import StampWork, stamp_day
from meshnode.node import Node

__all__ = ["StampMinter"]

_DAY = 86_400
_RECHECK = 600.0  # seconds; a stepped wall clock (NTP back) is noticed within this


class StampMinter:
    """Stamps minted ahead for a node with `stamp_own`: its own of the day, one spare ack."""

    def __init__(self, key: bytes, bits: int, clock: Callable[[], float]) -> None:
        self._key = key
        self._bits = bits
        self._clock = clock
        self.own: tuple[int, bytes] | None = None  # (day, stamp) for the node's own key
        self.spare: StampedAck | None = None
        self._wanted = trio.Event()
        self.ready = trio.Event()  # set once both of the current day's stamps are minted
        self.minted = 0  # stamps minted so far

    def take_ack(self, now: int) -> StampedAck | None:
        """The spare stamped ack key if it is for the day of `now` (then a new one is minted),
        else None (the node then mints its own)."""
        spare, self.spare = self.spare, None
        self._wanted.set()
        return spare if spare is not None and spare.day == stamp_day(now) else None

    def give_due(self, node: Node, now: int) -> None:
        """Hand the node today's own stamp if it needs it and it is minted (core only)."""
        work = node.own_stamp_work(now)
        if work is not None and self.own is not None and self.own[0] == work.day:
            node.give_own_stamp(work, self.own[1])
        elif work is not None:
            self._wanted.set()

    async def run(self) -> None:
        """Keep today's stamps minted; runs until cancelled."""
        while True:
            day = stamp_day(int(self._clock()))
            if self.own is None or self.own[0] != day:
                work = StampWork(self._key, day, self._bits)
                self.own = (day, await trio.to_thread.run_sync(work.mint))
                self.minted += 1
            if self.spare is None or self.spare.day != day:
                self.spare = await trio.to_thread.run_sync(
                    stamped_ack, os.urandom(32), day, self._bits)
                self.minted += 1
            self.ready.set()
            self._wanted = trio.Event()
            until_tomorrow = (day + 1) * _DAY - self._clock()
            with trio.move_on_after(max(1.0, min(until_tomorrow, _RECHECK))):
                await self._wanted.wait()
