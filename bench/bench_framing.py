"""Link framing: bytes on the wire per frame size and MTU, and fragment/reassemble speed.

    python bench/bench_framing.py [--seconds S]

The overhead table is measured by fragmenting real frames (and checked against the
reassembler), not computed from the formula.
"""

from __future__ import annotations

import argparse
import random

from common import header, rate

from meshnode.transport.framing import Fragmenter, Reassembler

MTUS = {20: "BLE default ATT 23", 182: "iOS ATT 185", 244: "BlueZ ATT 247",
        514: "Android ATT 517", 1200: "UDP datagram"}
SIZES = [0, 16, 64, 200, 512, 1024, 2048, 4096, 8192, 16384]


def measure(size: int, mtu: int) -> tuple[int, int]:
    """Fragments and wire bytes for one frame of `size` bytes; verified by reassembly."""
    frame = random.Random(size).randbytes(size)
    fragments = Fragmenter(mtu).fragments(frame)
    reassembler = Reassembler(ordered=True)
    assert [f for fr in fragments for f in reassembler.feed(fr, 0)] == [frame]
    return len(fragments), sum(len(f) for f in fragments)


def overhead_table() -> None:
    print("\nwire bytes per frame (fragments in brackets), and overhead over the frame size")
    print("| frame B | " + " | ".join(f"{m} ({name})" for m, name in MTUS.items()) + " |")
    print("|--:|" + "--:|" * len(MTUS))
    for size in SIZES:
        cells = []
        for mtu in MTUS:
            n, wire = measure(size, mtu)
            pct = f"{100 * (wire - size) / size:.1f} %" if size else "—"
            cells.append(f"{wire} [{n}] +{wire - size} ({pct})")
        print(f"| {size} | " + " | ".join(cells) + " |")


def speed_table(seconds: float) -> None:
    print("\nfragment + reassemble, one 8 KiB frame (single thread)")
    print(f"| {'case':<34} | {'frames/s':>9} | {'MB/s':>6} |")
    print(f"|{'-' * 36}|{'-' * 11}|{'-' * 8}|")
    frame = random.Random(1).randbytes(8192)
    for mtu in (20, 244, 1200):
        for ordered in (True, False):
            fragmenter = Fragmenter(mtu)
            reassembler = Reassembler(ordered=ordered)
            shuffle = random.Random(2)

            def once(fragmenter: Fragmenter = fragmenter, reassembler: Reassembler = reassembler,
                     shuffle: random.Random = shuffle, ordered: bool = ordered) -> None:
                fragments = fragmenter.fragments(frame)
                if not ordered:
                    shuffle.shuffle(fragments)
                for fr in fragments:
                    reassembler.feed(fr, 0)

            per_s, _ = rate(once, min_seconds=seconds)
            assert reassembler.stats.frames_ok > 0 and reassembler.stats.malformed == 0
            order = "in order, ordered=True" if ordered else "shuffled, ordered=False"
            case = f"MTU {mtu}, {order}"
            print(f"| {case:<34} | {per_s:>9,.0f} | {per_s * len(frame) / 1e6:>6.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()
    header("link framing overhead and speed")
    print("header: 3 B single fragment; 5 B first + 4 B per further fragment")
    overhead_table()
    speed_table(args.seconds)


if __name__ == "__main__":
    main()
