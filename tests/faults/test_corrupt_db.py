"""A damaged database file: typed errors from the store; the daemon moves a damaged message
store aside (kept, never deleted) and starts with an empty one that its peers refill, and
refuses to start on a damaged inbox or contact book, naming the file and the fix."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post
from meshnode.daemon import api
from meshnode.daemon.client import DaemonNotRunning
from meshnode.daemon.localnet import LocalNet
from meshnode.store import SqliteStore, StoredMessage, StoreError
from meshnode.store.sqlite import StoreCorrupt, check_file, quarantine
from meshnode.wire import encode_message
from tests.daemons import links_up, prefill, wait_for
from tests.faults.helpers import CAPACITY, fault_config, log_events

SEED = 20261128


def _page_size(path: Path) -> int:
    size = int.from_bytes(path.read_bytes()[16:18], "big")
    return 65_536 if size == 1 else size


def flip_page_headers(path: Path, rng: random.Random) -> None:
    """Invert the b-tree headers of two random pages after the first (the page area)."""
    page = _page_size(path)
    pages = path.stat().st_size // page
    assert pages >= 3, "too small a database to damage its pages"
    with path.open("r+b") as f:
        for n in rng.sample(range(1, pages), 2):
            f.seek(n * page)
            head = f.read(12)
            f.seek(n * page)
            f.write(bytes(b ^ 0xFF for b in head))


def truncate_half(path: Path, rng: random.Random) -> None:
    page = _page_size(path)
    os.truncate(path, (path.stat().st_size // page // 2) * page)


def garbage_header(path: Path, rng: random.Random) -> None:
    with path.open("r+b") as f:
        f.write(rng.randbytes(100))


DAMAGE: dict[str, Callable[[Path, random.Random], None]] = {
    "flipped page headers": flip_page_headers,
    "truncated": truncate_half,
    "garbage header": garbage_header,
}


def _message(i: int) -> StoredMessage:
    return StoredMessage(id=i.to_bytes(16, "big"), kind=1, raw=bytes([i % 251]) * 600,
                         priority=1, created=i, expires=2 * 10**9, received=0,
                         channel="wijk-noord")


def _make_store(path: Path, count: int = 200) -> None:
    store = SqliteStore(path, CAPACITY)
    try:
        store.put_many([_message(i) for i in range(count)], 1)
    finally:
        store.close()  # checkpoints the WAL: the main file holds everything
    assert not Path(f"{path}-wal").exists()


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_store_raises_store_corrupt_naming_the_file(tmp_path: Path,
                                                              damage: str) -> None:
    path = tmp_path / "messages.db"
    _make_store(path)
    DAMAGE[damage](path, random.Random(SEED))
    with pytest.raises(StoreCorrupt) as caught:
        SqliteStore(path, CAPACITY)
    assert caught.value.path == str(path) and str(path) in str(caught.value)
    assert caught.value.problem
    assert check_file(path) is not None


def test_quarantine_moves_the_file_and_its_journals_aside_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    _make_store(path)
    flip_page_headers(path, random.Random(SEED))
    Path(f"{path}-wal").write_bytes(b"wal bytes")
    before = path.read_bytes()
    first = quarantine(path, 1_800_000_000)
    assert first.name == "messages.db.corrupt-20270115T080000Z"
    assert first.read_bytes() == before and Path(f"{first}-wal").read_bytes() == b"wal bytes"
    assert not path.exists() and not Path(f"{path}-wal").exists()
    # A second damaged file in the same second gets a name of its own.
    path.write_bytes(b"junk")
    second = quarantine(path, 1_800_000_000)
    assert second != first and second.read_bytes() == b"junk" and first.exists()
    fresh = SqliteStore(path, CAPACITY)
    try:
        assert fresh.usage().count == 0 and fresh.integrity_check() == []
    finally:
        fresh.close()


def test_a_foreign_database_is_refused_but_not_called_damaged(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE other (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError) as caught:
        SqliteStore(path, CAPACITY)
    assert not isinstance(caught.value, StoreCorrupt)
    assert "not a meshnode message store" in str(caught.value)
    assert check_file(path) is None


@settings(max_examples=60)
@example(flips=[(3287, 128)])  # a flipped byte in the schema's text: UnicodeDecodeError before
@given(flips=st.lists(st.tuples(st.integers(0, 2**31), st.integers(1, 255)), min_size=1,
                      max_size=8))
def test_random_byte_flips_give_a_typed_error_or_a_sound_store(tmp_path_factory: pytest.
                                                               TempPathFactory,
                                                               flips: list[tuple[int, int]]
                                                               ) -> None:
    path = tmp_path_factory.mktemp("flip") / "messages.db"
    _make_store(path, 40)
    data = bytearray(path.read_bytes())
    for offset, mask in flips:
        data[offset % len(data)] ^= mask
    path.write_bytes(bytes(data))
    try:
        store = SqliteStore(path, CAPACITY)
    except StoreError:
        return  # typed; which subtype depends on where the flip landed
    try:
        # Whatever opened must answer reads with data or a typed error, never anything else.
        try:
            store.ids_since(0)
            store.by_channel("wijk-noord", 100)
        except StoreError:
            pass
    finally:
        store.close()


# --- the daemon ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_the_daemon_moves_a_damaged_store_aside_and_its_peer_refills_it(tmp_path: Path,
                                                                        damage: str) -> None:
    with LocalNet.line(tmp_path, ["A", "B"], fault_config()) as net:
        a, b = net.nodes
        net.start()
        wait_for("the link", links_up(a, 1))
        ids = {a.request(api.Post("wijk-noord", f"before the damage {i}"))["id"]
               for i in range(5)}
        wait_for("B holding A's posts", lambda: {
            p["id"] for p in b.request(api.Posts("wijk-noord"))["posts"]} >= ids)
        assert a.stop() == 0
        store = a.data_dir / "messages.db"
        DAMAGE[damage](store, random.Random(SEED))
        damaged = store.read_bytes()

        a.start()
        a.wait_ready()
        [event] = log_events(a, "store_quarantined")
        assert event["level"] == "critical" and event["file"] == str(store)
        assert event["problem"] and "peers" in event["fix"]
        moved = Path(event["moved_to"])
        assert moved.parent == a.data_dir and moved.read_bytes() == damaged
        # A serves again at once, and fetches back what its peer holds.
        a.request(api.Post("wijk-noord", "after the damage"))
        wait_for("A refilled from B", lambda: {
            p["id"] for p in a.request(api.Posts("wijk-noord"))["posts"]} >= ids, 30)


def emptied(path: Path, rng: random.Random) -> None:
    """Cut to 0 bytes, journals gone: SQLite would open it as a new, empty database."""
    path.write_bytes(b"")
    for journal in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        journal.unlink(missing_ok=True)


@pytest.mark.slow
@pytest.mark.parametrize("damage", [garbage_header, emptied])
@pytest.mark.parametrize("name", ["inbox.db", "contacts.db"])
def test_the_daemon_refuses_a_damaged_inbox_or_contact_book_with_the_fix(
        tmp_path: Path, name: str, damage: Callable[[Path, random.Random], None]) -> None:
    with LocalNet.line(tmp_path, ["A"], fault_config()) as net:
        [a] = net.nodes
        net.start()
        assert a.stop() == 0
    path = a.data_dir / name
    damage(path, random.Random(SEED))
    damaged = path.read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "--data-dir", str(a.data_dir), "run"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"{path} is damaged" in result.stderr
    assert ".recover" in result.stderr and f"mv {path}" in result.stderr
    assert path.read_bytes() == damaged  # left exactly as found, for the operator
    assert not list(a.data_dir.glob(f"{name}.corrupt-*"))


@pytest.mark.slow
def test_damage_found_while_running_stops_the_daemon_clearly_and_a_restart_recovers(
        tmp_path: Path) -> None:
    """Pages damaged under a running daemon: it stops with a message saying what to do
    (rather than serve from a broken store), and the next start moves the file aside."""
    author = Identity.generate()
    now = int(time.time())
    # More than SQLite's page cache, so that reading every post goes to the damaged file.
    raws = [encode_message(create_post(author, "wijk-noord", f"{i:05d} " + "x" * 900, now))
            for i in range(6_000)]
    with LocalNet.line(tmp_path, ["A"], fault_config(author_posts_per_hour=10_000)) as net:
        [a] = net.nodes
        a.setup()
        prefill(a, raws)
        a.start()
        a.wait_ready()
        store = a.data_dir / "messages.db"
        page = _page_size(store)
        with store.open("r+b") as f:
            for n in range(2, store.stat().st_size // page, 3):
                f.seek(n * page)
                f.write(bytes(12))
        with pytest.raises((api.ApiError, OSError, ValueError, DaemonNotRunning)):
            a.request(api.Channels())  # reads every post
        assert a.process is not None and a.process.wait(30) == 2
        stderr = (a.data_dir / "stderr.log").read_text()
        assert "storage failed" in stderr and "start the daemon again" in stderr
        assert str(store) in stderr
        [failed] = log_events(a, "storage_failed")
        assert failed["level"] == "critical"

        a.start()
        a.wait_ready()
        [moved] = log_events(a, "store_quarantined")
        assert Path(moved["moved_to"]).exists()
        assert a.request(api.Status())["store"]["messages"] == 0
