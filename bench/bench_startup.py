"""How much a `meshnode` command costs to start: CPU (user + system) and wall time per run.

Each command runs `--runs` times in a fresh process (`meshnode status` against a real daemon
started here on loopback); the report gives the range over the runs, the CPU time beside the
wall time, and the load average, since the machine is shared.

    python bench/bench_startup.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import header
from meshnode.daemon.config import DaemonConfig
from meshnode.daemon.localnet import LocalNet


def measure(command: list[str], runs: int) -> tuple[list[float], list[float]]:
    """(CPU seconds, wall seconds) of each run of `command`."""
    cpu, wall = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return cpu, wall


def span(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    header("command start-up cost")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp, LocalNet.line(Path(tmp), ["A"],
                                                             DaemonConfig()) as net:
        net.start()
        home = str(net["A"].data_dir)
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "meshnode --version": [sys.executable, "-m", "cli.main", "--version"],
            "meshnode status": [sys.executable, "-m", "cli.main", "--data-dir", home, "status"],
            "meshnode --help": [sys.executable, "-m", "cli.main", "--help"],
        }
        print(f"\n| command | CPU s (min–max of {args.runs}) | wall s (min–max) |")
        print("|---|---:|---:|")
        for name, command in cases.items():
            cpu, wall = measure(command, args.runs)
            print(f"| `{name}` | {span(cpu)} | {span(wall)} |")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
