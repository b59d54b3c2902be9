"""`Memo`: what keeps five hundred phones from costing the daemon's core thousands of calls.

Driven by trio's MockClock (virtual time), so nothing here depends on the machine's speed.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from meshnode.daemon.web.source import Memo


def run(fn: object) -> None:
    trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))  # type: ignore[arg-type]


def test_concurrent_readers_share_one_read() -> None:
    async def main() -> None:
        memo: Memo[int] = Memo(fresh_for=2.0)
        calls = 0
        got: list[int] = []

        async def make() -> int:
            nonlocal calls
            calls += 1
            await trio.sleep(0.5)  # the core is busy
            return calls

        async def reader() -> None:
            got.append(await memo.get("board", make))

        async with trio.open_nursery() as nursery:
            for _ in range(500):
                nursery.start_soon(reader)
        assert calls == 1 and got == [1] * 500

    run(main)


def test_a_value_is_read_again_once_it_is_stale() -> None:
    async def main() -> None:
        memo: Memo[float] = Memo(fresh_for=2.0)

        async def make() -> float:
            return trio.current_time()

        first = await memo.get("k", make)
        await trio.sleep(1.9)
        assert await memo.get("k", make) == first
        await trio.sleep(0.2)
        assert await memo.get("k", make) > first
        assert memo.made == 2

    run(main)


def test_a_failed_read_reaches_its_caller_and_the_next_reader_tries_again() -> None:
    async def main() -> None:
        memo: Memo[str] = Memo(fresh_for=2.0)
        attempts = 0

        async def make() -> str:
            nonlocal attempts
            attempts += 1
            await trio.sleep(0.1)
            if attempts == 1:
                raise RuntimeError("core refused")
            return "ok"

        results: list[str] = []

        async def first() -> None:
            with pytest.raises(RuntimeError):
                await memo.get("k", make)

        async def second() -> None:
            await trio.sleep(0.01)  # arrives while the first read is under way
            results.append(await memo.get("k", make))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first)
            nursery.start_soon(second)
        assert results == ["ok"] and attempts == 2

    run(main)


def test_at_most_size_values_are_kept() -> None:
    async def main() -> None:
        memo: Memo[int] = Memo(fresh_for=60.0, size=3)
        for key in range(10):
            async def make(k: int = key) -> int:
                return k
            await memo.get(key, make)
        assert memo.made == 10
        await memo.get(9, _never)  # the newest are kept
        with pytest.raises(AssertionError):
            await memo.get(0, _never)  # the oldest were dropped

    run(main)


async def _never() -> int:
    raise AssertionError("read again")


def test_while_a_value_is_read_again_the_others_get_the_previous_one_at_once() -> None:
    async def main() -> None:
        memo: Memo[int] = Memo(fresh_for=2.0)
        version = 0

        async def make() -> int:
            nonlocal version
            version += 1
            await trio.sleep(1.0)  # a slow core
            return version

        assert await memo.get("k", make) == 1
        await trio.sleep(3.0)
        waits: list[tuple[int, float]] = []

        async def reader() -> None:
            start = trio.current_time()
            value = await memo.get("k", make)
            waits.append((value, trio.current_time() - start))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)  # this one reads again, and waits for it
            await trio.sleep(0.1)
            for _ in range(10):
                nursery.start_soon(reader)
        assert waits[-1] == (2, 1.0)
        assert sorted(waits[:-1]) == [(1, 0.0)] * 10
        assert memo.made == 2

    run(main)
