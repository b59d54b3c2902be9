"""Bytes, round trips and CPU of range-based reconciliation (meshnode/routing/reconcile.py).

    python bench/bench_reconcile.py [--n 10000] [--seeds 3] [--sweep]

Two stores of n items each (timestamps spread over 72 hours, random 16-byte ids) share n - d/2
items; d/2 more are only in the first (the initiator), d - d/2 only in the second. Every run
checks that the initiator learns exactly both differences. Bytes are means over the seeds; CPU
is the best run (both sides, process time) and excludes building the item sets, shown apart.
`--sweep` adds a table over branching factor, id-list threshold and frame size, with a simple
BLE time model (see MODEL_*).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass

from meshnode.routing.reconcile import (
    FINGERPRINT_SIZE,
    ID_SIZE,
    FingerprintRange,
    Item,
    Message,
    ReconcileConfig,
    Reconciler,
    SortedItems,
    estimate_cost,
)

SPAN = 72 * 3600
EPOCH = 1_700_000_000
MODEL_BYTES_PER_S = 20_000  # GATT throughput to plan on (docs/design.md §4: 10-50 kB/s)
MODEL_S_PER_MESSAGE = 0.05  # turnaround per message: a few connection intervals


@dataclass(frozen=True, slots=True)
class Run:
    up: int  # initiator -> responder
    down: int  # responder -> initiator
    messages: int
    fingerprints: int
    cpu: float
    build: float


def make_sets(n: int, d: int, seed: int) -> tuple[list[Item], list[Item], set[bytes], set[bytes]]:
    rnd = random.Random(seed)
    only_a, only_b = d // 2, d - d // 2
    items = [(EPOCH + rnd.randrange(SPAN), rnd.randbytes(ID_SIZE)) for _ in range(n + only_b)]
    common = items[: n - only_a]
    a_extra, b_extra = items[n - only_a : n], items[n:]
    return common + a_extra, common + b_extra, {i for _, i in a_extra}, {i for _, i in b_extra}


def run_once(n: int, d: int, seed: int, config: ReconcileConfig) -> Run:
    a, b, only_a, only_b = make_sets(n, d, seed)
    t0 = time.perf_counter()
    set_a, set_b = SortedItems(a), SortedItems(b)
    build = (time.perf_counter() - t0) / 2
    frames: list[bytes] = []
    c0 = time.process_time()
    initiator = Reconciler(set_a, initiator=True, config=config)
    responder = Reconciler(set_b, initiator=False, config=config)
    up = down = 0
    msg: bytes | None = initiator.initiate()
    while msg is not None:
        up += len(msg)
        frames.append(msg)
        reply = responder.receive(msg)
        assert reply is not None  # the responder always answers
        down += len(reply)
        frames.append(reply)
        msg = initiator.receive(reply)
    cpu = time.process_time() - c0
    if initiator.have_ids != only_a or initiator.need_ids != only_b:
        raise SystemExit(f"wrong result for n={n} d={d} seed={seed}")
    fps = sum(
        isinstance(r, FingerprintRange)
        for f in frames
        for r in Message.decode(f, max_message=config.max_message).ranges
    )
    return Run(up, down, len(frames), fps, cpu, build)


def measure(n: int, d: int, seeds: int, config: ReconcileConfig) -> dict[str, float]:
    runs = [run_once(n, d, seed, config) for seed in range(seeds)]
    up = statistics.fmean(r.up for r in runs)
    down = statistics.fmean(r.down for r in runs)
    msgs = statistics.fmean(r.messages for r in runs)
    return {
        "up": up,
        "down": down,
        "messages": msgs,
        "fingerprints": statistics.fmean(r.fingerprints for r in runs),
        "cpu_ms": min(r.cpu for r in runs) * 1000,
        "build_ms": min(r.build for r in runs) * 1000,
        "ble_s": (up + down) / MODEL_BYTES_PER_S + msgs * MODEL_S_PER_MESSAGE,
    }


def ratio(total: float, d: int) -> str:
    return f"{total / (d * ID_SIZE):8.1f}" if d else "       -"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sweep", action="store_true", help="also compare parameters")
    args = parser.parse_args(argv)
    diffs = (0, 10, 100, 1_000)
    config = ReconcileConfig()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}, {platform.system()}")
    print(f"config: branching={config.branching} idlist_threshold={config.idlist_threshold} "
          f"frame_limit={config.frame_limit} fingerprint={FINGERPRINT_SIZE} B; "
          f"means over {args.seeds} seeds")
    print()
    head = (f"{'n':>6} {'d':>5} {'I->R B':>8} {'R->I B':>8} {'total B':>8} {'msgs':>5} "
            f"{'RTT':>5} {'B/(16d)':>8} {'model B':>8} {'msgs':>5} {'fp rng':>7} {'cpu ms':>7} "
            f"{'build ms':>8}")
    print(head)
    print("-" * len(head))
    for d in diffs:
        m = measure(args.n, d, args.seeds, config)
        total = m["up"] + m["down"]
        model = estimate_cost(args.n, d, config)
        print(f"{args.n:>6} {d:>5} {m['up']:>8.0f} {m['down']:>8.0f} {total:>8.0f} "
              f"{m['messages']:>5.1f} {m['messages'] / 2:>5.1f} {ratio(total, d)} "
              f"{model.up + model.down:>8} {model.messages:>5} "
              f"{m['fingerprints']:>7.0f} {m['cpu_ms']:>7.1f} {m['build_ms']:>8.1f}")
    print()
    print("RTT = messages / 2 (the initiator sends first; identical sets take one round trip).")
    print("model = estimate_cost(n, d, config), the cost model of the module docstring.")
    print(f"fp rng = fingerprint ranges sent; {FINGERPRINT_SIZE + 4}-byte fingerprints would "
          "add 4 bytes each.")

    if not args.sweep:
        return
    print()
    print(f"Parameter sweep, n={args.n}. BLE model: {MODEL_BYTES_PER_S // 1000} kB/s and "
          f"{MODEL_S_PER_MESSAGE * 1000:.0f} ms per message.")
    head = f"{'b':>3} {'T':>4} {'frame':>6} " + " ".join(
        f"{'d=' + str(d) + ' B':>10} {'msgs':>4} {'s':>5}" for d in diffs
    )
    print(head)
    print("-" * len(head))
    for branching, threshold, frame in [
        (4, 8, 4096), (8, 16, 4096), (16, 16, 4096), (16, 32, 4096), (32, 64, 4096),
        (16, 32, 2048), (16, 32, 16384),
    ]:
        cfg = ReconcileConfig(branching, threshold, frame)
        cells = []
        for d in diffs:
            m = measure(args.n, d, args.seeds, cfg)
            cells.append(f"{m['up'] + m['down']:>10.0f} {m['messages']:>4.0f} {m['ble_s']:>5.2f}")
        print(f"{branching:>3} {threshold:>4} {frame:>6} " + " ".join(cells))


if __name__ == "__main__":
    main()
