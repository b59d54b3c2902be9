"""Alert coverage per configuration, against the oracle and the realistic bound (issue 22).

Reads the `sweep.json` of one or more `meshnode sim sweep` runs, groups every run by its swept
point, and prints, per point, the mean and 95 % Student-t interval over seeds of: coverage at
10, 30 and 60 minutes after issue (measured, oracle, realistic bound), coverage / oracle and
/ realistic bound at 30 minutes (per seed, then averaged), time to 90 % (measured, oracle,
realistic) and the battery cost of urgency; then what each point costs (links made, refused
for want of a slot and given up by the slot rule, energy per phone, bytes on air). With
`--plot FILE` it also draws, per seed, coverage 30 minutes after issue with its bounds, and
its ratio to the oracle with the mean and interval.

    python bench/plot_alert_levers.py OUT/hub/sweep.json OUT/urgent/sweep.json \
        --plot docs/figures/alert-levers.png

A file given as LABEL=PATH has its runs grouped under LABEL (before=..., after=...: two sweeps
of the same points from different code). With two or more groups, each later group is also
compared with the first seed by seed (the same contacts, the same oracle): the mean and 95 %
interval of the paired differences.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sim.stats import Estimate, estimate

MARKS = ("10min", "30min", "60min")


def _label(point: dict[str, Any], fixed: set[str]) -> str:
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in point.items() if k not in fixed)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def fmt(e: Estimate, scale: float = 1.0, digits: int = 2) -> str:
    if e.mean is None:
        return "n/a"
    half = "" if e.ci95 is None else f" ± {e.ci95 * scale:.{digits}f}"
    return f"{e.mean * scale:.{digits}f}{half}"


def load(paths: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Run summaries per point label (keys held at one value in every file are left out),
    prefixed by the file's LABEL if it was given as LABEL=PATH."""
    tagged = [(p.split("=", 1) if "=" in p else ["", p]) for p in paths]
    runs = [(tag, run) for tag, path in tagged
            for run in json.loads(Path(path).read_text())["runs"]]
    keys = {k for _, run in runs for k in run["point"]}
    fixed = {k for k in keys if len({json.dumps(r["point"].get(k)) for _, r in runs}) == 1}
    groups: dict[str, list[dict[str, Any]]] = {}
    for tag, run in runs:
        label = ", ".join(x for x in (tag, _label(run["point"], fixed)) if x)
        groups.setdefault(label or "all", []).append(run["summary"])
    return groups


PAIRED = {
    "coverage 30 min": lambda a: a["coverage"]["30min"]["coverage"],
    "coverage 30 min ÷ oracle": lambda a: a["coverage"]["30min"]["ratio"],
    "coverage 60 min ÷ oracle": lambda a: a["coverage"]["60min"]["ratio"],
    "time to 90 %, s": lambda a: a["time_to_90"],
    "time to 90 % ÷ oracle's": lambda a: _ratio(a["time_to_90"], a["oracle_time_to_90"]),
}


def paired(groups: dict[str, list[dict[str, Any]]]) -> str:
    """Each later group minus the first, seed by seed: mean ± 95 % interval, and per seed."""
    labels = list(groups)
    first = {s["seed"]: s["alerts"][0] for s in groups[labels[0]]}
    lines = []
    for label in labels[1:]:
        other = {s["seed"]: s["alerts"][0] for s in groups[label]}
        seeds = sorted(set(first) & set(other))
        for name, get in PAIRED.items():
            diffs = [None if get(other[k]) is None or get(first[k]) is None
                     else get(other[k]) - get(first[k]) for k in seeds]
            each = ", ".join("n/a" if d is None else f"{d:+.3f}" for d in diffs)
            lines.append(f"{label} − {labels[0]}: {name}: "
                         f"{fmt(estimate(diffs), digits=3)} (seeds {seeds}: {each})")
    return "\n".join(lines)


def figures(summaries: list[dict[str, Any]]) -> dict[str, Estimate]:
    """The estimates over seeds of one point's runs."""
    alerts = [s["alerts"][0] for s in summaries]
    out: dict[str, Estimate] = {}
    for mark in MARKS:
        for kind in ("coverage", "oracle", "realistic"):
            out[f"{kind}_{mark}"] = estimate([a["coverage"][mark][kind] for a in alerts])
        out[f"ratio_{mark}"] = estimate([a["coverage"][mark]["ratio"] for a in alerts])
        out[f"ratio_realistic_{mark}"] = estimate(
            [a["coverage"][mark]["ratio_realistic"] for a in alerts])
    for key in ("time_to_90", "oracle_time_to_90", "realistic_time_to_90"):
        out[key] = estimate([a[key] for a in alerts])
    out["t90_ratio"] = estimate([_ratio(a["time_to_90"], a["oracle_time_to_90"])
                                 for a in alerts])
    out["urgent_wh"] = estimate([s["energy"]["urgent_wh_mean"] for s in summaries])
    out["urgent_share"] = estimate([s["energy"]["urgent_battery_share"] for s in summaries])
    out["urgent_phones"] = estimate([s["energy"]["urgent_phones"] for s in summaries])
    return out


def table(groups: dict[str, list[dict[str, Any]]]) -> str:
    """A Markdown table, one row per point."""
    head = ("| configuration | seeds | 30 min: measured | oracle | realistic | ÷ oracle "
            "| ÷ realistic | to 90 %, s | oracle, s | realistic, s | t90 ÷ oracle "
            "| urgent Wh/phone (% battery) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for label, summaries in groups.items():
        f = figures(summaries)
        lines.append(
            f"| {label} | {len(summaries)} | {fmt(f['coverage_30min'])} "
            f"| {fmt(f['oracle_30min'])} | {fmt(f['realistic_30min'])} "
            f"| {fmt(f['ratio_30min'])} | {fmt(f['ratio_realistic_30min'])} "
            f"| {fmt(f['time_to_90'], digits=0)} | {fmt(f['oracle_time_to_90'], digits=0)} "
            f"| {fmt(f['realistic_time_to_90'], digits=0)} | {fmt(f['t90_ratio'])} "
            f"| {fmt(f['urgent_wh'], digits=3)} ({fmt(f['urgent_share'], 100, 1)} %) |")
    return "\n".join(lines)


COSTS = {
    "links made": lambda s: s["links"]["made"],
    "refused for a slot": lambda s: s["links"]["refused_no_slot"],
    "given up for a newcomer": lambda s: s["links"].get("evicted", 0),
    "Wh per phone": lambda s: s["energy"]["mean_wh_per_phone"],
    "MB on air": lambda s: s["overhead"]["bytes_on_air"] / 1e6,
}


def costs(groups: dict[str, list[dict[str, Any]]]) -> str:
    """A Markdown table of what each point costs, mean ± 95 % interval over seeds."""
    head = "| configuration | " + " | ".join(COSTS) + " |"
    lines = [head, "|" + "---|" * (len(COSTS) + 1)]
    for label, summaries in groups.items():
        cells = []
        for name, get in COSTS.items():
            digits = 4 if name == "Wh per phone" else 1 if name == "MB on air" else 0
            cells.append(fmt(estimate([get(s) for s in summaries]), digits=digits))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(groups: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Per seed (one line each, the same seed across configurations), coverage 30 minutes
    after issue with its own oracle and realistic bound, and its ratio to the oracle with
    the mean and 95 % interval over seeds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(groups)
    xs = list(range(len(labels)))
    alerts = [[s["alerts"][0]["coverage"]["30min"] for s in groups[label]] for label in labels]
    seeds = min(len(a) for a in alerts)
    fig, (cover, ratio) = plt.subplots(1, 2, figsize=(12, 5))
    for k in range(seeds):
        colour = f"C{k}"
        cover.plot(xs, [a[k]["coverage"] for a in alerts], "o-", color=colour,
                   label=f"seed {groups[labels[0]][k]['seed']}: measured")
        cover.plot(xs, [a[k]["oracle"] for a in alerts], "_", color=colour, markersize=22,
                   markeredgewidth=2)
        cover.plot(xs, [a[k]["realistic"] for a in alerts], "x", color=colour, markersize=7)
        ratio.plot(xs, [a[k]["ratio"] for a in alerts], "o-", color=colour, alpha=0.6)
    stats = [estimate([a["ratio"] for a in point]) for point in alerts]
    ratio.errorbar(xs, [e.mean for e in stats], yerr=[e.ci95 or 0.0 for e in stats], fmt="ks",
                   capsize=6, markersize=8, label="mean ± 95 % CI over seeds")
    ratio.axhline(0.95, color="grey", linestyle="--", label="goal: 0.95 × oracle")
    ticks = [label.replace(", ", "\n") for label in labels]
    cover.set_title("coverage 30 min after issue (bar: oracle, x: realistic bound)",
                    fontsize=10)
    cover.set_ylabel("share of residents holding the alert")
    ratio.set_title("coverage 30 min after issue ÷ oracle, per seed", fontsize=10)
    ratio.set_ylabel("measured ÷ oracle")
    for ax in (cover, ratio):
        ax.set_xticks(xs, ticks, fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="lower right", fontsize=7)
    fig.suptitle("neighbourhood (2,520 nodes), alert at 10 min from hub 0")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", help="sweep.json files, each PATH or LABEL=PATH")
    parser.add_argument("--plot", type=Path, help="write a PNG here")
    args = parser.parse_args()
    groups = load(args.sweeps)
    print(table(groups))
    print(costs(groups))
    if len(groups) > 1:
        print(paired(groups))
    if args.plot:
        plot(groups, args.plot)


if __name__ == "__main__":
    main()
