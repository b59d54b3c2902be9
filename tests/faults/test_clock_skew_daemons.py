"""Two real daemons (in one process, real UDP sockets on loopback, real SQLite files) whose
clocks are an hour apart, through the daemon's `clock`: posts, DMs with their receipts and
an authority's alert cross in both directions."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import trio

from meshnode.alerts.examples import example_nl_alert
from meshnode.crypto.identity import Identity
from meshnode.crypto.trustfile import install_root
from meshnode.daemon import api
from meshnode.daemon.daemon import Daemon
from meshnode.daemon.localnet import free_udp_ports
from meshnode.transport.udp import Endpoint
from meshnode.wire import decode_message, encode_message
from tests.daemons import make_authority
from tests.faults.helpers import fault_config, until

pytestmark = pytest.mark.slow
HOUR = 3_600


@pytest.mark.parametrize("offset", [HOUR, -HOUR])
def test_daemons_an_hour_apart_exchange_posts_dms_and_alerts(tmp_path: Path,
                                                             offset: int) -> None:
    authority = make_authority(tmp_path / "authority")
    ports = free_udp_ports(2)
    base = fault_config()
    daemons: list[Daemon] = []
    for i, skew in enumerate((0, offset)):
        data_dir = tmp_path / f"node{i}"
        data_dir.mkdir(mode=0o700)
        install_root(data_dir, authority.root_pub)
        udp = dataclasses.replace(base.udp, listen=Endpoint("127.0.0.1", ports[i]),
                                  peers=(Endpoint("127.0.0.1", ports[1 - i]),))
        daemons.append(Daemon(data_dir, dataclasses.replace(base, udp=udp),
                              Identity.generate(), clock=lambda s=skew: time.time() + s,
                              handle_signals=False))

    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            for d in daemons:
                await nursery.start(d.run)
            await until("the link", lambda: all(d.node.links() for d in daemons))
            ids: dict[int, dict[str, bytes]] = {}
            for i, (me, peer) in enumerate(((daemons[0], daemons[1]),
                                            (daemons[1], daemons[0]))):
                pub = peer.node.identity.public
                await me.call(api.ContactAdd("peer", sign_key=pub.sign_key, dh_key=pub.dh_key))
                alert = authority.alert(seq=i + 1)
                ids[i] = {
                    "post": bytes.fromhex((await me.call(api.Post("wijk-noord", f"post {i}")))
                                          ["id"]),
                    "dm": bytes.fromhex((await me.call(api.SendDm("peer", f"dm {i}")))["id"]),
                    "alert": decode_message(alert).id,
                }
                assert (await me.call(api.Inject(alert)))["accepted"] is True
            for i, (me, peer) in enumerate(((daemons[0], daemons[1]),
                                            (daemons[1], daemons[0]))):
                await until(f"post and alert {i} at the peer", lambda p=peer, i=i: all(
                    p.node.store.has(ids[i][k]) for k in ("post", "alert")))
                await until(f"dm {i} opened", lambda p=peer, i=i: [
                    d.text for d in p.inbox.received()] == [f"dm {i}"])
                await until(f"dm {i} delivered", lambda m=me: [
                    d.delivered is not None for d in m.inbox.sent()] == [True])
                alerts = (await peer.call(api.Alerts()))["alerts"]
                assert {a["id"] for a in alerts} == {ids[0]["alert"].hex(),
                                                     ids[1]["alert"].hex()}
            for d in daemons:
                rejected = (await d.call(api.Status()))["counters"]["rejected"]
                assert rejected == {}, rejected
            nursery.cancel_scope.cancel()

    trio.run(scenario)


def test_a_daemon_whose_clock_ran_hours_ahead_shows_the_alert_once_corrected(
        tmp_path: Path) -> None:
    """A hub 3 hours ahead refuses a valid one-hour alert as expired; set right (the clock
    steps back, as when NTP or GNSS returns), the same daemon, still running, accepts and
    shows it at the next sync: the refusal was not remembered."""
    authority = make_authority(tmp_path / "authority")
    ports = free_udp_ports(2)
    base = fault_config()
    offset = {"hub": 3 * HOUR}
    daemons: list[Daemon] = []
    for i, name in enumerate(("source", "hub")):
        data_dir = tmp_path / name
        data_dir.mkdir(mode=0o700)
        install_root(data_dir, authority.root_pub)
        udp = dataclasses.replace(base.udp, listen=Endpoint("127.0.0.1", ports[i]),
                                  peers=(Endpoint("127.0.0.1", ports[1 - i]),))
        daemons.append(Daemon(data_dir, dataclasses.replace(base, udp=udp),
                              Identity.generate(),
                              clock=lambda n=name: time.time() + offset.get(n, 0),
                              handle_signals=False))
    source, hub = daemons
    now = int(time.time())
    alert = encode_message(authority.example.alert(
        now, alert=example_nl_alert(now, lifetime=HOUR), identifier=f"short.{now}"))
    alert_id = decode_message(alert).id

    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            for d in daemons:
                await nursery.start(d.run)
            assert (await source.call(api.Inject(alert)))["accepted"] is True
            await until("the hub refusing it as expired", lambda: any(
                "expired" in reason for reason in hub.node.stats.rejected))
            assert not hub.node.held.has(alert_id)
            offset["hub"] = 0
            await until("the alert at the corrected hub", lambda: hub.node.held.has(alert_id))
            alerts = (await hub.call(api.Alerts()))["alerts"]
            assert [a["id"] for a in alerts] == [alert_id.hex()]
            nursery.cancel_scope.cancel()

    trio.run(scenario)
