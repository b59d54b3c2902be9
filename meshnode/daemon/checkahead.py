"""The daemon's check-ahead worker: one thread that decodes arrived frames and verifies their
signatures (`Node.frame_check`, rule 5 of the node's driving contract) while the core is busy
with earlier inputs, so that the core's `receive` finds the work done.

Why a thread: libsodium's verification, most of a check's cost, runs in C with the GIL
released (PyNaCl's cffi bindings), so on a machine with a free second core the worker and the
core run at once; the frame's decoding around it still holds the GIL.
`bench/bench_verify_workers.py` measures how much a second thread gains on the machine as it
is loaded.

How the work is shared, without locks on anything but one `Pending` at a time:

* the transport forwarder (on the trio thread) `submit`s each arrived frame before queueing it
  for the core, so the worker sees frames in the order the core will take them;
* the worker runs the pure check on a frame's bytes and nothing else (the check shares nothing
  mutable: `meshnode.precheck`), and hands the result over through the frame's `Pending`;
* the core, just before it calls `receive` for the frame, `take`s the result and gives it to
  `Node.take_checked` on its own thread: the node's memo has a single writer. A result that is
  not ready (the worker is behind, or on that very frame) is not waited for: the core's
  `receive` verifies the frame itself, so a frame is never let through unchecked, and the
  worker skips a frame the core took before it started on it.

A check decides nothing: a forgery checked ahead is remembered as invalid and refused by the
node like any other, and nothing is stored, relayed or acknowledged by the worker.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from enum import Enum

from meshnode.crypto.verify import MemoEntries
from meshnode.precheck import NOTHING_LEARNED

__all__ = ["CheckAhead", "Pending"]

_log = logging.getLogger("meshnode.daemon")
_JOIN_TIMEOUT = 5.0  # seconds `close` waits for the worker to finish the frame it is on


class _State(Enum):
    QUEUED = 1  # waiting for the worker
    RUNNING = 2  # the worker is checking it
    DONE = 3  # checked: `take` returns the result
    TAKEN = 4  # the core took it before the worker started: the worker skips it


class Pending:
    """One frame handed to the worker. Its state moves under its own lock: QUEUED, then either
    RUNNING and DONE (the worker), or TAKEN (the core came first, and checks the frame itself).
    """

    __slots__ = ("_entries", "_lock", "_state", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._lock = threading.Lock()
        self._state = _State.QUEUED
        self._entries: MemoEntries | None = None

    def take(self) -> MemoEntries | None:
        """For the core: the result if it is ready, else None (then the core verifies the
        frame itself, and the worker will not start on it)."""
        with self._lock:
            if self._state is _State.DONE:
                return self._entries
            if self._state is _State.QUEUED:
                self._state = _State.TAKEN
            return None

    @property
    def ready(self) -> bool:
        """Whether the worker has published the frame's result (changes nothing)."""
        with self._lock:
            return self._state is _State.DONE

    def start(self) -> bool:
        """For the worker: whether to check the frame (the core has not taken it)."""
        with self._lock:
            if self._state is not _State.QUEUED:
                return False
            self._state = _State.RUNNING
            return True

    def finish(self, entries: MemoEntries) -> None:
        """For the worker: the frame's result, published to `take`."""
        with self._lock:
            self._entries, self._state = entries, _State.DONE


class CheckAhead:
    """The worker thread (see the module docstring). `after_check` runs on the worker after
    each frame whose check verified a signature, before its result is published (the crash
    tests' hook). Counters: `ahead` and `inline` count the frames the core found checked or
    not (written only by the core's thread through `take`)."""

    def __init__(self, check: Callable[[bytes], MemoEntries], *,
                 after_check: Callable[[], None] = lambda: None) -> None:
        self._check = check
        self._after_check = after_check
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="meshnode-check-ahead",
                                        daemon=True)
        self.ahead = 0
        self.inline = 0

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop the worker after the frame it is on (the frames still queued are dropped:
        the core verifies whatever it takes later itself)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(_JOIN_TIMEOUT)

    def submit(self, data: bytes) -> Pending:
        """Queue an arrived frame for the worker (on the thread that later `take`s it)."""
        pending = Pending(data)
        self._queue.put(pending)
        return pending

    def take(self, pending: Pending) -> MemoEntries | None:
        """`pending.take()`, counted."""
        entries = pending.take()
        if entries is None:
            self.inline += 1
        else:
            self.ahead += 1
        return entries

    def _run(self) -> None:
        while (pending := self._queue.get()) is not None:
            if not pending.start():
                continue
            try:
                entries = self._check(pending.data)
            except Exception:  # a bug in a check must not stop the worker: the core verifies
                _log.exception("check_ahead_failed")
                entries = NOTHING_LEARNED
            if entries.results:
                self._after_check()
            pending.finish(entries)
