"""The daemon's DM inbox and outbox: durable, ordered, bounded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from meshnode.daemon.inbox import Inbox, ReceivedDm, SentDm


def dm(n: int, received: int) -> ReceivedDm:
    return ReceivedDm(n.to_bytes(16, "big"), b"s" * 32, b"d" * 32, f"text {n}", received - 5,
                      received)


def test_received_dms_survive_reopening_in_order(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox.db")
    assert inbox.add_received(dm(2, 200)) and inbox.add_received(dm(1, 100))
    assert not inbox.add_received(dm(1, 100))
    inbox.close()
    inbox = Inbox(tmp_path / "inbox.db")
    assert [m.text for m in inbox.received()] == ["text 1", "text 2"]
    assert [m.text for m in inbox.received(since=150)] == ["text 2"]
    assert [m.text for m in inbox.received(limit=1)] == ["text 2"]
    assert inbox.counts() == (2, 0)


def test_only_the_newest_are_kept(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox.db", max_messages=3)
    for n in range(10):
        inbox.add_received(dm(n, 100 + n))
        inbox.add_sent(SentDm(n.to_bytes(16, "big"), b"r" * 32, b"d" * 32, f"sent {n}", 100 + n))
    assert [m.text for m in inbox.received()] == ["text 7", "text 8", "text 9"]
    assert [m.text for m in inbox.sent()] == ["sent 7", "sent 8", "sent 9"]


def test_sent_dms_track_handovers_and_the_receipt(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox.db")
    dm_id = bytes(16)
    inbox.add_sent(SentDm(dm_id, b"r" * 32, b"d" * 32, "hi", 100))
    inbox.carried(dm_id, 2)
    inbox.carried(dm_id, 1)  # a lower count never goes back
    assert inbox.delivered(dm_id, 150) and not inbox.delivered(dm_id, 160)
    assert not inbox.delivered(b"\x01" * 16, 150)
    assert inbox.sent() == [SentDm(dm_id, b"r" * 32, b"d" * 32, "hi", 100, 2, 150)]


def test_sealed_copies_of_undelivered_dms_and_own_posts_are_kept_for_restoring(
        tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox.db", max_messages=3)
    for n in range(3):
        inbox.add_sent(SentDm(bytes([n]) * 16, b"s" * 32, b"d" * 32, f"dm {n}", 100 + n),
                       f"sealed {n}".encode())
    inbox.delivered(bytes([1]) * 16, 200)
    for n in range(5):
        inbox.add_own_post(bytes([n]) * 16, f"post {n}".encode(), 100 + n)
    inbox.close()
    inbox = Inbox(tmp_path / "inbox.db", max_messages=3)
    assert inbox.to_restore() == ([b"sealed 0", b"sealed 2"],
                                  [b"post 2", b"post 3", b"post 4"])


def test_an_inbox_from_before_sealed_copies_opens_and_keeps_them_from_then_on(
        tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    db = sqlite3.connect(path)
    db.execute("""CREATE TABLE sent (
        id BLOB PRIMARY KEY, recipient_sign BLOB NOT NULL, recipient_dh BLOB NOT NULL,
        text TEXT NOT NULL, created INTEGER NOT NULL, handovers INTEGER NOT NULL DEFAULT 0,
        delivered INTEGER)""")
    db.execute("INSERT INTO sent (id, recipient_sign, recipient_dh, text, created) "
               "VALUES (?, ?, ?, 'old', 1)", (b"o" * 16, b"s" * 32, b"d" * 32))
    db.commit()
    db.close()
    inbox = Inbox(path)
    inbox.add_sent(SentDm(b"n" * 16, b"s" * 32, b"d" * 32, "new", 2), b"sealed")
    assert [m.text for m in inbox.sent()] == ["old", "new"]
    assert inbox.to_restore() == ([b"sealed"], [])
