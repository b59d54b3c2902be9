"""What a proof-of-work stamp costs to mint and to check (docs/protocol.md §15).

Usage: python bench/bench_stamps.py [--keys 300] [--runs 3] [--bits 14] [--budget 0.2]

Each run mints one stamp for each of `--keys` fresh random keys (as a DM's ack key is) with
`mint_stamp`, timing every mint in CPU time (`time.thread_time`) and wall time. The number of
hashes a stamp takes (its nonce + 1) does not depend on the machine: its distribution is
measured exactly and is the same on a phone. The hash rate does depend on it: the report gives
this machine's, and the rate a device needs for 99 of 100 stamps to take at most `--budget`
seconds. Checking one stamp is one SHA-256 (`stamp_worth`), timed against one Ed25519
verification, which it guards. `uptime` is printed before and after: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time

from common import header
from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.crypto.stamp import mint_stamp, stamp_worth

DAY = 20_717


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def one_run(keys: int, bits: int) -> dict[str, float]:
    cpu: list[float] = []
    wall: list[float] = []
    hashes: list[float] = []
    for _ in range(keys):
        key = os.urandom(32)
        c0, w0 = time.thread_time(), time.perf_counter()
        nonce = mint_stamp(key, DAY, bits)
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
        hashes.append(int.from_bytes(nonce, "big") + 1)
    rate = sum(hashes) / sum(cpu)
    return {"rate": rate, "hashes_mean": statistics.fmean(hashes),
            "hashes_p50": _quantile(hashes, 0.5), "hashes_p99": _quantile(hashes, 0.99),
            "hashes_max": max(hashes),
            "cpu_mean": statistics.fmean(cpu), "cpu_p99": _quantile(cpu, 0.99),
            "cpu_max": max(cpu), "wall_mean": statistics.fmean(wall),
            "wall_p99": _quantile(wall, 0.99), "wall_max": max(wall)}


def check_costs(bits: int) -> tuple[float, float]:
    """Seconds of CPU per stamp check and per Ed25519 verification (10,000 each)."""
    key = os.urandom(32)
    nonce = mint_stamp(key, DAY, bits)
    c0 = time.thread_time()
    for _ in range(10_000):
        stamp_worth(key, DAY, nonce)
    check = (time.thread_time() - c0) / 10_000
    private = ed25519.Ed25519PrivateKey.generate()
    public, sig = private.public_key(), private.sign(b"x" * 200)
    c0 = time.thread_time()
    for _ in range(10_000):
        public.verify(sig, b"x" * 200)
    return check, (time.thread_time() - c0) / 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bits", type=int, default=14)
    parser.add_argument("--budget", type=float, default=0.2)
    args = parser.parse_args()
    header(f"proof-of-work stamps: {args.bits} bits, {args.keys} keys x {args.runs} runs")
    print(f"uptime before: {_uptime()}")
    rows = [one_run(args.keys, args.bits) for _ in range(args.runs)]
    print(f"uptime after: {_uptime()}")

    def span(key: str, scale: float = 1.0, fmt: str = "{:.1f}") -> str:
        values = [r[key] * scale for r in rows]
        return f"{fmt.format(min(values))}–{fmt.format(max(values))}"

    print()
    print("| per stamp | range over runs |")
    print("|---|---:|")
    print(f"| hashes, mean (expected {2 ** args.bits:,}) | {span('hashes_mean', fmt='{:,.0f}')} |")
    print(f"| hashes, median | {span('hashes_p50', fmt='{:,.0f}')} |")
    print(f"| hashes, 99th percentile | {span('hashes_p99', fmt='{:,.0f}')} |")
    print(f"| hashes, most | {span('hashes_max', fmt='{:,.0f}')} |")
    print(f"| hash rate here, per CPU second | {span('rate', fmt='{:,.0f}')} |")
    print(f"| CPU ms, mean | {span('cpu_mean', 1e3)} |")
    print(f"| CPU ms, 99th percentile | {span('cpu_p99', 1e3)} |")
    print(f"| CPU ms, most | {span('cpu_max', 1e3)} |")
    print(f"| wall ms, mean | {span('wall_mean', 1e3)} |")
    print(f"| wall ms, 99th percentile | {span('wall_p99', 1e3)} |")
    print(f"| wall ms, most | {span('wall_max', 1e3)} |")
    p99 = max(r["hashes_p99"] for r in rows)
    needed = p99 / args.budget
    here = min(r["rate"] for r in rows)
    print()
    print(f"For 99 of 100 stamps within {args.budget} s a device needs {needed:,.0f} hashes per "
          f"second: {here / needed:.1f} x slower than this machine's slowest run.")
    check, verify = check_costs(args.bits)
    print(f"Checking a stamp: {check * 1e6:.2f} us CPU; an Ed25519 verification: "
          f"{verify * 1e6:.1f} us CPU ({verify / check:.0f} x).")


if __name__ == "__main__":
    main()
