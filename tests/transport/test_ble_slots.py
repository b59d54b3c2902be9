"""The connection slot rule driven by a real daemon: it tells its BLE transport which links
idle (`Node.idle_since`), and a full central gives one up for a newcomer.

A real `Daemon` (SQLite files) runs the real `BleTransport` against the mock BlueZ on a
private dbus-daemon (tests/transport/conftest.py); the peers are real `Node`s behind mock
GATT devices.
"""

from __future__ import annotations

import secrets
from functools import partial
from pathlib import Path

import trio

from meshnode.crypto.identity import Identity
from meshnode.daemon.daemon import Daemon
from meshnode.transport.ble import BleTransport
from meshnode.transport.ble_config import BleConfig
from tests.daemons import fast_config
from tests.polling import until
from tests.transport.ble_harness import GattPeer, LoopThread, post_ids, two_peers
from tests.transport.fakebluez import FakeBlueZ

ONE_SLOT = BleConfig(peripheral=False, scan_window=1.0, scan_interval=1.0, max_central_links=1,
                     connect_timeout=5.0, yield_time=0.0, mtu_wait=0.5, call_timeout=5.0,
                     backoff_initial=0.2, backoff_max=1.0, slot_idle_for=0.5)

_until = partial(until, timeout=30.0)


def _run(bluez: FakeBlueZ, peer_loop: LoopThread, tmp_path: Path, config: BleConfig
         ) -> tuple[dict[str, GattPeer], str, str]:
    """A daemon with one central slot among a strong and a weak peer, until the weak one
    (heard all along, never linked) is connected; returns the peers and their paths."""
    two = two_peers(bluez, peer_loop, posts=2)
    peers, nodes, strong, weak = two.peers, two.nodes, two.strong, two.weak
    data_dir = tmp_path / "node"
    data_dir.mkdir(mode=0o700)
    transport = BleTransport(config, secret=secrets.token_bytes(32))
    daemon = Daemon(data_dir, fast_config(), Identity.generate(), transports=[transport],
                    handle_signals=False)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(daemon.run)
            await _until(lambda: bool(bluez.calls(weak, "Connect")))
            await _until(lambda: post_ids(daemon.node) >= post_ids(nodes[weak]))
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        two.stop(peer_loop)
    return peers, strong, weak


def test_a_daemon_whose_slot_is_full_gives_up_an_idle_link_for_a_newcomer(
        bluez: FakeBlueZ, peer_loop: LoopThread, tmp_path: Path) -> None:
    """The strong peer takes the only slot and syncs; the daemon reports the link idle, so
    the transport scans again, closes that link and connects the weak peer (which, without
    the rule, would wait for the strong one to leave)."""
    peers, strong, weak = _run(bluez, peer_loop, tmp_path, ONE_SLOT)
    assert peers[strong].stats.connections == 1  # not connected again: revisit_after
    assert peers[weak].stats.connections == 1
    assert bluez.calls(strong, "Disconnect")
    connects = [bluez.calls(device, "Connect") for device in (strong, weak)]
    assert len(connects[0]) == 1 and len(connects[1]) == 1

