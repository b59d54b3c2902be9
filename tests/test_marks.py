"""Read marks (forward only, per channel, bounded) and sync times, kept across reopening."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshnode.daemon import marks
from meshnode.daemon.marks import Marks, Sync
from tests.crypto.chain import NOW


def test_read_marks_only_move_forward_and_survive_reopening(tmp_path: Path) -> None:
    book = Marks(tmp_path / "marks.db")
    assert book.read_upto() == {}
    assert book.mark_read("wijk-noord", NOW) == NOW
    assert book.mark_read("wijk-noord", NOW - 10) is None  # another app, behind: no effect
    assert book.mark_read("wijk-noord", NOW) is None
    assert book.mark_read("markt", NOW + 5) == NOW + 5
    book.close()
    assert Marks(tmp_path / "marks.db").read_upto() == {"wijk-noord": NOW, "markt": NOW + 5}


def test_sync_times_per_link_and_overall(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(marks, "MAX_LINKS", 2)
    book = Marks(tmp_path / "marks.db")
    assert book.last_sync() is None and book.syncs() == {}
    book.synced(Sync("udp:a", NOW, 3, 4))
    book.synced(Sync("udp:a", NOW + 10, 0, 1))
    book.synced(Sync("ble:central:1", NOW + 5, 1, 0))
    assert book.syncs() == {"udp:a": Sync("udp:a", NOW + 10, 0, 1),
                            "ble:central:1": Sync("ble:central:1", NOW + 5, 1, 0)}
    book.synced(Sync("udp:b", NOW + 20, 0, 0))
    assert set(book.syncs()) == {"udp:a", "udp:b"}  # bounded: the least recent went
    book.close()
    assert Marks(tmp_path / "marks.db").last_sync() == NOW + 20


def test_read_marks_are_bounded(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(marks, "MAX_CHANNELS", 3)
    book = Marks(tmp_path / "marks.db")
    for i in range(6):
        book.mark_read(f"ch{i}", NOW + i)
    assert book.read_upto() == {f"ch{i}": NOW + i for i in (3, 4, 5)}
