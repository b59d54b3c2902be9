"""Datagrams the daemon resends while it sends a peer thousands of posts over loopback UDP.

    python bench/bench_udp_resend.py [--posts 2000]

A real `meshnode run` daemon and the independent peer (tests/independent/peer.mjs, Node.js)
that links with it: the peer prefills the daemon with `--posts` posts through the API, then
reconciles them into its own store over one UDP link (docs/protocol.md §13), acknowledging
every 8 datagrams. Nothing is lost on loopback, so every resend is spurious. Prints the
daemon's DATA datagrams sent and resent (its `status` → `transport`), the duplicates the peer
received, the first contact's wall time and posts/s, the daemon's CPU time for the whole run,
and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from meshnode.daemon import api  # noqa: E402
from meshnode.daemon.client import ApiClient  # noqa: E402
from meshnode.daemon.localnet import free_udp_ports  # noqa: E402

PEER = ROOT / "tests" / "independent" / "peer.mjs"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def run(posts: int, tmp: Path) -> None:
    cli = [sys.executable, "-m", "cli.main"]
    (port,) = free_udp_ports(1)
    listen = f"127.0.0.1:{port}"
    data = tmp / "d"
    subprocess.run([*cli, "init", "--data-dir", str(data), "--listen", listen,
                    "--no-discovery", "--no-ble", "--name", "daemon"],
                   check=True, capture_output=True, cwd=ROOT)
    with (tmp / "daemon.log").open("w") as log:
        daemon = subprocess.Popen([*cli, "run", "--data-dir", str(data)], stdout=log,
                                  stderr=log, cwd=ROOT)
        try:
            load_before = load()
            node = shutil.which("node") or "node"
            out = subprocess.run(
                [node, str(PEER), "run", "--daemon", listen, "--api", str(data / "api.sock"),
                 "--posts", str(posts), "--timeout", "120", "--roles", "initiator,responder"],
                capture_output=True, text=True, timeout=180)
            result = json.loads(out.stdout)
            if "error" in result:
                raise SystemExit(f"the peer failed: {result['error']}\n{out.stderr}")
            with ApiClient(data / "api.sock") as client:
                transport = client.request(api.Status())["transport"]
            cpu = cpu_seconds(daemon.pid)
        finally:
            daemon.terminate()
            daemon.wait(timeout=20)
    first = result["first"]
    seconds = first["ms"] / 1000
    sent, resent = transport["data_out"], transport["resent"]
    print("| posts | DATA sent | resent | resent/sent | duplicates at the peer "
          "| first contact s | posts/s | daemon CPU s (whole run) | load before/after |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {posts:,} | {sent:,} | {resent:,} | {resent / max(sent, 1):.2f} | "
          f"{first['link'].get('dup', 0):,} | {seconds:.2f} | {first['received'] / seconds:,.0f} | "
          f"{cpu:.2f} | {load_before}/{load()} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-udp-resend-") as tmp:
        run(args.posts, Path(tmp))


if __name__ == "__main__":
    main()
