"""A full disk: the daemon refuses writes with a clear error instead of crashing, stores
nothing half-way, carries on without a restart once there is room, and loses nothing it had
accepted. The data directory lives on a small tmpfs (the tests run as root, here and in CI)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity
from meshnode.daemon import api
from meshnode.daemon.contacts import ContactBook
from meshnode.daemon.inbox import Inbox
from meshnode.daemon.localnet import LocalNet, LocalNode
from meshnode.daemon.service import Service, ServiceInfo
from meshnode.events import DmReceived
from meshnode.node import Node, NodeConfig
from meshnode.routing.limits import Rate
from meshnode.store import SqliteStore
from meshnode.store.sqlite import StoreFull
from meshnode.testing import Mesh
from tests.daemons import links_up, wait_for
from tests.faults.helpers import (
    CAPACITY,
    fault_config,
    fill,
    log_events,
    small_fs,
    store_ids,
    with_log_file,
)

pytestmark = pytest.mark.slow
FS_SIZE = "3m"
NOW = 1_790_000_000
MAX_TRIES = 400  # posts tried on a full disk before the first refusal (WAL slack is reused)
MAX_PEER_TRIES = 20


@pytest.fixture
def hub_on_small_disk(tmp_path: Path) -> Iterator[tuple[LocalNode, LocalNode, Path]]:
    """A (data on a small tmpfs) linked with B; stops both and unmounts, whatever happens."""
    with small_fs(tmp_path / "small", FS_SIZE) as mnt, \
            LocalNet.line(tmp_path, ["A", "B"], fault_config()) as net:
        a, b = net.nodes
        a.data_dir = mnt / "A"
        with_log_file(a, tmp_path / "A.log")
        net.start()
        wait_for("the link", links_up(a, 1))
        yield a, b, mnt


def _ids(node: LocalNode) -> set[str]:
    return {p["id"] for p in node.request(api.Posts("wijk-noord", limit=1000))["posts"]}


def test_a_full_disk_refuses_writes_clearly_and_the_daemon_carries_on(
        hub_on_small_disk: tuple[LocalNode, LocalNode, Path]) -> None:
    a, b, mnt = hub_on_small_disk
    accepted = {a.request(api.Post("wijk-noord", "before the disk filled"))["id"]}
    from_b = b.request(api.Post("wijk-noord", "from B, before"))["id"]
    wait_for("B's post at A", lambda: from_b in _ids(a))
    accepted.add(from_b)

    filler = fill(mnt)
    # SQLite reuses the room its WAL already has, so the first posts may still fit: every
    # acknowledged one counts as accepted. Then comes the refusal.
    refusal: api.ApiError | None = None
    for i in range(MAX_TRIES):
        try:
            accepted.add(a.request(api.Post("wijk-noord", f"on a full disk {i} " + "x" * 400))
                         ["id"])
        except api.ApiError as exc:
            refusal = exc
            break
    assert refusal is not None, f"{MAX_TRIES} posts fitted on a full disk"
    assert refusal.code is api.ErrorCode.STORAGE_FULL
    assert "disk" in refusal.message and "full" in refusal.message
    assert "free space" in refusal.message and "nothing was stored" in refusal.message
    assert str(a.data_dir) in refusal.message
    [logged] = log_events(a, "disk_full")
    assert logged["level"] == "error" and logged["data_dir"] == str(a.data_dir)
    assert "free space" in logged["fix"]

    # Posts from a peer are refused too (one may still fit where the refused write left room
    # in the WAL file: it counts as accepted), nothing is half-kept, and A keeps serving.
    def refusals() -> int:
        return int(a.request(api.Status())["transport"]["storage_full"])

    before = refusals()
    late: set[str] = set()
    for i in range(MAX_PEER_TRIES):
        late.add(b.request(api.Post("wijk-noord", f"from B, disk full {i} " + "y" * 400))["id"])
        try:
            wait_for("A refusing one of B's posts", lambda: refusals() > before, 2)
            break
        except AssertionError:
            continue
    assert refusals() > before, f"A took all {MAX_PEER_TRIES} of B's posts on a full disk"
    assert a.process is not None and a.process.poll() is None
    held = _ids(a)
    assert late - held, "A refused a post and stored it all the same"
    accepted |= late & held
    assert accepted <= held

    # Room again: no restart, the sync delivers what was refused, and posting works.
    filler.unlink()
    wait_for("B's refused posts at A", lambda: late <= _ids(a), 30)
    accepted |= late
    accepted.add(a.request(api.Post("wijk-noord", "after the disk was freed"))["id"])
    wait_for("the log noting room", lambda: bool(log_events(a, "disk_space_available")))
    assert len(log_events(a, "ready")) == 1, "the daemon restarted"

    assert a.stop() == 0
    assert accepted <= store_ids(a.data_dir)  # and the store's checks pass


def test_a_dm_opened_while_the_inbox_disk_is_full_is_held_and_written_later(
        tmp_path: Path) -> None:
    """The node has already acknowledged a DM it opened, so if the inbox cannot take it the
    service holds it and writes it once there is room, instead of dropping it."""
    sender = Identity.generate()
    store = SqliteStore(tmp_path / "messages.db", CAPACITY)
    contacts = ContactBook(tmp_path / "contacts.db")
    node = Node(Identity.generate(), store, TrustStore(()), NOW)
    info = ServiceInfo(str(tmp_path), list, dict, dict)
    with small_fs(tmp_path / "small", "1m") as mnt:
        inbox = Inbox(mnt / "inbox.db")
        try:
            service = Service(node, inbox, contacts, info)
            filler = fill(mnt)
            sent = []
            for i in range(MAX_TRIES):
                dm = DmReceived(i.to_bytes(16, "big"), sender.public, f"dm {i} " + "x" * 900,
                                NOW)
                published = service.record([dm], NOW + 1)
                assert [name for name, _ in published] == ["dm_received"]
                sent.append(dm)
                if service.unrecorded:
                    break
            assert service.unrecorded, f"{MAX_TRIES} DMs fitted on a full disk"
            assert service.retry_unrecorded() == 0  # still full: still held
            held = len(service.unrecorded)
            filler.unlink()
            assert service.retry_unrecorded() == held
            assert not service.unrecorded
            kept = inbox.received(limit=MAX_TRIES)
            assert [d.text for d in kept] == [d.text for d in sent]
        finally:
            inbox.close()
    store.close()
    contacts.close()


def test_posts_refused_for_a_full_disk_do_not_use_up_their_authors_quota(
        tmp_path: Path) -> None:
    """A post a full disk refused comes again at every sync; those attempts must not count
    as posts of its author, or the author's quota runs out and the post is dropped for good
    once there is room."""
    mesh = Mesh()
    peer = mesh.add("P", NOW)
    verdict, out = peer.post("wijk-noord", "offered again and again", NOW)
    post_id = verdict.msg_id
    mesh.local("P", out, NOW)
    fast = Rate(10_000.0, 10_000.0)
    attempts = NodeConfig().author_posts_per_hour + 1
    with small_fs(tmp_path / "small", "1m") as mnt:
        store = SqliteStore(mnt / "messages.db", CAPACITY)
        try:
            mesh.nodes["N"] = Node(Identity.generate(), store, mesh.trust, NOW,
                                   NodeConfig(seed=7, post_rate=fast, peer_rate=fast))
            filler = fill(mnt)
            with pytest.raises(StoreFull):  # use up what room the WAL file still has
                for i in range(10_000):
                    store.set_meta("pad", i.to_bytes(4, "big") * 1024)
            refused = 0
            for _ in range(attempts):
                try:
                    mesh.connect("P", "N", NOW)
                except StoreFull:
                    refused += 1
                mesh.disconnect("P", "N", NOW)
            assert refused == attempts and not store.has(post_id)
            filler.unlink()
            mesh.connect("P", "N", NOW)
            assert store.has(post_id)
        finally:
            store.close()
