"""One daemon per data directory, and a crash never leaves the directory locked."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from meshnode.daemon.lockfile import AlreadyRunning, DataDirLock

HOLD = ("import sys, time; from pathlib import Path;"
        " from meshnode.daemon.lockfile import DataDirLock;"
        "DataDirLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(60)")


def test_another_process_holding_the_lock_is_named(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(AlreadyRunning) as info:
            DataDirLock(tmp_path).acquire()
        assert info.value.pid == holder.pid and f"kill {holder.pid}" in str(info.value)
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        with DataDirLock(tmp_path):  # the kernel released it with the process
            pass
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_is_released_and_can_be_taken_again(tmp_path: Path) -> None:
    lock = DataDirLock(tmp_path)
    lock.acquire()
    with pytest.raises(AlreadyRunning):
        DataDirLock(tmp_path).acquire()  # flock locks are per open file, even in one process
    lock.release()
    with DataDirLock(tmp_path):
        pass
