"""The hub's receive path, this tree against another commit, alternating in one sitting.

    python bench/bench_hub_receive.py [--base main] [--runs 3] [--messages 5000]
                                      [--only receive,sync,latency] [--alerts 20]

Runs `bench/bench_daemon.py --only receive` (one daemon taking replayed frames: the figure is
the hub's alone) and, with `sync` in `--only`, its two-daemon sync, with `latency` its alert
across a line of 5 daemons (`--alerts`, 20: the median ms per hop, end to end and daemon to
daemon), once for the base commit
(extracted with `git archive` into a temporary directory) and once for this tree, `--runs`
times in alternation, so that both meet the same load. Both trees are driven by this tree's
bench_daemon.py (its daemons run in the tree under test and import its code), so that both
are timed alike. Each run's daemons are real processes
with their store in a real SQLite file (WAL, synchronous=FULL) in a temporary directory.

The primary figure is the hub's CPU seconds per 1,000 received messages (user + system time
of the daemon process from the link coming up until it holds them all, read from /proc),
beside the wall time and messages/s, each as a range over the runs, with the 1-minute load
average before and after every run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

HERE = Path(__file__).resolve().parent.parent
T = TypeVar("T")


@dataclass(frozen=True)
class Run:
    """One run of one part: what bench_daemon.py printed, parsed."""

    messages: int
    seconds: float
    cpu: float  # CPU seconds of the receiving daemon
    per_commit: str
    load: str
    threads: str = "-"  # the receiving hub's CPU s: core (trio) thread / its other threads
    core: str = "-"  # the receiver's core ms running batches / waiting for a COMMIT

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_per_1000(self) -> float:
        return 1000 * self.cpu / self.messages


def extract(ref: str, into: Path) -> str:
    """Write the tree of `ref` into `into`; its commit id."""
    commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", ref],
                            check=True, capture_output=True, text=True).stdout.strip()
    archive = subprocess.run(["git", "-C", str(HERE), "archive", "--format=tar", commit],
                             check=True, capture_output=True).stdout
    tar_path = into.with_suffix(".tar")
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into, filter="data")
    tar_path.unlink()
    return commit


def run_one(script: str, tree: Path, *args: str) -> dict[str, object]:
    """`script --one ARGS` in a fresh process importing `tree` (`PYTHONPATH`); the JSON object
    it printed last, with the load average beside it."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run([sys.executable, script, "--one", *args], env=env, check=True,
                          capture_output=True, text=True, timeout=600)
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    result["load"] = f"{os.getloadavg()[0]:.1f}"
    return result


def alternate(base: str | None, runs: int, run: Callable[[Path], T]) -> dict[str, list[T]]:
    """`run(tree)` for this tree ("this") and, with `base`, for that commit's tree ("base",
    written with `git archive` into a temporary directory), in turn, `runs` times each: the
    order flips every round, so that both meet the same load. Each result is printed to
    stderr as it comes."""
    with tempfile.TemporaryDirectory(prefix="meshnode-alternate-") as tmp:
        trees = {"this": HERE}
        if base:
            trees["base"] = Path(tmp) / "base"
            extract(base, trees["base"])
        results: dict[str, list[T]] = {name: [] for name in trees}
        order = list(trees)
        for i in range(runs):
            for name in order if i % 2 == 0 else order[::-1]:
                result = run(trees[name])
                results[name].append(result)
                print(f"  {name} run {i + 1}: {result}", file=sys.stderr)
    return results


def tree_options(doc: str, messages: int) -> argparse.ArgumentParser:
    """The options of a bench whose runs each import one tree in a fresh process (`compare`):
    `--base`, `--runs`, `--messages` (default `messages`) and the hidden `--one`, the run
    itself in this process."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--base", help="the commit to compare against (default: none)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=messages)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    return parser


def compare(script: str, base: str | None, runs: int, *given: str,
            ) -> dict[str, list[dict[str, object]]]:
    """The load at the start, then `script --one GIVEN` (`run_one`) on this tree and, with
    `base`, on that commit's, in turn (`alternate`)."""
    print(f"load average at start (1, 5, 15 min): "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}, {os.cpu_count()} cores")
    return alternate(base, runs, lambda tree: run_one(script, tree, *given))


def compare_trees(script: str, doc: str, messages: int,
                  one: Callable[[int], dict[str, object]],
                  ) -> tuple[argparse.Namespace, dict[str, list[dict[str, object]]]] | None:
    """The whole of a bench that takes only `tree_options`: with `--one`, print the run
    `one(messages)` as JSON and give None; else `compare` the trees and give the options and
    the runs."""
    args = tree_options(doc, messages).parse_args()
    if args.one:
        print(json.dumps(one(args.messages)))
        return None
    return args, compare(script, args.base, args.runs, "--messages", str(args.messages))


def tree_table(base: str | None, runs: dict[str, list[dict[str, object]]],
               columns: list[tuple[str, str, int | None]]) -> None:
    """A markdown table of `compare`'s runs, a row per tree: per column (heading, key,
    digits), the range of that figure over the runs, or with digits None each run's value."""
    print()
    print("| tree | " + " | ".join(heading for heading, _, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, rs in runs.items():
        cells = [span([float(str(r[key])) for r in rs], digits) if digits is not None
                 else ", ".join(str(r[key]) for r in rs) for _, key, digits in columns]
        print(f"| {base if name == 'base' else 'this tree'} | " + " | ".join(cells) + " |")


def row_after(output: str, title: str) -> list[str]:
    """The first table row under the heading that starts with `title`."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    row = next(line for line in lines[start:] if line.startswith("| ") and line[2].isdigit())
    return [cell.strip() for cell in row.strip("|").split("|")]


def number(cell: str) -> float:
    return float(cell.replace(",", ""))


@dataclass(frozen=True)
class Hops:
    """One run of the alert latency part: medians in ms per hop."""

    end_to_end: float  # from the API request at the first daemon to the event at the last
    daemon_to_daemon: float  # from one daemon's alert_received to the next one's
    first_to_last: float  # from the first daemon's event to the last one's, over the hops
    cpu: float  # CPU seconds of all daemons
    load: str


def run_once(tree: Path, part: str, messages: int, alerts: int) -> Run | Hops:
    """This tree's bench_daemon.py with `tree`'s daemons: they run in `tree` and import its
    code (the bench's own process, which only drives them over their API and the replaying
    sender, is the same for both trees, so that both are timed alike)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run(
        [sys.executable, str(HERE / "bench" / "bench_daemon.py"), "--only", part,
         "--messages", str(messages), "--alerts", str(alerts)],
        cwd=tree, env=env, check=True, capture_output=True, text=True, timeout=900)
    # The columns of bench_daemon.py's tables, as printed since its core/other-threads and
    # checked-ahead columns were added.
    if part == "receive":
        cells = row_after(done.stdout, "## Receiving side")
        return Run(int(number(cells[0])), number(cells[1]), number(cells[3]), cells[7],
                   cells[9], cells[6], cells[10] if len(cells) > 10 else "-")
    if part == "latency":
        cells = row_after(done.stdout, "## Alert latency")
        return Hops(number(cells[4]), number(cells[5]), number(cells[6]), number(cells[7]),
                    cells[8])
    cells = row_after(done.stdout, "## Sync")
    return Run(int(number(cells[0])), number(cells[1]), number(cells[8]), cells[9], cells[11],
               core=cells[12] if len(cells) > 12 else "-")


def span(values: list[float], digits: int) -> str:
    return f"{min(values):,.{digits}f}–{max(values):,.{digits}f}"


def report_latency(labels: dict[str, str], runs: dict[str, list[Hops]]) -> None:
    print(f"### latency: ranges over {len(next(iter(runs.values())))} alternating runs")
    print()
    print("| tree | per hop, end to end: median ms | daemon to daemon: median ms "
          "| first to last event, per hop: median ms | CPU s, all daemons "
          "| load before/after |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, label in labels.items():
        rs = runs[name]
        print(f"| {label} | {span([r.end_to_end for r in rs], 1)} "
              f"| {span([r.daemon_to_daemon for r in rs], 1)} "
              f"| {span([r.first_to_last for r in rs], 1)} | {span([r.cpu for r in rs], 2)} "
              f"| {', '.join(r.load for r in rs)} |")
    print()


def report(part: str, labels: dict[str, str], runs: dict[str, list[Run]]) -> None:
    who = "hub" if part == "receive" else "receiver B"
    print(f"### {part}: ranges over {len(next(iter(runs.values())))} alternating runs")
    print()
    print(f"| tree | {who} CPU s per 1,000 messages | wall s | messages/s | inputs per commit "
          "| hub CPU s: core thread/others | load before/after "
          "| core ms: running/waiting for COMMIT |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, label in labels.items():
        rs = runs[name]
        print(f"| {label} | {span([r.cpu_per_1000 for r in rs], 3)} | "
              f"{span([r.seconds for r in rs], 2)} | {span([r.rate for r in rs], 0)} | "
              f"{', '.join(r.per_commit for r in rs)} | {', '.join(r.threads for r in rs)} | "
              f"{', '.join(r.load for r in rs)} | {', '.join(r.core for r in rs)} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="main", help="the commit to compare against")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--only", default="receive", help="receive,sync,latency")
    parser.add_argument("--alerts", type=int, default=20, help="alerts of the latency part")
    args = parser.parse_args()
    head = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
                          check=True, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(HERE), "status", "--porcelain", "--", "meshnode"],
                           check=True, capture_output=True, text=True).stdout.strip()
    print(f"load average at start (1, 5, 15 min): "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="meshnode-hub-bench-") as tmp:
        base_tree = Path(tmp) / "base"
        base = extract(args.base, base_tree)
        trees = {"base": base_tree, "this": HERE}
        labels = {"base": f"{args.base} ({base})",
                  "this": f"this tree ({head}{', uncommitted changes' if dirty else ''})"}
        for part in args.only.split(","):
            runs: dict[str, list[Run | Hops]] = {"base": [], "this": []}
            for i in range(args.runs):
                for name in ("base", "this") if i % 2 == 0 else ("this", "base"):
                    run = run_once(trees[name], part, args.messages, args.alerts)
                    runs[name].append(run)
                    print(f"  {part} {name} run {i + 1}: {run}", file=sys.stderr)
            if part == "latency":
                report_latency(labels, {k: [r for r in v if isinstance(r, Hops)]
                                        for k, v in runs.items()})
            else:
                report(part, labels, {k: [r for r in v if isinstance(r, Run)]
                                      for k, v in runs.items()})


if __name__ == "__main__":
    main()
