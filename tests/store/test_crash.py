"""A SIGKILLed writer never loses a write that SqliteStore reported as done."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from meshnode.store import SqliteStore

WRITER = Path(__file__).with_name("crash_writer.py")
ROUNDS = 5


def _run_and_kill(db: Path, log: Path, seed: int, delay: float, *mode: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(db), str(seed), *mode], stdout=out, env=env
        )
        try:
            deadline = time.monotonic() + 30
            while log.stat().st_size == 0:  # wait until writes are under way
                assert proc.poll() is None, f"writer exited early with {proc.returncode}"
                assert time.monotonic() < deadline, "writer never reported a write"
                time.sleep(0.005)
            time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _reported(log: Path) -> tuple[set[bytes], int]:
    ids: set[bytes] = set()
    meta = 0
    # A line cut by the kill has no newline and reports nothing.
    for line in log.read_text().splitlines(keepends=True):
        if not line.endswith("\n"):
            continue
        what, value = line.split()
        if what == "batch":
            continue
        if what == "put":
            ids.add(bytes.fromhex(value))
        else:
            meta = max(meta, int(value))
    return ids, meta


def _seeded() -> tuple[int, random.Random]:
    """A fresh seed (quoted by failures) and a generator drawn from it."""
    seed = random.randrange(2**32)
    return seed, random.Random(seed)


def test_sigkill_never_loses_an_accepted_write(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    seed, rng = _seeded()
    accepted: set[bytes] = set()
    for round_ in range(ROUNDS):
        log = tmp_path / f"round{round_}.log"
        _run_and_kill(db, log, seed + round_, rng.uniform(0.0, 0.4))
        ids, meta = _reported(log)
        assert ids, "the writer was killed before reporting anything"
        accepted |= ids

        store = SqliteStore(db, 1 << 30)
        try:
            missing = [i.hex() for i in accepted if not store.has(i)]
            assert missing == [], f"seed {seed}: lost {len(missing)} accepted ids"
            counter = int.from_bytes(store.get_meta("counter") or b"\x00", "big")
            assert counter >= meta, f"seed {seed}: meta counter went back"
            assert store.integrity_check() == []
        finally:
            store.close()
        raw = sqlite3.connect(db)
        try:
            assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        finally:
            raw.close()


def _batches(log: Path) -> list[set[bytes]]:
    """The batches the writer was about to commit (whole lines only)."""
    return [{bytes.fromhex(h) for h in line.split()[1].split(",")}
            for line in log.read_text().splitlines(keepends=True)
            if line.endswith("\n") and line.startswith("batch ")]


def test_sigkill_during_group_commits_keeps_each_batch_whole_and_every_commit(
        tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    seed, rng = _seeded()
    accepted: set[bytes] = set()
    for round_ in range(ROUNDS):
        log = tmp_path / f"round{round_}.log"
        _run_and_kill(db, log, seed + round_, rng.uniform(0.0, 0.4), "batch")
        ids, _ = _reported(log)
        accepted |= ids
        store = SqliteStore(db, 1 << 30)
        try:
            held = {i for _, i in store.ids_since(0)}
            assert accepted <= held, f"seed {seed}: lost {len(accepted - held)} committed ids"
            torn = [b for b in _batches(log) if b & held and not b <= held]
            assert torn == [], f"seed {seed}: {len(torn)} batch(es) kept in part"
            assert store.integrity_check() == []
        finally:
            store.close()
    assert accepted, "no round reported a commit"
