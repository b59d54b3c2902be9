"""One daemon per data directory: an exclusive `flock` on ``<data dir>/daemon.lock``.

The kernel drops the lock when the process ends, however it ends (SIGKILL, power loss), so a
stale lock file never blocks a restart. The file holds the owner's pid for the error message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["LOCK_FILE", "AlreadyRunning", "DataDirLock"]

LOCK_FILE = "daemon.lock"


class AlreadyRunning(Exception):
    """Another process holds the data directory's lock."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        who = f"(pid {pid}) " if pid else ""
        stop = f"`kill {pid}`" if pid else "stop it"
        super().__init__(
            f"another meshnode daemon {who}is already running on {data_dir}: {stop} first, "
            "or give this one its own data directory (--data-dir)")
        self.pid = pid


class DataDirLock:
    """Hold with `acquire()`/`release()` or as a context manager."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise AlreadyRunning(self.data_dir, int(text) if text.isdigit() else None) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
