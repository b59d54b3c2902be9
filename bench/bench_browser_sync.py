"""A resident's browser node joins a hub holding N messages: how long until it has them all.

    python bench/bench_browser_sync.py [--messages 5000] [--runs 3]

A hub daemon with `[web]` on holds `--messages` posts (signed beforehand by many authors,
stored before it starts). In each run a fresh headless Chromium (Debian's `chromium`, an empty
profile: a phone that never synced) opens the app at ``/app/`` and syncs over the WebSocket:
reconciliation (§10.2), then every message as a `Msg` frame, each validated (signature
included) and written to IndexedDB by the page. Reported per run, measured in the page:
`reconcile_s` (both Hellos in to the end of reconciliation), `sync_s` (WebSocket open to the
end of the exchange: both Dones), `all_held_s` (WebSocket open to every message checked and
held, polled every 0.1 s); the page's main-thread busy time (`Performance`
metrics `TaskDuration`, and `ScriptDuration` of it), the CPU time of all Chromium processes
(utime+stime from /proc), and the hub's CPU time. Also the app's size as a phone downloads it.
`--no-webcrypto` hides the browser's WebCrypto from the page, as a steunpunt's plain-HTTP LAN
address does, so that signatures are checked by the app's own JavaScript Ed25519.
`--profile N` samples the page's JavaScript with the DevTools protocol's `Profiler` in each run
and prints the N functions with the most self time (the sampling slows the page: its times
are not the benchmark's). Every wait is bounded by `--deadline`; the daemon and browsers are
stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gzip
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_daemon import cpu_of, cpu_seconds
from common import header

from meshnode.daemon.localnet import LocalNet
from meshnode.daemon.web.appfiles import AppFiles
from tests.daemons import fast_config, make_posts, prefill, wait_for
from tests.web.conftest import free_tcp_port, make_driver, web_config


def app_size() -> tuple[int, int]:
    """The app's files (what the service worker keeps): bytes, and gzip-compressed."""
    files = AppFiles.load().files
    return (sum(len(f.body) for f in files.values()),
            sum(len(gzip.compress(f.body, 9)) for f in files.values()))


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def browser_cpu(driver: Any) -> float:
    """CPU seconds of the chromedriver's Chromium processes alive now."""
    tree, total = _children(), 0.0
    todo = list(tree.get(driver.service.process.pid, []))
    while todo:
        pid = todo.pop()
        todo += tree.get(pid, [])
        with contextlib.suppress(OSError, IndexError, ValueError):  # ended meanwhile
            total += cpu_of(pid)
    return total


def self_times(profile: dict[str, Any]) -> dict[str, float]:
    """Seconds of self time by function (`name file:line`) in a `Profiler.stop` profile."""
    nodes = {n["id"]: n["callFrame"] for n in profile["nodes"]}
    out: dict[str, float] = {}
    for node_id, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        f = nodes[node_id]
        where = f"{f['functionName'] or '(anonymous)'} {f['url'].rsplit('/', 1)[-1]}:" \
            f"{f['lineNumber'] + 1}" if f["url"] else f["functionName"]
        out[where] = out.get(where, 0.0) + delta / 1e6
    return out


def _metrics(driver: Any) -> dict[str, float]:
    got = driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
    return {m["name"]: float(m["value"]) for m in got}


# As on a steunpunt's plain http:// LAN address, where the browser offers no WebCrypto: the
# page falls back to its own JavaScript Ed25519.
NO_WEBCRYPTO = "Object.defineProperty(Crypto.prototype, 'subtle', {get: () => undefined});"


def one_run(base: str, messages: int, deadline: float, hub_pid: int,
            webcrypto: bool, profile: int = 0) -> dict[str, float]:
    driver = make_driver(360, 740, javascript=True, scale=1.0)
    try:
        driver.execute_cdp_cmd("Performance.enable", {})
        if profile:
            driver.execute_cdp_cmd("Profiler.enable", {})
            driver.execute_cdp_cmd("Profiler.setSamplingInterval", {"interval": 1000})
            driver.execute_cdp_cmd("Profiler.start", {})
        if not webcrypto:
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                                   {"source": NO_WEBCRYPTO})
        cpu0, hub0 = browser_cpu(driver), cpu_of(hub_pid)
        driver.get(base + "/app/")
        m0 = _metrics(driver)

        held_at: list[float] = []

        def done() -> bool:
            t = driver.execute_script(
                "const m = window.meshnode; return m && m.state.syncedAt !== undefined"
                " && m.node.held.size >= arguments[0] && m.node.checking === 0"
                " ? performance.now() : null", messages)
            held_at.extend([] if t is None else [float(t)])
            return t is not None

        wait_for(f"{messages} messages in the browser", done, deadline, every=0.1)
        m1 = _metrics(driver)
        if profile:
            times = self_times(driver.execute_cdp_cmd("Profiler.stop", {})["profile"])
            for where, t in sorted(times.items(), key=lambda kv: -kv[1])[:profile]:
                print(f"  {t:6.2f} s  {where}")
        page = driver.execute_script(
            "const s = window.meshnode.state; return [s.openedAt, s.syncedAt, "
            "s.link ? s.link.stats.reconciled : null, window.meshnode.node.held.size, "
            "s.link ? s.link.initiator : null]")
        native = driver.execute_script(
            "return import('/app/wire.js').then((w) => w.nativeEd25519())")
        assert native is webcrypto, f"WebCrypto Ed25519 used: {native}, wanted {webcrypto}"
        cpu1, hub1 = browser_cpu(driver), cpu_of(hub_pid)
    finally:
        driver.quit()
    return {"sync_s": (page[1] - page[0]) / 1000, "all_held_s": (held_at[0] - page[0]) / 1000,
            "reconcile_s": (page[2] or 0) / 1000,
            "held": page[3], "browser_initiated": float(bool(page[4])),
            "task_s": m1["TaskDuration"] - m0["TaskDuration"],
            "script_s": m1["ScriptDuration"] - m0["ScriptDuration"],
            "browser_cpu_s": cpu1 - cpu0, "hub_cpu_s": hub1 - hub0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--no-webcrypto", action="store_true",
                        help="hide WebCrypto from the page (as on plain http on a LAN)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the N JavaScript functions with the most self time per run")
    args = parser.parse_args()
    header("A browser node syncs with a hub"
           + (" (no WebCrypto: JavaScript Ed25519)" if args.no_webcrypto else ""))
    size, compressed = app_size()
    print(f"app: {size:,} bytes, {compressed:,} gzip-compressed (every file the app loads)")
    print(f"load before: {os.getloadavg()}")
    root = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    port = free_tcp_port()
    with LocalNet.line(root, ["hub"], fast_config()) as net:
        hub = net["hub"]
        hub.config = dataclasses.replace(hub.config, web=web_config(port))
        hub.setup()
        prefill(hub, make_posts(args.messages, channel="wijk-noord"))
        net.start()
        assert hub.process is not None
        results = []
        for run in range(args.runs):
            r = one_run(f"http://127.0.0.1:{port}", args.messages, args.deadline,
                        hub.process.pid, not args.no_webcrypto, args.profile)
            results.append(r)
            print(f"run {run + 1}: " + ", ".join(f"{k}={v:.2f}" for k, v in r.items()))
        print(f"hub CPU total: {cpu_seconds(hub):.1f} s")
    print(f"load after: {os.getloadavg()}")
    for key in results[0]:
        values = [r[key] for r in results]
        print(f"{key}: {min(values):.2f} .. {max(values):.2f} "
              f"(median {statistics.median(values):.2f})")


if __name__ == "__main__":
    main()
