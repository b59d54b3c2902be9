"""`meshnode demo`: a small mesh of real daemons on this machine, with no configuration.

Four daemons (separate processes) run on 127.0.0.1 in a line — Anna – Bram – Carla – Daan —
each knowing only its neighbours' UDP ports. A throw-away root and safety region (the software
ships no real root) sign an NL-Alert; Anna's node verifies it and the alert crosses the line,
verified again at every hop. A forged copy is refused. Anna sends Daan a sealed direct message
that the relays carry without reading it, and Daan's receipt comes back. The demo prints what
arrived where and how long it took, stops the daemons and removes its temporary files.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cli.errors import CliError
from meshnode.alerts.examples import example_authority
from meshnode.daemon import api
from meshnode.daemon.config import DaemonConfig
from meshnode.daemon.localnet import LocalNet, LocalNode, NodeFailed
from meshnode.wire import encode_message

NAMES = ("Anna", "Bram", "Carla", "Daan", "Eva", "Femke", "Gijs", "Hanna")
DM_TEXT = "Are you OK? We have spare water at the school gym."
PERNIS = (51.885, 4.33)  # inside the example alert's area
WAIT = 30.0


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run a small mesh of real daemons on this machine and push "
                                    "an alert and a direct message across it (no setup needed)")
    p.add_argument("--nodes", type=int, default=4, help=f"daemons in the line (3..{len(NAMES)})")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.add_argument("--keep", action="store_true", help="keep the temporary data directories")
    p.set_defaults(handler=run)


class _Watcher(threading.Thread):
    """Records one daemon's events with the time they arrived."""

    def __init__(self, node: LocalNode) -> None:
        super().__init__(daemon=True, name=f"events-{node.name}")
        self.node = node
        self.client = node.client(timeout=None)
        self.client.connect()
        self.client.request(api.Subscribe(("alert_received", "dm_received", "dm_delivered",
                                           "dm_carried")))
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.changed = threading.Condition()

    def run(self) -> None:
        try:
            for event in self.client.events():
                with self.changed:
                    self.events.append((time.monotonic(), event.event, event.data))
                    self.changed.notify_all()
        except (OSError, ValueError, api.ApiError):
            pass  # the daemon stopped or the socket was closed: nothing more to record

    def first(self, name: str) -> tuple[float, dict[str, Any]] | None:
        return next(((t, d) for t, n, d in self.events if n == name), None)

    def stop(self) -> None:
        self.client.shutdown()
        self.join(5.0)
        self.client.close()


def _authority(folder: Path, now: int) -> tuple[Path, bytes, bytes, int]:
    """A throw-away root and safety region; returns root.pub, the alert, a forgery, its size."""
    folder.mkdir(parents=True)
    authority = example_authority(now, root_name="Demo root (throw-away)",
                                  issuer_name="Veiligheidsregio Rotterdam-Rijnmond (demo)",
                                  issuer_id="demo-vr17")
    root_pub = authority.write_root(folder / "root.pub")
    alert = encode_message(authority.alert(now))
    forged = bytearray(alert)
    forged[len(forged) // 2] ^= 0x01  # one bit in the signed body
    return root_pub, alert, bytes(forged), len(alert)


def _wait_links(net: LocalNet, deadline: float) -> None:
    for i, node in enumerate(net.nodes):
        want = (i > 0) + (i < len(net.nodes) - 1)
        while node.request(api.Status())["links"] < want:
            if time.monotonic() > deadline:
                raise CliError(f"{node.name}'s links did not come up:\n{node.tail()}")
            time.sleep(0.02)


def _wait(watchers: list[_Watcher], done: Any, deadline: float) -> bool:
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        with watchers[0].changed:
            watchers[0].changed.wait(min(left, 0.05))
    return True


def _ms(t: float | None, t0: float) -> float | None:
    return None if t is None else round((t - t0) * 1000, 1)


def run(args: argparse.Namespace) -> int:
    if not 3 <= args.nodes <= len(NAMES):
        raise CliError(f"--nodes must be 3..{len(NAMES)}")
    console = Console(quiet=args.json)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="meshnode-demo-"))
    names = NAMES[:args.nodes]
    base = DaemonConfig()
    config = dataclasses.replace(
        base, node=dataclasses.replace(base.node, location=PERNIS),
        udp=dataclasses.replace(base.udp, keepalive=0.5, link_timeout=3.0))
    net = LocalNet.line(tmp, names, config)
    watchers: list[_Watcher] = []
    summary: dict[str, Any] = {"nodes": list(names)}
    try:
        now = int(time.time())
        root_pub, alert, forged, alert_size = _authority(tmp / "authority", now)
        console.rule(f"[bold]meshnode demo: {len(names)} daemons in a line on 127.0.0.1")
        try:
            net.start(roots=[root_pub])
        except NodeFailed as exc:
            raise CliError(f"a daemon did not start: {exc}") from exc
        summary["daemon_pids"] = [n.process.pid for n in net.nodes if n.process is not None]
        _wait_links(net, time.monotonic() + WAIT)
        line = " ── ".join(f"{n.name} :{n.config.udp.listen.port}" for n in net.nodes)
        console.print(f"Each knows only its neighbours: {line}")
        summary["startup_s"] = round(time.monotonic() - started, 2)
        watchers = [_Watcher(node) for node in net.nodes]
        for w in watchers:
            w.start()
        first, last = net.nodes[0], net.nodes[-1]
        peer = last.request(api.Whoami())
        first.request(api.ContactAdd(last.name, sign_key=bytes.fromhex(peer["sign_key"]),
                                     dh_key=bytes.fromhex(peer["dh_key"])))

        t_alert = time.monotonic()
        first.request(api.Inject(alert))
        try:
            first.request(api.Inject(forged))
            summary["forged_alert_refused"] = False
        except api.ApiError as exc:
            summary["forged_alert_refused"] = True
            summary["forged_alert_reason"] = exc.message
        t_dm = time.monotonic()
        dm = first.request(api.SendDm(last.name, DM_TEXT))

        def done() -> bool:
            return (all(w.first("alert_received") for w in watchers)
                    and watchers[-1].first("dm_received") is not None
                    and watchers[0].first("dm_delivered") is not None)

        complete = _wait(watchers, done, time.monotonic() + WAIT)
        alert_at = {w.node.name: _ms((w.first("alert_received") or (None, {}))[0], t_alert)
                    for w in watchers}
        got_dm = watchers[-1].first("dm_received")
        receipt = watchers[0].first("dm_delivered")
        relays_read = any(w.first("dm_received") for w in watchers[:-1])
        covers = (watchers[-1].first("alert_received") or (0.0, {}))[1].get("covers_here")
        summary["alert"] = {"bytes": alert_size, "arrived_ms": alert_at,
                            "everywhere": all(v is not None for v in alert_at.values()),
                            "covers_last_node": covers}
        summary["dm"] = {
            "id": dm["id"], "sent": DM_TEXT,
            "delivered_text": None if got_dm is None else got_dm[1]["text"],
            "from_first_node": got_dm is not None
            and got_dm[1]["from"]["fingerprint"] == first.identity.fingerprint,
            "ms": _ms(None if got_dm is None else got_dm[0], t_dm),
            "receipt_ms": _ms(None if receipt is None else receipt[0], t_dm),
            "relays_could_read": relays_read,
        }
        summary["complete"] = complete

        table = Table("node", "alert verified after", "direct message")
        for i, w in enumerate(watchers):
            arrived = alert_at[w.node.name]
            role = ("sent it" if i == 0 else "opened it" if i == len(watchers) - 1
                    else "carried it, could not read it")
            table.add_row(w.node.name, "-" if arrived is None else f"{arrived} ms", role)
        console.print(f"A safety region signs an NL-Alert ({alert_size:,} bytes); Anna's node "
                      "verifies it through its certificate chain and every hop does the same:")
        console.print(table)
        console.print(f"A copy with one flipped bit is refused: [yellow]"
                      f"{summary.get('forged_alert_reason', 'ACCEPTED (a bug)')}[/]")
        if got_dm is not None:
            console.print(f"{last.name} opens Anna's sealed message after "
                          f"{summary['dm']['ms']} ms: [green]“{got_dm[1]['text']}”[/]")
        if receipt is not None:
            console.print(f"{last.name}'s signed receipt is back at Anna after "
                          f"{summary['dm']['receipt_ms']} ms; relays drop their copies")
        if covers:
            console.print(f"The alert's area covers {last.name}'s location (Pernis).")
    finally:
        for w in watchers:
            w.stop()
        codes = net.stop()
        summary["clean_shutdown"] = all(code == 0 for code in codes.values())
        if args.keep:
            console.print(f"Data directories kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    summary["elapsed_s"] = round(time.monotonic() - started, 2)
    console.print(f"Stopped {len(names)} daemons cleanly: {summary['clean_shutdown']}; "
                  f"{summary['elapsed_s']} s in all")
    console.rule("done")
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    ok = (summary["complete"] and summary["forged_alert_refused"]
          and not summary["dm"]["relays_could_read"] and summary["clean_shutdown"])
    return 0 if ok else 1
