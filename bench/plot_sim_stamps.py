"""Plot DM delivery under a Sybil flood per condition from `bench_sim_stamps.py`'s runs.

Reads the JSON lines `bench_sim_stamps.py --jsonl FILE` appends (one per run: condition, seed,
DMs created and delivered), and optionally results files of `meshnode sim run ... --json`
given as `--cli GROUP CONDITION FILE` (e.g. runs of an older tree, GROUP "before"). Draws two
panels into one PNG: the DM delivery ratio per condition (each seed a marker, the mean with its
95 % Student t interval), and the DM delivery loss against the same group's `none` run of the
same seed (paired; percentage points, mean with its 95 % t interval).

    python bench/plot_sim_stamps.py runs.jsonl --out docs/figures/sim_stamps_dm_loss.png
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sim.stats import estimate

Run = dict[str, object]
MARKERS = "osD^v<>"


def read_runs(jsonl: list[str], cli: list[list[str]], group: str) -> list[Run]:
    """Every run as {group, condition, seed, created, delivered}; `group` labels the JSONL's."""
    runs: list[Run] = []
    for path in jsonl:
        with open(path) as f:
            for line in f:
                if line.strip():
                    runs.append({"group": group, **json.loads(line)})
    for run_group, condition, path in cli:
        with open(path) as f:
            result = json.load(f)
        dms = result["dms"]
        runs.append({"group": run_group, "condition": condition, "seed": result["seed"],
                     "created": dms["created"], "delivered": dms["delivered"]})
    return runs


def _ratio(run: Run) -> float:
    return float(run["delivered"]) / float(run["created"])  # type: ignore[arg-type]


def _seeds(n: int) -> str:
    return "1 seed, no interval" if n == 1 else f"{n} seeds"


def _interval(values: list[float]) -> tuple[float, float]:
    e = estimate(values)
    return (e.mean or 0.0), (e.ci95 or 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jsonl", nargs="*", help="bench_sim_stamps.py --jsonl files")
    parser.add_argument("--group", default="after", help="label of the JSONL files' runs")
    parser.add_argument("--cli", nargs=3, action="append", default=[],
                        metavar=("GROUP", "CONDITION", "FILE"),
                        help="a `meshnode sim run --json` results file")
    parser.add_argument("--out", default="sim_stamps_dm_loss.png")
    parser.add_argument("--title", default="small, 3 h, Sybil flood",
                        help="the figure's title: the scenario and its settings")
    args = parser.parse_args()
    by: dict[tuple[str, str], dict[int, Run]] = defaultdict(dict)
    for run in read_runs(args.jsonl, args.cli, args.group):
        by[(str(run["group"]), str(run["condition"]))][int(run["seed"])] = run  # type: ignore[call-overload]
    keys = list(by)
    labels = [f"{g}:\n{c}\n({_seeds(len(by[(g, c)]))})" for g, c in keys]
    seeds = sorted({s for runs in by.values() for s in runs})
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8))
    for i, seed in enumerate(seeds):
        xs = [k for k, key in enumerate(keys) if seed in by[key]]
        left.plot([x - 0.15 for x in xs], [_ratio(by[keys[x]][seed]) for x in xs],
                  MARKERS[i % len(MARKERS)], color=f"C{i + 1}", alpha=0.8, linestyle="none",
                  label=f"seed {seed}")
    means = [_interval([_ratio(r) for r in by[key].values()]) for key in keys]
    left.errorbar([x + 0.15 for x in range(len(keys))], [m for m, _ in means],
                  yerr=[h for _, h in means], fmt="_", color="black", markersize=14,
                  capsize=5, label="mean, 95 % t interval")
    left.set_xticks(range(len(keys)), labels, fontsize=8)
    left.set_ylabel("DMs delivered / DMs created")
    left.set_ylim(bottom=0, top=max(m + h for m, h in means) * 1.35)
    left.legend(loc="upper center", ncol=2, fontsize=8)
    left.grid(axis="y", alpha=0.3)
    left.set_title("DM delivery ratio per condition", fontsize=10)
    attacked = [key for key in keys if key[1] != "none" and (key[0], "none") in by]
    losses, paired = [], []
    for group, condition in attacked:
        base = by[(group, "none")]
        runs = by[(group, condition)]
        seeds_both = [s for s in sorted(runs) if s in base]
        paired.append(len(seeds_both))
        losses.append(_interval([100 * (_ratio(base[s]) - _ratio(runs[s]))
                                 for s in seeds_both]))
    xs = list(range(len(attacked)))
    right.bar(xs, [m for m, _ in losses], yerr=[h for _, h in losses], capsize=6,
              color=["C3" if c == "sybil" else "C0" for _, c in attacked], alpha=0.8)
    for x, (m, h) in zip(xs, losses, strict=True):
        right.annotate(f"{m:+.1f} ± {h:.1f}" if h else f"{m:+.1f}", (x, m + h if m >= 0 else m - h),
                       textcoords="offset points", xytext=(0, 4 if m >= 0 else -12),
                       ha="center", fontsize=8)
    right.axhline(0, color="black", linewidth=0.8)
    right.set_xticks(xs, [f"{g}:\n{c}\n({_seeds(n)})" for (g, c), n in zip(attacked, paired,
                                                                            strict=True)],
                     fontsize=8)
    right.set_ylabel("DM delivery loss vs none [percentage points]")
    top = max(abs(m) + h for m, h in losses) * 1.4 if losses else 1.0
    right.set_ylim(-top, top)
    right.grid(axis="y", alpha=0.3)
    right.set_title("loss vs the same group's none, paired by seed (positive: fewer DMs)",
                    fontsize=10)
    fig.suptitle(args.title, fontsize=11)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
