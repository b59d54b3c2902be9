"""The clock floor: verified alerts prove a lower bound on the current time (an issuer cannot
have signed in its own future), which a node keeps in its store and checks authority messages
against when its own clock is behind (a Raspberry Pi hub without a real-time clock boots with a
stale time, and NTP is gone in an outage). Sans-IO nodes on real SQLite stores, and a real
daemon with a wrong `clock` that says so in its status, its log and `meshnode status`."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import pytest
import trio

from cli.main import main
from meshnode import wire
from meshnode.alerts.examples import example_nl_alert
from meshnode.crypto.authority import create_revocation
from meshnode.crypto.identity import Identity
from meshnode.crypto.trustfile import install_root
from meshnode.daemon import api
from meshnode.daemon.daemon import Daemon
from meshnode.daemon.localnet import free_udp_ports
from meshnode.events import AlertReceived, Rejected
from meshnode.node import Node
from meshnode.store import SqliteStore
from meshnode.transport.udp import Endpoint
from tests.crypto.chain import NOW, Chain, make_chain
from tests.daemons import make_authority
from tests.faults.helpers import fault_config, until

DAY, HOUR = 86_400, 3_600
STALE = NOW - 2 * DAY  # the clock of a hub that booted with the time it last shut down at


def _alert(chain: Chain, sent: int, seq: int, *, lifetime: int = 6 * HOUR,
           key: object = None) -> bytes:
    alert = dataclasses.replace(example_nl_alert(sent, lifetime=lifetime),
                                identifier=f"floor.{seq}")
    return wire.encode_message(chain.alert(alert, seq=seq, key=key))  # type: ignore[arg-type]


def _store(path: Path) -> SqliteStore:
    return SqliteStore(path, 1 << 22)


def test_a_node_days_behind_accepts_a_valid_alert_and_keeps_the_floor_it_proves(
        tmp_path: Path) -> None:
    chain = make_chain()
    store = _store(tmp_path / "messages.db")
    node = Node(Identity.generate(), store, chain.trust, STALE)
    assert node.clock_floor == 0
    verdict, out = node.inject(_alert(chain, NOW, 1), STALE)
    assert verdict.accepted, verdict
    assert [type(o) for o in out if isinstance(o, AlertReceived)] == [AlertReceived]
    assert node.clock_floor == NOW
    store.close()
    # Durable: a restart (still with the stale clock) starts from the same floor, and the
    # alert it holds is still valid by it.
    store = _store(tmp_path / "messages.db")
    again = Node(Identity.generate(), store, chain.trust, STALE)
    assert again.clock_floor == NOW
    assert again.inject(_alert(chain, NOW + 60, 2), STALE).verdict.accepted
    store.close()


def test_alert_checks_never_run_below_the_floor(tmp_path: Path) -> None:
    """A replayed alert that expired before the floor is refused, although the node's own
    (stale) clock would still call it valid."""
    chain = make_chain()
    node = Node(Identity.generate(), _store(tmp_path / "m.db"), chain.trust, STALE)
    assert node.inject(_alert(chain, NOW, 2), STALE).verdict.accepted
    old = _alert(chain, NOW - 12 * HOUR, 1, lifetime=6 * HOUR)  # valid at STALE + 1.5 days
    verdict, out = node.inject(old, STALE)
    assert not verdict.accepted
    [refused] = [o for o in out if isinstance(o, Rejected)]
    assert "alert expired" in refused.reason


def test_a_forged_alert_from_the_future_does_not_move_the_floor(tmp_path: Path) -> None:
    chain = make_chain()
    node = Node(Identity.generate(), _store(tmp_path / "m.db"), chain.trust, NOW)
    forged = _alert(chain, NOW + 20 * DAY, 1, key=Identity.generate().signing)
    assert not node.inject(forged, NOW).verdict.accepted
    assert node.clock_floor == 0
    # Signed by the issuer, but after its certificate ends: no proof of anything either.
    late = _alert(chain, NOW + 40 * DAY, 2)
    assert not node.inject(late, NOW).verdict.accepted
    assert node.clock_floor == 0


@pytest.mark.slow
def test_a_daemon_with_a_clock_days_behind_shows_the_alert_and_warns_loudly(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    authority = make_authority(tmp_path / "authority")
    data_dir = tmp_path / "hub"
    data_dir.mkdir(mode=0o700)
    install_root(data_dir, authority.root_pub)
    base = fault_config()
    [port] = free_udp_ports(1)
    config = dataclasses.replace(base, udp=dataclasses.replace(
        base.udp, listen=Endpoint("127.0.0.1", port), peers=()))
    behind = 2 * DAY
    hub = Daemon(data_dir, config, Identity.generate(), clock=lambda: time.time() - behind,
                 handle_signals=False)
    now = int(time.time())
    alert = wire.encode_message(authority.example.alert(now, identifier=f"floor.{now}"))

    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(hub.run)
            assert (await hub.call(api.Inject(alert)))["accepted"] is True
            alerts = (await hub.call(api.Alerts()))["alerts"]
            assert [a["id"] for a in alerts] == [wire.decode_message(alert).id.hex()]
            clock = (await hub.call(api.Status()))["clock"]
            assert clock["floor"] == now and clock["behind"] >= behind - 60
            assert "clock is at least" in clock["warning"] and "GNSS" in clock["warning"]
            await until("the log line", lambda: any(
                r.getMessage() == "clock_behind" for r in caplog.records))
            code = await trio.to_thread.run_sync(
                lambda: main(["--data-dir", str(data_dir), "status"]))
            assert code == 0
            nursery.cancel_scope.cancel()

    with caplog.at_level(logging.WARNING, logger="meshnode.daemon"):
        trio.run(scenario)
    assert "WARNING     CLOCK WRONG: this node's clock is at least" in capsys.readouterr().out


def test_revoking_a_stolen_issuer_key_takes_back_the_floor_it_pushed(tmp_path: Path) -> None:
    """A stolen issuer key signs an alert "sent" weeks ahead (within its certificate), which
    proves a floor that would make every genuine alert look expired. Once the root revokes
    that certificate, the floor falls back to what the remaining alerts prove."""
    chain = make_chain()
    other = chain.with_cert(serial=chain.cert.serial + 1)  # a second, honest certificate
    node = Node(Identity.generate(), _store(tmp_path / "m.db"), chain.trust, NOW)
    assert node.inject(wire.encode_message(other.alert(
        dataclasses.replace(example_nl_alert(NOW), identifier="honest"), seq=1,
        cert_msg=other.cert_msg)), NOW).verdict.accepted
    pushed = _alert(chain, NOW + 20 * DAY, 2)
    assert node.inject(pushed, NOW).verdict.accepted
    assert node.clock_floor == NOW + 20 * DAY
    revocation = create_revocation(chain.root, [chain.cert.serial], NOW)
    assert node.inject(wire.encode_message(revocation), NOW).verdict.accepted
    assert node.clock_floor == NOW
    assert node.inject(_alert(other, NOW + 60, 3), NOW).verdict.accepted
