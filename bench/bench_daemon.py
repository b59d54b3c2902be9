"""The daemon as it runs: real processes talking UDP over loopback.

    python bench/bench_daemon.py [--messages 10000] [--chain 5] [--alerts 10] [--idle 20]
                                 [--only sync|latency|idle]

1. Sync throughput: daemon A holds `--messages` posts (from many authors, within the
   per-author quota), daemon B starts empty; messages/s from B's link coming up until B holds
   them all. The per-peer and per-network post rates are raised for this run (the defaults,
   500 and 200 messages/s with bursts of 5,000, are abuse limits; a hub catching up with a
   large backlog raises them in its config).
2. Alert latency: `--alerts` alerts injected one after another at the first daemon of a
   `--chain`-daemon line; time until the last daemon reports each as verified.
3. Idle cost: CPU time and resident memory of one daemon with one linked peer over `--idle`
   seconds (keepalives only).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import header

from meshnode.daemon import api
from meshnode.daemon.harness import (
    Events,
    fast_config,
    links_up,
    make_authority,
    make_posts,
    prefill,
    wait_for,
)
from meshnode.daemon.localnet import LocalNet, LocalNode

CLOCK_TICKS = 100  # os.sysconf("SC_CLK_TCK") on Linux


def cpu_seconds(node: LocalNode) -> float:
    assert node.process is not None
    fields = Path(f"/proc/{node.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def rss_mib(node: LocalNode) -> float:
    assert node.process is not None
    for line in Path(f"/proc/{node.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_sync(root: Path, count: int) -> None:
    base = fast_config()
    fast = 1_000_000.0
    config = dataclasses.replace(base, node=dataclasses.replace(
        base.node, peer_rate=fast, peer_burst=fast, post_rate=fast, post_burst=fast,
        serve_rate=fast, serve_burst=fast, store_mb=256))
    with LocalNet.line(root, ["A", "B"], config) as net:
        a, b = net.nodes
        a.setup()
        b.setup()
        start = time.perf_counter()
        prefill(a, make_posts(count))
        fill = time.perf_counter() - start
        a.start()
        a.wait_ready()
        b.start()
        b.wait_ready()
        cpu_a, cpu_b = cpu_seconds(a), cpu_seconds(b)
        wait_for("the link", links_up(b, 1), 30, every=0.005)
        start = time.perf_counter()

        def held() -> int:
            return int(b.request(api.Status())["store"]["by_kind"].get("post", 0))

        wait_for(f"{count} posts at B", lambda: held() >= count, 600, every=0.02)
        elapsed = time.perf_counter() - start
        sa, sb = a.request(api.Status()), b.request(api.Status())
        used_a, used_b = cpu_seconds(a) - cpu_a, cpu_seconds(b) - cpu_b
    print(f"## Sync: {count:,} posts from daemon A to an empty daemon B over loopback UDP")
    print(f"(store prefilled in {fill:.1f} s)")
    # B sends little but acknowledgements (and keepalives): its datagram count is what
    # acknowledging costs.
    print("| messages | seconds | messages/s | UDP bytes A→B | datagrams A→B | datagrams B→A | "
          "resent | CPU s A | CPU s B |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {count:,} | {elapsed:.2f} | {count / elapsed:,.0f} | "
          f"{sa['transport']['bytes_out']:,} | {sa['transport']['datagrams_out']:,} | "
          f"{sb['transport']['datagrams_out']:,} | "
          f"{sa['transport']['resent']:,} | {used_a:.2f} | {used_b:.2f} |")
    print(f"B rejected {sb['counters']['rejected']}")
    print(f"B accepted {sb['counters']['accepted_total']:,}, rejected "
          f"{sb['counters']['rejected_total']:,}")
    print()


def bench_latency(root: Path, length: int, alerts: int) -> None:
    authority = make_authority(root / "authority")
    names = [f"N{i}" for i in range(length)]
    with LocalNet.line(root, names, fast_config()) as net:
        net.start(roots=[authority.root_pub])
        for i, node in enumerate(net.nodes):
            want = (i > 0) + (i < length - 1)
            wait_for("links", links_up(node, want), 30)
        first, last = net.nodes[0], net.nodes[-1]
        events = Events(last, ("alert_received",))
        times = []
        try:
            for seq in range(1, alerts + 1):
                data = authority.alert(seq)
                start = time.monotonic()
                first.request(api.Inject(data))
                events.wait_count("alert_received", seq, 30)
                arrived = [t for t, n, _ in events.seen if n == "alert_received"][seq - 1]
                times.append((arrived - start) * 1000)
                time.sleep(0.2)
        finally:
            events.close()
    print(f"## Alert latency across a {length}-daemon line on loopback ({alerts} alerts, "
          f"{len(authority.alert())} bytes each)")
    print("| hops | median ms | min ms | max ms | per hop (median) ms |")
    print("|---:|---:|---:|---:|---:|")
    med = statistics.median(times)
    print(f"| {length - 1} | {med:.1f} | {min(times):.1f} | {max(times):.1f} | "
          f"{med / (length - 1):.1f} |")
    print()


def bench_idle(root: Path, seconds: float) -> None:
    base = fast_config()
    # The shipped defaults: keepalive 2 s, tick 1 s.
    config = dataclasses.replace(base, node=dataclasses.replace(base.node, tick=1.0),
                                 udp=dataclasses.replace(base.udp, keepalive=2.0,
                                                         link_timeout=10.0))
    with LocalNet.line(root, ["A", "B"], config) as net:
        net.start()
        a = net.nodes[0]
        wait_for("the link", links_up(a, 1), 30)
        time.sleep(2)
        cpu0, t0 = cpu_seconds(a), time.monotonic()
        stop = threading.Event()
        stop.wait(seconds)
        cpu = cpu_seconds(a) - cpu0
        wall = time.monotonic() - t0
        rss = rss_mib(a)
    print(f"## Idle daemon with one linked peer, {wall:.0f} s")
    print("| CPU % of one core | CPU ms per minute | resident memory MiB |")
    print("|---:|---:|---:|")
    print(f"| {100 * cpu / wall:.2f} | {60_000 * cpu / wall:.0f} | {rss:.1f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--chain", type=int, default=5)
    parser.add_argument("--alerts", type=int, default=10)
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument("--only", choices=("sync", "latency", "idle"))
    args = parser.parse_args()
    header("daemon: sync throughput, alert latency, idle cost")
    with tempfile.TemporaryDirectory(prefix="meshnode-bench-") as tmp:
        root = Path(tmp)
        if args.only in (None, "sync"):
            bench_sync(root / "sync", args.messages)
        if args.only in (None, "latency"):
            bench_latency(root / "latency", args.chain, args.alerts)
        if args.only in (None, "idle"):
            bench_idle(root / "idle", args.idle)


if __name__ == "__main__":
    main()
