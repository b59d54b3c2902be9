"""The trio/asyncio bridge on its own: cancellation, a full inbox, a stuck call."""

from __future__ import annotations

import asyncio
import threading

import pytest
import trio
import trio.testing

from meshnode.transport.base import FrameReceived, LinkDown, LinkUp
from meshnode.transport.ble_bridge import AsyncioBridge, BridgeTimeout


def test_call_returns_the_result_computed_on_the_loop_thread() -> None:
    async def main() -> None:
        async with AsyncioBridge() as bridge:
            async def where() -> str:
                await asyncio.sleep(0)
                return threading.current_thread().name
            assert await bridge.call(where, timeout=5) == "meshnode-ble"

            async def boom() -> None:
                raise KeyError("from asyncio")
            with pytest.raises(KeyError, match="from asyncio"):
                await bridge.call(boom, timeout=5)

    trio.run(main)


def test_trio_cancellation_cancels_the_asyncio_task() -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def main() -> None:
        async with AsyncioBridge() as bridge:
            with trio.move_on_after(5) as outer:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(bridge.call, forever)
                    await trio.to_thread.run_sync(started.wait, 5)
                    nursery.cancel_scope.cancel()
            assert not outer.cancelled_caught  # the call gave up at once
            await trio.to_thread.run_sync(cancelled.wait, 5)

    trio.run(main)
    assert cancelled.is_set()


def test_a_stuck_call_times_out_and_is_cancelled() -> None:
    cancelled = threading.Event()

    async def stuck() -> None:
        try:
            await asyncio.Event().wait()  # a bleak call that never answers
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def main() -> float:
        async with AsyncioBridge() as bridge:
            start = trio.current_time()
            with pytest.raises(BridgeTimeout):
                await bridge.call(stuck, timeout=0.2)
            waited = trio.current_time() - start
            await trio.to_thread.run_sync(cancelled.wait, 5)
            return waited

    waited = trio.run(main)
    assert 0.2 <= waited < 2.0
    assert cancelled.is_set()


def test_full_inbox_drops_frames_not_link_changes() -> None:
    limit, frames = 16, 40

    async def main() -> None:
        async with AsyncioBridge(event_limit=limit) as bridge:
            def flood() -> None:  # on the loop: more than the inbox holds, nobody reading
                bridge.emit(LinkUp("l1", 20))
                for i in range(frames):
                    bridge.emit(FrameReceived("l1", bytes([i])))
                bridge.emit(LinkDown("l1", "gone"))

            async def on_loop() -> None:
                flood()
            await bridge.call(on_loop, timeout=5)
            await trio.testing.wait_all_tasks_blocked()
            await trio.sleep(0.1)  # run_sync_soon callbacks have run
            got = [await bridge.next_event() for _ in range(len(bridge.inbox))]
            assert isinstance(got[0], LinkUp) and isinstance(got[-1], LinkDown)
            data = [e.data for e in got if isinstance(e, FrameReceived)]
            assert data == [bytes([i]) for i in range(limit)]  # the oldest, in order
            assert bridge.drops == frames - limit
            assert bridge.inbox.damaged == {"l1"}

    trio.run(main)
