"""The serving side of a sync reads the store in one go per range listed and per few queued
messages (`MessageStore.get_many`), not once per message: what the peer gets is unchanged —
every message it lacks, once, in the queue's priority order, in bursts that stop at the
byte budget and go on where they stopped."""

from __future__ import annotations

import time
from pathlib import Path

from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity
from meshnode.daemon.harness import make_posts
from meshnode.events import PostReceived
from meshnode.node import Node, NodeConfig
from meshnode.store import Priority, SqliteStore, StoredMessage
from meshnode.testing import Mesh
from meshnode.wire import Kind, PostBody, decode_body, decode_message

POSTS = 300  # several bursts of 16 KiB, each cut in the middle of a read-ahead


def _stored(raw: bytes, now: int) -> StoredMessage:
    msg = decode_message(raw)
    body = decode_body(Kind.POST, msg.body)
    assert isinstance(body, PostBody)
    return StoredMessage(id=msg.id, kind=int(Kind.POST), raw=raw, priority=int(Priority.POST),
                         created=body.created, expires=body.expires, received=now,
                         channel=body.channel)


def test_a_hub_serving_from_sqlite_sends_each_missing_post_once_in_priority_order(
        tmp_path: Path) -> None:
    now = int(time.time())
    posts = [_stored(raw, now) for raw in make_posts(POSTS)]
    store = SqliteStore(tmp_path / "a.db", 1 << 24)
    store.put_many(posts, now)
    mesh = Mesh()
    mesh.nodes["A"] = Node(Identity.generate(), store, TrustStore(()), now, NodeConfig(seed=1))
    mesh.add("B", now)
    mesh.connect("A", "B", now)
    received = [e.msg_id for e in mesh.of("B", PostReceived)]  # type: ignore[attr-defined]
    assert mesh.frame_count["Msg"] == POSTS
    assert received == [p.id for p in sorted(posts, key=lambda p: (-p.created, p.id))]
    assert mesh.nodes["B"].held.usage().count == POSTS
