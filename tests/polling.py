"""Waiting in tests without sleeping a fixed time: poll a condition until it holds, or fail.

One helper for every trio test that waits on real processes, sockets, threads or its own
tasks; a test file with its own deadline binds it once (`partial(until, timeout=30.0)`).
"""

from __future__ import annotations

from collections.abc import Callable

import trio

POLL_INTERVAL = 0.05  # seconds between two looks: short next to any deadline, light on the CPU


async def until(predicate: Callable[[], object], timeout: float = 15.0,
                what: str = "the condition") -> None:
    """Return once `predicate()` is true; raise AssertionError naming `what` if it is still
    false after `timeout` seconds of trio's clock (a MockClock that autojumps moves it)."""
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(POLL_INTERVAL)
        return
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


async def until_settled(predicate: Callable[[], object], passes: int = 100_000,
                        what: str = "the condition") -> None:
    """For a MockClock that stands still: let the other tasks run (each scheduler pass also
    polls the sockets) until `predicate()` is true, bounded by passes instead of time."""
    for _ in range(passes):
        if predicate():
            return
        await trio.sleep(0)
    raise AssertionError(f"{what} did not hold after {passes:,} scheduler passes")
