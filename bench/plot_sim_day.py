"""Plot a day's cost per simulated hour from `bench_sim_day.py`'s per-hour lines.

Reads the JSON lines `bench_sim_day.py` prints to stderr (one per simulated hour; a run stopped
by a `timeout` still has them) and draws CPU seconds per hour and CPU microseconds per event,
with the messages stored per node on a second axis, into one PNG.

    python bench/plot_sim_day.py day.err --out sim_day.png
"""

from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lines", help="the per-hour JSON lines (bench_sim_day.py's stderr)")
    parser.add_argument("--out", default="sim_day.png")
    parser.add_argument("--title", default="1,000 nodes, default scenario, from 08:00")
    args = parser.parse_args()
    with open(args.lines) as f:
        hours = [json.loads(line) for line in f if line.startswith("{")]
    x = [h["hour"] for h in hours]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    top.plot(x, [h["cpu_s"] for h in hours], "o-", label="CPU s per simulated hour")
    top.plot(x, [h["events"] / 1e4 for h in hours], "s--", label="events per hour (×10,000)")
    top.set_ylabel("CPU seconds / events ×10⁴")
    top.set_ylim(bottom=0)
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    top.set_title(args.title)
    bottom.plot(x, [h["cpu_s"] / h["events"] * 1e6 for h in hours], "o-", color="C2",
                label="CPU µs per event")
    bottom.set_ylabel("CPU µs per event")
    bottom.set_ylim(bottom=0)
    bottom.set_xlabel("simulated hour (0 = 08:00)")
    bottom.grid(alpha=0.3)
    stored = bottom.twinx()
    stored.plot(x, [h["stored_per_node"] for h in hours], "^:", color="C3",
                label="messages stored per node")
    stored.set_ylabel("messages stored per node")
    stored.set_ylim(bottom=0)
    lines = bottom.get_lines() + stored.get_lines()
    bottom.legend(lines, [line.get_label() for line in lines], loc="upper left")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
