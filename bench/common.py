"""Shared benchmark helpers: timing loops and a machine line for every report."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable


def machine() -> str:
    return (f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def rate(fn: Callable[[], object], *, min_seconds: float = 1.0) -> tuple[float, int]:
    """Calls per second of `fn`, best of three runs of at least `min_seconds` each."""
    best = 0.0
    total = 0
    for _ in range(3):
        n, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < min_seconds:
            for _ in range(50):
                fn()
            n += 50
        total += n
        best = max(best, n / elapsed)
    return best, total


def header(title: str) -> None:
    print(f"# {title}")
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"machine: {machine()}")
