"""The steunpunt board under a crowd: real daemons, real HTTP on loopback, bounded.

    python bench/bench_board.py [--clients 500] [--requests 10] [--runs 3] [--posts 2000]
                                [--think 0]

A hub with `[web]` on holds `--posts` neighbourhood posts in 30 channels, one verified
alert and five notices, and is linked over UDP to a mesh peer. In each run `--clients`
concurrent clients (trio tasks, one keep-alive connection each, h11) fetch the board
`--requests` times each (back to back, or with a random pause of `--think` seconds on
average, as phones reloading the page would), while a thread injects residents' posts at the
peer (20 a second) so that the hub keeps syncing with it. Reported per run: latency
p50/p99/max, requests/s, errors, the hub's CPU time against wall time, the load generator's
own CPU time, and the posts synced meanwhile.
Also the board page's size (bytes, and gzip-compressed for reference). Every loop is bounded
by count and the whole run by `--deadline` seconds; the daemons are stopped at the end.
The load generator shares the machine with the daemons, so the figures are pessimistic.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gzip
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import h11
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_daemon import cpu_seconds
from common import header

from meshnode.daemon import api
from meshnode.daemon.config import WebConfig
from meshnode.daemon.localnet import LocalNet, LocalNode
from meshnode.transport.udp import Endpoint
from tests.daemons import fast_config, links_up, make_authority, make_posts, prefill, wait_for
from tests.web.conftest import free_tcp_port

HOST = "127.0.0.1"


async def _get(stream: trio.SocketStream, conn: h11.Connection, port: int) -> int:
    """One GET / on an open connection; the status code."""
    await stream.send_all(conn.send(h11.Request(
        method="GET", target="/", headers=[("Host", f"{HOST}:{port}")])))
    await stream.send_all(conn.send(h11.EndOfMessage()))
    status = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
        if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return status


async def fetch_many(port: int, count: int, latencies: list[float], errors: list[str],
                     deadline: float, think: float, rng: random.Random) -> None:
    """`count` GET /: back to back on one keep-alive connection, or (`think` > 0) each after
    a random pause averaging `think` seconds on a new connection, as a phone reloading the
    page after the server closed the idle one. Latency counts from connecting, in seconds."""
    try:
        with trio.fail_after(deadline):
            stream: trio.SocketStream | None = None
            conn = h11.Connection(h11.CLIENT)
            for _ in range(count):
                if think:
                    await trio.sleep(rng.uniform(0, 2 * think))  # phones arrive at random
                start = time.perf_counter()
                if stream is None or think:
                    if stream is not None:
                        await stream.aclose()
                    stream = await trio.open_tcp_stream(HOST, port)
                    conn = h11.Connection(h11.CLIENT)
                status = await _get(stream, conn, port)
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    errors.append(f"status {status}")
                conn.start_next_cycle()
            if stream is not None:
                await stream.aclose()
    except (OSError, trio.TooSlowError, trio.BrokenResourceError, h11.ProtocolError) as exc:
        errors.append(type(exc).__name__)


async def crowd(port: int, clients: int, requests: int, deadline: float, think: float
                ) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    rng = random.Random(1)
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(clients):
            nursery.start_soon(fetch_many, port, requests, latencies, errors, deadline, think,
                               rng)
    return latencies, errors, time.perf_counter() - start


def keep_posting(peer: LocalNode, posts: list[bytes], stop: threading.Event,
                 made: list[int]) -> None:
    """Residents' posts (signed beforehand, many authors) injected at the peer, 20 a second,
    until `stop` or the posts run out."""
    i = 0
    while not stop.wait(0.05) and i < len(posts):
        peer.request(api.Inject(posts[i]))
        i += 1
    made.append(i)


def one_run(net: LocalNet, port: int, args: argparse.Namespace,
            live: list[bytes]) -> dict[str, float]:
    hub, peer = net["hub"], net["peer"]
    before = hub.request(api.Status())["counters"]["accepted"].get("post", 0)
    stop, made = threading.Event(), []
    poster = threading.Thread(target=keep_posting, args=(peer, live, stop, made))
    cpu0, self0 = cpu_seconds(hub), resource.getrusage(resource.RUSAGE_SELF)
    poster.start()
    try:
        latencies, errors, wall = trio.run(crowd, port, args.clients, args.requests,
                                           args.deadline, args.think)
    finally:
        stop.set()
        poster.join()
    hub_cpu = cpu_seconds(hub) - cpu0
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    gen_cpu = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
    def accepted() -> int:
        return int(hub.request(api.Status())["counters"]["accepted"].get("post", 0)) - before

    with contextlib.suppress(AssertionError):  # reported as synced < posted
        wait_for("the live posts at the hub", lambda: accepted() >= made[0], 120)
    synced = accepted()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {"requests": len(latencies), "errors": len(errors), "wall": wall,
            "rps": len(latencies) / wall, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000,
            "max_ms": max(latencies, default=0) * 1000, "hub_cpu": hub_cpu,
            "gen_cpu": gen_cpu, "synced": synced, "posted": made[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--requests", type=int, default=10, help="per client")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds per run")
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean seconds a phone waits between loads (0: back to back)")
    args = parser.parse_args()
    header("Steunpunt board under a crowd")
    print(f"load before: {os.getloadavg()}")
    root = Path(tempfile.mkdtemp(prefix="bench-board-"))
    authority = make_authority(root / "authority")
    port = free_tcp_port()
    # Fast re-syncs, but the default link timers: a loaded machine must not flap the link.
    fast = fast_config()
    base = dataclasses.replace(fast, udp=dataclasses.replace(
        fast.udp, keepalive=2.0, link_timeout=10.0))
    with LocalNet.line(root, ["hub", "peer"], base) as net:
        hub = net["hub"]
        hub.config = dataclasses.replace(
            hub.config, web=WebConfig(enabled=True, listen=Endpoint(HOST, port),
                                      place="Sporthal De Ark, Kerkstraat 1",
                                      wifi_name="Steunpunt-De-Ark"),
            node=dataclasses.replace(hub.config.node, location=(51.88, 4.30)))
        for node in net.nodes:
            node.setup([authority.root_pub])
        posts = []
        for c in range(30):
            posts += make_posts(args.posts // 30, channel=f"wijk-{c:02d}")
        prefill(hub, posts)
        net.start([authority.root_pub])
        wait_for("the link", links_up(hub, 1))
        hub.request(api.Inject(authority.alert()))
        for i in range(5):
            hub.request(api.Post("steunpunt", f"Notice {i}: drinkwater, opladen en EHBO "
                                              "dagelijks van 8 tot 20 uur in de sporthal."))
        time.sleep(2.5)  # the board's snapshot is at most 2 s old: let it include all of it
        page = trio.run(_page, port)
        print(f"board page: {len(page):,} bytes, {len(gzip.compress(page)):,} gzip-compressed")
        results = []
        for run in range(args.runs):
            r = one_run(net, port, args, make_posts(3000, channel=f"wijk-live-{run}"))
            results.append(r)
            print(f"run {run + 1}: " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float)
                                                 else f"{k}={v}" for k, v in r.items()))
    print(f"load after: {os.getloadavg()}")
    for key in ("p50_ms", "p99_ms", "max_ms", "rps", "hub_cpu", "wall", "gen_cpu", "errors",
                "synced"):
        values = [r[key] for r in results]
        print(f"{key}: {min(values):.1f} .. {max(values):.1f}")


async def _page(port: int) -> bytes:
    stream = await trio.open_tcp_stream(HOST, port)
    async with stream:
        await stream.send_all(f"GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
                              .encode())
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1]


if __name__ == "__main__":
    main()
