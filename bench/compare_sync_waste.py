"""Compare runs of bench/bench_sync_waste.py (their `--json` files): before vs after.

Prints, per group of runs (say main's and this branch's, one file per seed): the wasted-Want
ratio (Wants refused / Wants sent), refused queue items per Msg frame, Msg frames, upgrades,
DM and post delivery, wall and CPU time, each as a range over the runs; then, per simulated
hour, the sync overhead per completed session (Hello + Recon + Want + Done bytes: what a
contact costs besides the messages it delivers) as a range over the runs, and its slope over
the day.

    python bench/compare_sync_waste.py before=/tmp/b-*.json after=/tmp/a-*.json
"""

from __future__ import annotations

import glob
import json
import sys
from pathlib import Path
from typing import Any

OVERHEAD = ("Hello", "Recon", "Want", "Done")


def _range(values: list[float], fmt: str = "{:,.0f}") -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}–{fmt.format(hi)}"


def overhead(row: dict[str, Any]) -> float:
    """Sync bytes per completed session, messages excluded."""
    spent = sum(row[f"{f}_bytes"] for f in OVERHEAD)
    return spent / row["sessions"] if row["sessions"] else 0.0


def summary(runs: list[dict[str, Any]]) -> dict[str, str]:
    total = [r["total"] for r in runs]
    dlv = [r["delivery"] for r in runs]
    return {
        "runs": str(len(runs)),
        "Wants sent": _range([t["wanted"] for t in total]),
        "Wants refused": _range([t["want_refused"] for t in total]),
        "wasted-Want ratio": _range([t["want_refused"] / t["wanted"] if t["wanted"] else 0.0
                                     for t in total], "{:.3f}"),
        "refused queue items": _range([t["unoffered"] for t in total]),
        "Msg frames": _range([t["msg_frames"] for t in total]),
        "refused items per Msg frame": _range([t["unoffered"] / t["msg_frames"]
                                               for t in total], "{:.3f}"),
        "routing upgrades": _range([t.get("upgraded", 0) for t in total]),
        "sync overhead, whole day, B/session": _range([
            sum(t.get(f, 0) for f in OVERHEAD) / t["sessions"] for t in total]),
        "DMs delivered / sent": _range([d["dm_delivery"] for d in dlv], "{:.3f}"),
        "post receptions per post": _range([d["receptions_per_post"] for d in dlv], "{:.1f}"),
        "bytes on air (MB)": _range([d["bytes_on_air"] / 1e6 for d in dlv], "{:.1f}"),
        "wall s": _range([r["wall"] for r in runs]),
        "CPU s": _range([r["cpu"] for r in runs]),
        "load (1 min)": _range([r["load"] for r in runs], "{:.1f}"),
    }


def main() -> None:
    groups: dict[str, list[dict[str, Any]]] = {}
    for arg in sys.argv[1:]:
        name, _, pattern = arg.partition("=")
        groups[name] = [json.loads(Path(p).read_text()) for p in sorted(glob.glob(pattern))]
    names = list(groups)
    sums = {n: summary(groups[n]) for n in names}
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key in sums[names[0]]:
        print(f"| {key} | " + " | ".join(sums[n][key] for n in names) + " |")
    hours = min(len(r["rows"]) for runs in groups.values() for r in runs)
    print()
    print("| hour | " + " | ".join(f"{n}: overhead B/session" for n in names) + " | "
          + " | ".join(f"{n}: refused/wanted" for n in names) + " |")
    print("|---|" + "---|" * (2 * len(names)))
    for h in range(hours):
        cells = [_range([overhead(r["rows"][h]) for r in groups[n]]) for n in names]
        share = [_range([r["rows"][h]["refused_share"] for r in groups[n]], "{:.2f}")
                 for n in names]
        print(f"| {h + 1} | " + " | ".join(cells + share) + " |")
    print()
    for n in names:
        first = [overhead(r["rows"][h]) for r in groups[n] for h in range(0, hours // 4)]
        last = [overhead(r["rows"][h]) for r in groups[n] for h in range(3 * hours // 4, hours)]
        print(f"{n}: overhead per session, last quarter of the day / first quarter: "
              f"{sum(last) / len(last) / (sum(first) / len(first)):.1f}x")


if __name__ == "__main__":
    main()
