"""Helpers to run real daemons on one machine, for tests and benchmarks: fast configs, a test
authority, pre-filled stores, an event listener, waiting with a deadline."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshnode.alerts.examples import ExampleAuthority, example_authority
from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post
from meshnode.daemon import api
from meshnode.daemon.config import DaemonConfig
from meshnode.daemon.localnet import LocalNode
from meshnode.store import Priority, SqliteStore, StoredMessage
from meshnode.wire import Kind, PostBody, decode_body, decode_message, encode_message


def fast_config(**node: Any) -> DaemonConfig:
    """Short timers, so that links and re-syncs settle within a test's time."""
    base = DaemonConfig()
    return dataclasses.replace(
        base,
        node=dataclasses.replace(base.node, tick=0.2, session_timeout=2, resync_interval=3,
                                 store_mb=64, **node),
        udp=dataclasses.replace(base.udp, keepalive=0.2, link_timeout=1.5, discovery=False))


@dataclass(frozen=True)
class Authority:
    root_pub: Path
    example: ExampleAuthority

    def alert(self, seq: int = 1) -> bytes:
        now = int(time.time())
        return encode_message(self.example.alert(now, seq=seq, identifier=f"test.{now}.{seq}"))


def make_authority(folder: Path) -> Authority:
    """A throw-away root and safety region, valid now."""
    folder.mkdir(parents=True, exist_ok=True)
    example = example_authority(int(time.time()), root_name="Test root",
                                issuer_name="Test region", issuer_id="test-vr17")
    return Authority(example.write_root(folder / "root.pub"), example)


def make_posts(count: int, channel: str = "wijk-noord", per_author: int = 50) -> list[bytes]:
    """`count` signed posts from throw-away authors (within the per-author hourly quota)."""
    now = int(time.time())
    out = []
    author = Identity.generate()
    for i in range(count):
        if i % per_author == 0:
            author = Identity.generate()
        out.append(encode_message(create_post(author, channel, f"post {i}", now)))
    return out


def prefill(node: LocalNode, posts: list[bytes], *, capacity: int = 64 * 1024 * 1024) -> None:
    """Store posts in a stopped node's store, as if it had accepted them (one transaction)."""
    now = int(time.time())
    store = SqliteStore(node.data_dir / "messages.db", capacity)
    try:
        msgs = []
        for raw in posts:
            msg = decode_message(raw)
            body = decode_body(Kind.POST, msg.body)
            assert isinstance(body, PostBody)
            msgs.append(StoredMessage(id=msg.id, kind=int(Kind.POST), raw=raw,
                                      priority=int(Priority.POST), created=body.created,
                                      expires=body.expires, received=now,
                                      channel=body.channel))
        store.put_many(msgs, now)
    finally:
        store.close()


def stored_ids(node: LocalNode, kind: Kind | None = None) -> set[bytes]:
    """The ids in a stopped node's store (opening it also checks it is sound)."""
    store = SqliteStore(node.data_dir / "messages.db", 64 * 1024 * 1024)
    try:
        assert store.integrity_check() == []
        return {i for _, i in store.ids_since(0, kind=None if kind is None else int(kind))}
    finally:
        store.close()


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 30.0,
             every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def links_up(node: LocalNode, count: int) -> Callable[[], bool]:
    return lambda: int(node.request(api.Status())["links"]) >= count


class Events(threading.Thread):
    """A daemon's event stream, recorded with arrival times (monotonic)."""

    def __init__(self, node: LocalNode, events: tuple[str, ...] = ()) -> None:
        super().__init__(daemon=True)
        self.client = node.client(timeout=None)
        self.client.connect()
        self.client.request(api.Subscribe(events))
        self.seen: list[tuple[float, str, dict[str, Any]]] = []
        self.lock = threading.Condition()
        self.start()

    def run(self) -> None:
        try:
            for event in self.client.events():
                with self.lock:
                    self.seen.append((time.monotonic(), event.event, event.data))
                    self.lock.notify_all()
        except (OSError, ValueError, api.ApiError):
            pass

    def of(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [d for _, n, d in self.seen if n == name]

    def wait_count(self, name: str, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Block until `count` events called `name` arrived; return them (at that moment)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                found = [d for _, n, d in self.seen if n == name]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"only {len(found)} of {count} {name} events "
                                         f"after {timeout} s")
                self.lock.wait(left)

    def count(self, name: str) -> int:
        return len(self.of(name))

    def close(self) -> None:
        self.client.shutdown()
        self.join(5)
        self.client.close()
