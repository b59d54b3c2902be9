"""Node-to-node sync cost against the difference d between two stores of n messages.

    python bench/bench_sync.py [--n 10000]

Two real `Node`s with in-memory stores sync over an in-process link (meshnode.testing); control
bytes are everything except the `Msg` frames that carry the d missing messages themselves.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import header

from meshnode import wire
from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post
from meshnode.testing import Mesh

NOW = 1_790_000_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    n = args.n
    authors = [Identity.generate() for _ in range(1_000)]
    posts = [wire.encode_message(create_post(authors[i % 1_000], "wijk", f"post {i}",
                                             NOW - 3_000 + i % 3_000))
             for i in range(n + 1_000)]
    header(f"node sync cost, n = {n:,} messages per side")
    print("| d | control bytes | frames (hello/recon/want/done) | Msg frames | "
          "control / (d × 16) | wall ms |")
    print("|---:|---:|---:|---:|---:|---:|")
    for d in (0, 10, 100, 1_000):
        mesh = Mesh()
        for name, extra in (("A", posts[n : n + d // 2]), ("B", posts[n + d // 2 : n + d])):
            node = mesh.add(name, NOW)
            for data in [*posts[:n], *extra]:
                node.inject(data, NOW)
        start = time.perf_counter()
        mesh.connect("A", "B", NOW)
        wall = (time.perf_counter() - start) * 1000
        control = sum(v for k, v in mesh.frame_bytes.items() if k != "Msg")
        frames = sum(v for k, v in mesh.frame_count.items() if k != "Msg")
        ratio = f"{control / (d * 16):.1f}" if d else "–"
        print(f"| {d:,} | {control:,} | {frames} | {mesh.frame_count['Msg']:,} | {ratio} | "
              f"{wall:,.0f} |")


if __name__ == "__main__":
    main()
