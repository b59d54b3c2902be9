"""The daemon as it runs: real processes talking UDP over loopback.

    python bench/bench_daemon.py [--messages 10000] [--chain 5] [--alerts 10] [--idle 20]
                                 [--only receive,sync,latency,idle] [--check-ahead on|off]

0. Receiving side alone: one daemon (the hub) and a sender process that replays pre-encoded
   frames over the same UDP link layer (a Hello, then `--messages` posts, as fast as the link's
   window allows). The sender neither stores nor verifies, so the figure is the hub's: durable
   messages/s from the link coming up until the hub holds them all.
1. Sync throughput: daemon A holds `--messages` posts (from many authors, within the
   per-author quota), daemon B starts empty; messages/s from B's link coming up until B holds
   them all. The per-peer and per-network post rates are raised for this run (the defaults,
   500 and 200 messages/s with bursts of 5,000, are abuse limits; a hub catching up with a
   large backlog raises them in its config).
2. Alert latency: `--alerts` alerts injected one after another at the first daemon of a
   `--chain`-daemon line; time until the last daemon reports each as verified. Every daemon's
   `alert_received` event is watched too, so a hop is also timed from one daemon's event to
   the next one's (without the API request at the first daemon and its whole commit there).
3. Idle cost: CPU time and resident memory of one daemon with one linked peer over `--idle`
   seconds (keepalives only).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import trio

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
from meshnode.daemon.localnet import LocalNet, LocalNode, free_udp_ports
from meshnode.routing.frames import NONCE_SIZE, Hello, Msg, encode_frame
from meshnode.transport.base import LinkUp, TransportEvent
from meshnode.transport.udp import Endpoint, UdpConfig, UdpTransport

CLOCK_TICKS = 100  # os.sysconf("SC_CLK_TCK") on Linux
FAST = 1_000_000.0  # abuse limits out of the way: a hub catching up raises them in its config


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def thread_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of a process's main thread (the daemon's trio loop: the core) and of all
    its other threads together (commits, the check-ahead worker)."""
    main = others = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a worker thread that just ended
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            used = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            if int(task.name) == pid:
                main += used
            else:
                others += used
    return main, others


def cpu_seconds(node: LocalNode) -> float:
    assert node.process is not None
    return cpu_of(node.process.pid)


def load() -> str:
    """The 1-minute load average, for the line beside every figure."""
    return f"{os.getloadavg()[0]:.1f}"


NODE_EXTRA: dict[str, Any] = {}  # `--check-ahead`, when given (older daemons lack the key)


def fast_node_config() -> Any:
    base = fast_config()
    return dataclasses.replace(base, node=dataclasses.replace(
        base.node, peer_rate=FAST, peer_burst=FAST, post_rate=FAST, post_burst=FAST,
        serve_rate=FAST, serve_burst=FAST, store_mb=256, **NODE_EXTRA))


def commits(status: dict[str, Any]) -> str:
    """Mean inputs per group commit (daemons before group commit do not count them)."""
    t = status["transport"]
    return f"{t['commit_inputs'] / t['commits']:.1f}" if t.get("commits") else "-"


def core_time(status: dict[str, Any]) -> str:
    """The receiving core's ms running batches through the node / waiting for a COMMIT with
    nothing to run, and how many of its statements waited for a sealed batch's COMMIT ("-": a
    daemon that does not count them)."""
    t = status["transport"]
    if "core_run_ms" not in t:
        return "-"
    waited = f" ({t['sealed_waits']:,} waited)" if "sealed_waits" in t else ""
    return f"{t['core_run_ms']:,}/{t['commit_wait_ms']:,}{waited}"


def checked(status: dict[str, Any]) -> str:
    """Frames whose signatures the check-ahead worker had verified by the time the core took
    them, and those the core verified itself ("-": a daemon without the worker)."""
    t = status["transport"]
    return f"{t['checked_ahead']:,}/{t['checked_inline']:,}" if "checked_ahead" in t else "-"


# --- the replaying sender (a separate process: `--replay HUB PORT FILE`) ---------------------

def write_frames(path: Path, frames: list[bytes]) -> None:
    with path.open("wb") as f:
        for frame in frames:
            f.write(len(frame).to_bytes(4, "big") + frame)


def read_frames(path: Path) -> list[bytes]:
    data, frames, i = path.read_bytes(), [], 0
    while i < len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        frames.append(data[i + 4:i + 4 + n])
        i += 4 + n
    return frames


async def _replay(config: UdpConfig, frames: list[bytes]) -> None:
    transport = UdpTransport(config)
    send, receive = trio.open_memory_channel[TransportEvent](0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(transport.run, send)
        link = None
        async for event in receive:
            if isinstance(event, LinkUp):
                link = event.link
                break
        assert link is not None

        async def discard() -> None:  # the hub's Hello, Recon and Wants: not needed here
            async for _ in receive:
                pass

        nursery.start_soon(discard)
        for frame in frames:
            await transport.send(link, frame)
        print("sent", flush=True)
        await trio.sleep_forever()  # keep the link (and its resends) until killed


def replay_main(hub: str, port: int, path: str) -> None:
    config = UdpConfig(listen=Endpoint("127.0.0.1", port), peers=(Endpoint.parse(hub),),
                       discovery=False, keepalive=0.2, link_timeout=5.0)
    trio.run(_replay, config, read_frames(Path(path)))


def bench_receive(root: Path, count: int) -> None:
    with LocalNet.line(root, ["H"], fast_node_config()) as net:
        hub = net.nodes[0]
        hub.setup()
        frames = [encode_frame(Hello(nonce=os.urandom(NONCE_SIZE)))]
        frames += [encode_frame(Msg(raw)) for raw in make_posts(count)]
        write_frames(root / "frames.bin", frames)
        hub.start()
        hub.wait_ready()
        port = free_udp_ports(1)[0]
        sender = subprocess.Popen(
            [sys.executable, __file__, "--replay", str(hub.config.udp.listen), str(port),
             str(root / "frames.bin")], stdout=subprocess.DEVNULL)
        try:
            assert hub.process is not None
            cpu_h, cpu_s = cpu_seconds(hub), cpu_of(sender.pid)
            core0, others0 = thread_cpu(hub.process.pid)
            load_before = load()
            wait_for("the sender's link", links_up(hub, 1), 30, every=0.005)
            start = time.perf_counter()
            wait_for(f"{count} posts at the hub", lambda: posts(hub) >= count, 600, every=0.1)
            elapsed = time.perf_counter() - start
            used_h, used_s = cpu_seconds(hub) - cpu_h, cpu_of(sender.pid) - cpu_s
            core1, others1 = thread_cpu(hub.process.pid)
            status = hub.request(api.Status())
        finally:
            sender.kill()
            sender.wait()
    print(f"## Receiving side: {count:,} posts replayed into one daemon over loopback UDP")
    print("| messages | seconds | messages/s | CPU s hub | hub CPU ms/message | CPU s sender "
          "| hub CPU s: core thread/others | inputs per commit | checked ahead/inline "
          "| load before/after | core ms: running/waiting for COMMIT |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {count:,} | {elapsed:.2f} | {count / elapsed:,.0f} | {used_h:.2f} | "
          f"{1000 * used_h / count:.2f} | {used_s:.2f} | "
          f"{core1 - core0:.2f}/{others1 - others0:.2f} | {commits(status)} | "
          f"{checked(status)} | {load_before}/{load()} | {core_time(status)} |")
    print()


def posts(node: LocalNode) -> int:
    return int(node.request(api.Status())["store"]["by_kind"].get("post", 0))


def rss_mib(node: LocalNode) -> float:
    assert node.process is not None
    for line in Path(f"/proc/{node.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_sync(root: Path, count: int) -> None:
    with LocalNet.line(root, ["A", "B"], fast_node_config()) as net:
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
        load_before = load()
        wait_for("the link", links_up(b, 1), 30, every=0.005)
        start = time.perf_counter()
        wait_for(f"{count} posts at B", lambda: posts(b) >= count, 600, every=0.1)
        elapsed = time.perf_counter() - start
        sa, sb = a.request(api.Status()), b.request(api.Status())
        used_a, used_b = cpu_seconds(a) - cpu_a, cpu_seconds(b) - cpu_b
    print(f"## Sync: {count:,} posts from daemon A to an empty daemon B over loopback UDP")
    print(f"(store prefilled in {fill:.1f} s)")
    # B sends little but acknowledgements (and keepalives): its datagram count is what
    # acknowledging costs.
    print("| messages | seconds | messages/s | UDP bytes A→B | datagrams A→B | datagrams B→A | "
          "resent | CPU s A | CPU s B | inputs per commit (B) | checked ahead/inline (B) "
          "| load before/after | B's core ms: running/waiting for COMMIT |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {count:,} | {elapsed:.2f} | {count / elapsed:,.0f} | "
          f"{sa['transport']['bytes_out']:,} | {sa['transport']['datagrams_out']:,} | "
          f"{sb['transport']['datagrams_out']:,} | "
          f"{sa['transport']['resent']:,} | {used_a:.2f} | {used_b:.2f} | {commits(sb)} | "
          f"{checked(sb)} | {load_before}/{load()} | {core_time(sb)} |")
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
        first = net.nodes[0]
        # Every daemon's events: when each one had the alert verified, stored and released
        # (its `alert_received`), so that a hop is timed from one daemon to the next, apart
        # from the API's request at the first and its event at the last.
        watched = [Events(node, ("alert_received",)) for node in net.nodes]
        times: list[float] = []
        hops: list[float] = []
        spans: list[float] = []
        load_before = load()
        cpu0 = sum(cpu_seconds(n) for n in net.nodes)
        try:
            for seq in range(1, alerts + 1):
                data = authority.alert(seq)
                start = time.monotonic()
                first.request(api.Inject(data))
                for events in watched:
                    events.wait_count("alert_received", seq, 30)
                at = [[t for t, n, _ in events.seen if n == "alert_received"][seq - 1]
                      for events in watched]
                times.append((at[-1] - start) * 1000)
                hops += [(b - a) * 1000 for a, b in itertools.pairwise(at)]
                spans.append((at[-1] - at[0]) * 1000 / (length - 1))
                time.sleep(0.2)
        finally:
            for events in watched:
                events.close()
        cpu = sum(cpu_seconds(n) for n in net.nodes) - cpu0
    print(f"## Alert latency across a {length}-daemon line on loopback ({alerts} alerts, "
          f"{len(authority.alert())} bytes each)")
    print("Per hop (median): the end-to-end median over the hops, from the API request at the "
          "first daemon to the event at the last; daemon to daemon: the median of each hop, "
          "from one daemon's `alert_received` to the next one's; first to last event: the "
          "same span over the hops.")
    print("| hops | median ms | min ms | max ms | per hop (median) ms | daemon to daemon, "
          "median ms | first to last event, per hop, median ms | CPU s, all daemons "
          "| load before/after |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    med = statistics.median(times)
    print(f"| {length - 1} | {med:.1f} | {min(times):.1f} | {max(times):.1f} | "
          f"{med / (length - 1):.1f} | {statistics.median(hops):.1f} | "
          f"{statistics.median(spans):.1f} | {cpu:.2f} | {load_before}/{load()} |")
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
    parser.add_argument("--only", default="receive,sync,latency,idle",
                        help="the parts to run, comma-separated")
    parser.add_argument("--check-ahead", choices=("auto", "on", "off"),
                        help="the receivers' [node] check_ahead (default: the daemon's)")
    parser.add_argument("--replay", nargs=3, metavar=("HUB", "PORT", "FILE"),
                        help=argparse.SUPPRESS)  # the replaying sender's process
    args = parser.parse_args()
    if args.replay:
        replay_main(args.replay[0], int(args.replay[1]), args.replay[2])
        return
    parts = args.only.split(",")
    if args.check_ahead:
        NODE_EXTRA["check_ahead"] = args.check_ahead
    header("daemon: receiving side, sync throughput, alert latency, idle cost")
    print(f"load average (1, 5, 15 min): {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print()
    with tempfile.TemporaryDirectory(prefix="meshnode-bench-") as tmp:
        root = Path(tmp)
        if "receive" in parts:
            bench_receive(root / "receive", args.messages)
        if "sync" in parts:
            bench_sync(root / "sync", args.messages)
        if "latency" in parts:
            bench_latency(root / "latency", args.chain, args.alerts)
        if "idle" in parts:
            bench_idle(root / "idle", args.idle)


if __name__ == "__main__":
    main()
