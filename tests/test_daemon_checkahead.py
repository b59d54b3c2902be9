"""The daemon's check-ahead worker (`meshnode.daemon.checkahead`): a real thread checks frames
while the core takes them in order; a result that is not ready is never waited for and never
skipped (the core verifies the frame itself), the worker never checks a frame the core took
first, and whichever side checked a frame, the node's outcome is the same."""

from __future__ import annotations

import threading
from pathlib import Path

from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post
from meshnode.crypto.verify import MemoEntries, SignatureMemo
from meshnode.daemon.checkahead import CheckAhead
from meshnode.daemon.harness import wait_for
from meshnode.events import Refusal, Rejected
from meshnode.node import Node, NodeConfig
from meshnode.routing.frames import Msg, encode_frame
from meshnode.store import SqliteStore
from meshnode.wire import Message, encode_message

NOW = 1_790_000_000
DEADLINE = 30.0  # seconds: generous, for a loaded machine; only a hang reaches it


def _node(tmp_path: Path, memo: SignatureMemo) -> Node:
    return Node(Identity.generate(), SqliteStore(tmp_path / "hub.db", 1 << 24), TrustStore(()),
                NOW, NodeConfig(seed=9), memo=memo)


def _frames(count: int) -> tuple[list[bytes], set[bytes]]:
    """`count` posts as Msg frames, every third one forged; and the forged frames."""
    frames, forged = [], set()
    for i in range(count):
        post = create_post(Identity.generate(), "wijk", f"bericht {i}", NOW)
        if i % 3 == 0:
            post = Message(post.kind, post.body, bytes([i % 250 + 1]) * 64)
        frame = encode_frame(Msg(encode_message(post)))
        frames.append(frame)
        if i % 3 == 0:
            forged.add(frame)
    return frames, forged


class _Gate:
    """The node's real check, held at the first frame until `release` (so that the test
    knows where the worker is); records every frame the worker checked."""

    def __init__(self, check: object) -> None:
        self.check = check
        self.started = threading.Event()
        self.release = threading.Event()
        self.checked: list[bytes] = []

    def __call__(self, data: bytes) -> MemoEntries:
        self.checked.append(data)
        if not self.started.is_set():
            self.started.set()
            assert self.release.wait(DEADLINE)
        assert callable(self.check)
        result = self.check(data)
        assert isinstance(result, MemoEntries)
        return result


def test_a_result_not_ready_is_left_to_the_core_and_the_worker_skips_what_the_core_took(
        tmp_path: Path) -> None:
    node = _node(tmp_path, SignatureMemo())
    frames, _ = _frames(3)
    gate = _Gate(node.frame_check())
    worker = CheckAhead(gate)
    worker.start()
    try:
        first, second = worker.submit(frames[0]), worker.submit(frames[1])
        assert gate.started.wait(DEADLINE)  # the worker is on the first frame
        assert worker.take(first) is None  # being checked: the core does not wait for it
        assert worker.take(second) is None  # not started: the core takes it over
        gate.release.set()
        third = worker.submit(frames[2])
        wait_for("the worker to check the third frame", lambda: third.ready, DEADLINE)
        entries = worker.take(third)
        assert entries is not None and entries.results
        assert gate.checked == [frames[0], frames[2]]  # the second was never checked twice
        assert (worker.ahead, worker.inline) == (1, 2)
    finally:
        worker.close()
    assert not any(t.name == "meshnode-check-ahead" and t.is_alive()
                   for t in threading.enumerate())


def test_whichever_side_checks_a_frame_forgeries_are_refused_and_the_rest_stored(
        tmp_path: Path) -> None:
    memo = SignatureMemo()
    node = _node(tmp_path, memo)
    frames, forged = _frames(120)
    worker = CheckAhead(node.frame_check())
    worker.start()
    try:
        pending = [worker.submit(frame) for frame in frames]
        node.link_up("p", NOW)
        hits = memo.hits
        refused = 0
        for frame, check in zip(frames, pending, strict=True):  # the core, racing the worker
            entries = worker.take(check)
            if entries is not None:
                node.take_checked(entries)
            out = node.receive("p", frame, NOW)
            rejected = [r.refusal for r in out if isinstance(r, Rejected)]
            assert rejected == ([Refusal.INVALID] if frame in forged else [])
            refused += len(rejected)
    finally:
        worker.close()
    assert refused == len(forged)
    assert node.held.usage().count == len(frames) - len(forged)
    assert worker.ahead + worker.inline == len(frames)
    assert memo.hits - hits == worker.ahead  # each result taken in spared a verification
