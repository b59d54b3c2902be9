"""Group commit through the node (rule 4 of the driving contract): a batch's writes are durable
only at `commit_batch`, an aborted batch leaves nothing behind and the peers send it again, and
`CheckedNode` catches a driver that releases a batch's frames before its commit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post
from meshnode.events import PostReceived, Refusal, Rejected, Send
from meshnode.node import Node, NodeConfig
from meshnode.routing.frames import Msg, encode_frame
from meshnode.store import SqliteStore
from meshnode.store.memory import MemoryStore
from meshnode.testing import CheckedNode, ContractViolation, Mesh
from meshnode.wire import Kind, Message, encode_message

NOW = 1_790_000_000
POSTS = 20


def _sqlite_node(path: Path, seed: int, cls: type[Node] = Node) -> Node:
    return cls(Identity.generate(), SqliteStore(path, 1 << 24), TrustStore(()), NOW,
               NodeConfig(seed=seed))


def _on_disk(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])
    finally:
        db.close()


def _mesh_with_a_poster(tmp_path: Path) -> tuple[Mesh, Node, Path]:
    mesh = Mesh()
    mesh.add("A", NOW)
    for i in range(POSTS):
        mesh.local("A", mesh.nodes["A"].post("wijk", f"bericht {i}", NOW), NOW)
    path = tmp_path / "b.db"
    mesh.nodes["B"] = hub = _sqlite_node(path, seed=7)
    return mesh, hub, path


def test_what_a_batch_took_in_is_on_disk_only_once_it_commits(tmp_path: Path) -> None:
    mesh, hub, path = _mesh_with_a_poster(tmp_path)
    hub.begin_batch()
    mesh.connect("A", "B", NOW)  # this driver does not hold outputs: only the store is checked
    assert hub.held.usage().by_kind.get(int(Kind.POST)) == POSTS
    assert hub.batch_writes
    assert _on_disk(path) == 0
    hub.commit_batch()
    assert not hub.in_batch
    assert _on_disk(path) == POSTS


def test_an_aborted_batch_is_forgotten_and_the_peer_sends_it_again(tmp_path: Path) -> None:
    mesh, hub, path = _mesh_with_a_poster(tmp_path)
    hub.begin_batch()
    mesh.connect("A", "B", NOW)
    assert len(mesh.of("B", PostReceived)) == POSTS
    restart = hub.abort_batch(NOW + 1)
    assert hub.held.usage().count == 0 and _on_disk(path) == 0
    assert [type(o) for o in restart] == [Send]  # a new Hello to A: the session starts over
    mesh.local("B", restart, NOW + 1)
    assert hub.held.usage().by_kind.get(int(Kind.POST)) == POSTS
    assert _on_disk(path) == POSTS  # outside a batch every write is durable at once


def test_a_forgery_verified_ahead_is_refused_and_does_not_block_the_genuine_post(
        tmp_path: Path) -> None:
    hub = _sqlite_node(tmp_path / "hub.db", seed=3)
    good = create_post(Identity.generate(), "wijk", "echt", NOW)
    forged = Message(good.kind, good.body, bytes(64))  # the same id, a signature that fails
    frames = [encode_frame(Msg(encode_message(m))) for m in (forged, good)]
    for frame in frames:  # as the daemon does for what arrives, with its check-ahead worker
        hub.take_checked(hub.frame_check()(frame))
    assert hub.held.usage().count == 0  # verifying ahead stores nothing
    hub.link_up("p", NOW)
    refused = hub.receive("p", frames[0], NOW)
    assert [r.refusal for r in refused if isinstance(r, Rejected)] == [Refusal.INVALID]
    assert not hub.held.has(good.id)
    hub.receive("p", frames[1], NOW)
    assert hub.held.has(good.id)


def test_a_driver_confirming_a_batch_burst_before_its_commit_is_caught() -> None:
    node = CheckedNode(Identity.generate(), MemoryStore(1 << 20), TrustStore(()), NOW,
                       NodeConfig(seed=1))
    node.begin_batch()
    assert len(node.link_up("p", NOW)) == 1  # the Hello, handed out inside the batch
    with pytest.raises(ContractViolation, match="rule 6"):
        node.ready("p", NOW)  # its frames cannot have been sent: they wait for the commit
    node.commit_batch()
    node.ready("p", NOW)  # after the commit: fine
    node.finish(NOW)


def test_nested_batches_and_quiet_drivers_with_a_batch_open_are_caught(tmp_path: Path) -> None:
    node = _sqlite_node(tmp_path / "hub.db", seed=2, cls=CheckedNode)
    assert isinstance(node, CheckedNode)
    node.begin_batch()
    with pytest.raises(ContractViolation, match="rule 6"):
        node.begin_batch()
    with pytest.raises(ContractViolation, match="rule 6"):
        node.finish(NOW)
    node.commit_batch()
    with pytest.raises(ContractViolation, match="rule 6"):
        node.commit_batch()
