"""The trio/asyncio bridge: bleak and dbus-fast live on one asyncio loop in its own thread.

The trio side sees a narrow interface:

* `call(factory, timeout=...)` runs `factory()` (a coroutine function) on the loop through
  `asyncio.run_coroutine_threadsafe` and waits for it without blocking trio. A trio
  cancellation, or the timeout (`BridgeTimeout`), cancels the asyncio task.
* `emit(event)`, called on the loop, hands a `TransportEvent` to trio with
  `TrioToken.run_sync_soon` into a bounded `Inbox`; `next_event()` takes them in order.

Nothing created on the loop is touched from the trio thread: `factory` is called on the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from meshnode.transport.base import FrameReceived, LinkId, TransportEvent

__all__ = ["AsyncioBridge", "Background", "BridgeClosed", "BridgeTimeout", "Inbox"]

T = TypeVar("T")
log = logging.getLogger(__name__)

_JOIN_TIMEOUT = 10.0


class BridgeTimeout(Exception):
    """A call to the asyncio side took longer than its timeout and was cancelled."""


class BridgeClosed(Exception):
    """The asyncio thread is not running."""


class Inbox:
    """Events on their way to trio, in order; bounded in frames, never in link changes.

    Only `FrameReceived` counts against `limit`: a frame that finds the inbox full is
    dropped, counted in `drops`, and its link is listed in `damaged` (its ordered stream
    is broken, so the transport closes it). `LinkUp`/`LinkDown` are never dropped: there
    are at most two per connection, and losing one would leave the daemon with a ghost link.
    Used from the trio thread only.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.drops = 0
        self.damaged: set[LinkId] = set()
        self._items: deque[TransportEvent] = deque()
        self._frames = 0
        self._wakeup = trio.Event()
        self.closed = False

    def put(self, event: TransportEvent) -> None:
        if isinstance(event, FrameReceived):
            if self._frames >= self.limit:
                self.drops += 1
                self.damaged.add(event.link)
                return
            self._frames += 1
        self._items.append(event)
        self._wakeup.set()

    def __len__(self) -> int:
        return len(self._items)

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()

    async def get(self) -> TransportEvent:
        """The oldest event; waits for one. Raises `BridgeClosed` once closed and empty."""
        while not self._items:
            if self.closed:
                raise BridgeClosed("the BLE bridge is closed")
            self._wakeup = trio.Event()
            await self._wakeup.wait()
        event = self._items.popleft()
        if isinstance(event, FrameReceived):
            self._frames -= 1
        return event


class Background:
    """A task started on the loop with `AsyncioBridge.spawn`; `stop` cancels and waits."""

    def __init__(self, future: concurrent.futures.Future[None], finished: threading.Event,
                 name: str) -> None:
        self._future = future
        self._finished = finished
        self.name = name

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    async def stop(self, timeout: float) -> bool:
        """Cancel the task and wait (shielded) until its cleanup ran; False on timeout."""
        self._future.cancel()
        with trio.CancelScope(shield=True), trio.move_on_after(timeout):
            await trio.to_thread.run_sync(self._finished.wait, abandon_on_cancel=True)
        if not self._finished.is_set():
            log.error("%s did not finish within %.1f s of being cancelled", self.name, timeout)
        return self._finished.is_set()


class AsyncioBridge:
    """An asyncio loop in a daemon thread, driven from trio. Use as `async with`."""

    def __init__(self, *, event_limit: int = 512, name: str = "meshnode-ble") -> None:
        self.inbox = Inbox(event_limit)
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._lost = 0  # events emitted after trio stopped listening

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            raise BridgeClosed("the BLE asyncio loop is not running")
        return self._loop

    @property
    def drops(self) -> int:
        return self.inbox.drops + self._lost

    async def __aenter__(self) -> AsyncioBridge:
        self._token = trio.lowlevel.current_trio_token()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready,), name=self._name,
                                        daemon=True)
        self._thread.start()
        await trio.to_thread.run_sync(ready.wait)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the loop (cancelling what still runs on it) and join the thread."""
        loop, thread = self._loop, self._thread
        self.inbox.close()
        if loop is None or thread is None:
            return
        if not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                loop.call_soon_threadsafe(loop.stop)
        with trio.CancelScope(shield=True), trio.move_on_after(_JOIN_TIMEOUT):
            await trio.to_thread.run_sync(thread.join)
        if thread.is_alive():
            log.error("BLE asyncio thread did not stop within %.0f s", _JOIN_TIMEOUT)
        self._thread = None

    def _main(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        ready.set()
        try:
            loop.run_forever()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks, timeout=_JOIN_TIMEOUT))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    # --- trio side -----------------------------------------------------------------------

    async def call(self, factory: Callable[[], Awaitable[T]], *,
                   timeout: float | None = None) -> T:
        """Run `factory()` on the loop and return its result.

        On a trio cancellation or after `timeout` seconds (`BridgeTimeout`) the asyncio task
        is cancelled; this returns at once, without waiting for the task to wind down.
        """
        loop = self.loop
        token = self._token
        assert token is not None
        done = trio.Event()

        async def runner() -> T:
            return await factory()

        try:
            future = asyncio.run_coroutine_threadsafe(runner(), loop)
        except RuntimeError as exc:
            raise BridgeClosed("the BLE asyncio loop is not running") from exc

        def wake(_: concurrent.futures.Future[T]) -> None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(done.set)

        future.add_done_callback(wake)
        try:
            if timeout is None:
                await done.wait()
            else:
                with trio.fail_after(timeout):
                    await done.wait()
        except trio.TooSlowError:
            future.cancel()
            raise BridgeTimeout(f"BLE call timed out after {timeout:.1f} s") from None
        except BaseException:
            future.cancel()
            raise
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise BridgeClosed("the BLE call was cancelled on the asyncio side") from None

    def spawn(self, factory: Callable[[], Awaitable[None]], *, name: str) -> Background:
        """Run `factory()` on the loop in the background until it ends or is stopped."""
        finished = threading.Event()

        async def runner() -> None:
            try:
                await factory()
            except Exception:
                log.exception("%s failed", name)
            finally:
                finished.set()

        future = asyncio.run_coroutine_threadsafe(runner(), self.loop)
        return Background(future, finished, name)

    async def next_event(self) -> TransportEvent:
        return await self.inbox.get()

    # --- asyncio side --------------------------------------------------------------------

    def emit(self, event: TransportEvent) -> None:
        """Hand `event` to trio (from any thread; normally the loop's)."""
        token = self._token
        if token is None:
            self._lost += 1
            return
        try:
            token.run_sync_soon(self.inbox.put, event)
        except trio.RunFinishedError:
            self._lost += 1
