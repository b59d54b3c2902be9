"""The central role against a mock BlueZ: real bleak, real framing, real `Node`s.

The peer is a `Node` behind a mock device's GATT characteristics (`GattPeer`); our side is
`BleTransport` driven like the daemon drives it (`NodeDriver`).
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import replace

import trio
from dbus_fast import Message
from dbus_fast.aio import MessageBus

from meshnode.transport.base import LinkDown, LinkUp
from meshnode.transport.ble import BleTransport
from meshnode.transport.ble_config import BACKOFF_JITTER, BleConfig, backoff_delay
from meshnode.transport.ble_profile import encode_token_value, service_data
from tests.transport.ble_harness import (
    GattPeer,
    LoopThread,
    NodeDriver,
    make_node,
    post_ids,
    two_peers,
)
from tests.transport.fakebluez import FakeBlueZ

FAST = BleConfig(peripheral=False, scan_window=1.0, scan_interval=1.0, revisit_after=0.0,
            backoff_initial=0.2, backoff_max=1.0, connect_timeout=5.0, yield_time=0.0,
            mtu_wait=0.5, call_timeout=5.0)


def test_sync_survives_a_cut_link(bluez: FakeBlueZ, peer_loop: LoopThread) -> None:
    """Discovery by service data, connect, MTU, a full sync cut in the middle and resumed."""
    adapter = bluez.add_adapter()
    ours, theirs = make_node(1, posts=8), make_node(2, posts=60)
    expected = post_ids(ours) | post_ids(theirs)
    device = bluez.add_peer("C0:FF:EE:00:00:01", service_data(secrets.token_bytes(8)), mtu=247)
    peer = GattPeer(bluez.bus.address, device, theirs, payload=244, cut_after=4)
    peer_loop.run(peer.start)
    driver = NodeDriver(BleTransport(FAST, secret=secrets.token_bytes(32)), ours)
    at_cut: dict[str, int] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            await driver.wait_for(lambda: bool(driver.of(LinkDown)))
            at_cut["ours"] = len(post_ids(ours))
            await driver.wait_for(lambda: post_ids(ours) == expected
                                  and post_ids(theirs) == expected)
            nursery.cancel_scope.cancel()

    trio.run(main)
    peer_loop.run(peer.stop)
    ups = driver.of(LinkUp)
    assert len(ups) >= 2 and peer.stats.connections >= 2
    assert {u.mtu for u in ups} == {244}  # the RX characteristic's MTU (247) minus 3
    assert ups[0].link != ups[1].link  # a reconnection is a new link
    assert at_cut["ours"] < len(expected)  # the first link really was cut mid-sync
    assert post_ids(ours) == expected == post_ids(theirs)
    calls = bluez.calls(adapter, "StartDiscovery")
    assert calls  # it scanned


def _connect_times(peer_loop: LoopThread, address: str, device: str) -> list[float]:
    """Monotonic times of the mock device's Connect calls, as they happen."""
    times: list[float] = []

    async def listen() -> None:
        bus = await MessageBus(bus_address=address).connect()
        await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                               interface="org.freedesktop.DBus", member="AddMatch",
                               signature="s", body=[
                                   "type='signal',interface='org.freedesktop.DBus.Mock',"
                                   f"member='MethodCalled',path='{device}'"]))

        def on(msg: Message) -> None:
            if msg.member == "MethodCalled" and msg.body[0] == "Connect":
                times.append(time.monotonic())

        bus.add_message_handler(on)

    peer_loop.run(listen)
    return times


def test_backs_off_exponentially_then_connects(bluez: FakeBlueZ, peer_loop: LoopThread) -> None:
    """Refused connections are retried ever more slowly; without BlueZ's MTU property the
    payload size comes from AcquireWrite."""
    bluez.add_adapter()
    ours, theirs = make_node(1, posts=2), make_node(2, posts=2)
    device = bluez.add_peer("C0:FF:EE:00:00:02", service_data(secrets.token_bytes(8)),
                            mtu_property=False, acquire_mtu=185)
    bluez.test("SetRefuse", device, True)
    times = _connect_times(peer_loop, bluez.bus.address, device)
    peer = GattPeer(bluez.bus.address, device, theirs, payload=182)
    peer_loop.run(peer.start)
    config = replace(FAST, backoff_initial=0.3, backoff_max=5.0)
    driver = NodeDriver(BleTransport(config, secret=secrets.token_bytes(32)), ours)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            await driver.wait_for(lambda: len(times) >= 4)
            bluez.test("SetRefuse", device, False)
            await driver.wait_for(lambda: bool(driver.of(LinkUp)))
            await driver.wait_for(lambda: post_ids(ours) == post_ids(theirs))
            nursery.cancel_scope.cancel()

    trio.run(main)
    peer_loop.run(peer.stop)
    gaps = [b - a for a, b in itertools.pairwise(times)][:3]
    for failures, gap in enumerate(gaps, start=1):  # at least the back-off, less its jitter
        assert gap >= backoff_delay(config.backoff_initial, config.backoff_max, failures,
                                    BACKOFF_JITTER[0])
    assert gaps[1] > 1.5 * gaps[0] and gaps[2] > 1.5 * gaps[1]  # doubling
    assert driver.of(LinkUp)[0].mtu == 182  # AcquireWrite's MTU 185, minus 3
    assert bluez.calls(f"{device}/service000a/char000c", "AcquireWrite")


def test_one_slot_prefers_the_peer_not_synced_recently(bluez: FakeBlueZ,
                                                       peer_loop: LoopThread) -> None:
    """With one connection slot, the stronger peer goes first; once its link ends, the
    other peer (never synced) goes before the stronger one again. Passive scanning."""
    bluez.add_adapter()
    strong = bluez.add_peer("C0:FF:EE:00:00:0A", service_data(secrets.token_bytes(8)), rssi=-40)
    weak = bluez.add_peer("C0:FF:EE:00:00:0B", service_data(secrets.token_bytes(8)), rssi=-85)
    peers = {
        strong: GattPeer(bluez.bus.address, strong, make_node(2, posts=3), payload=244,
                         cut_after=2),
        weak: GattPeer(bluez.bus.address, weak, make_node(3, posts=3), payload=244),
    }
    for peer in peers.values():
        peer_loop.run(peer.start)
    config = replace(FAST, max_central_links=1, scan_mode="passive")
    driver = NodeDriver(BleTransport(config, secret=secrets.token_bytes(32)), make_node(1))
    order: list[str] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            await driver.wait_for(lambda: len(driver.of(LinkUp)) >= 2)
            await trio.sleep(0.5)  # the weak peer's link stays up: no third link may open
            nursery.cancel_scope.cancel()

    trio.run(main)
    for peer in peers.values():
        peer_loop.run(peer.stop)
    order = [d for d, p in peers.items() for _ in range(p.stats.connections)]
    assert peers[strong].stats.connections == 1 and peers[weak].stats.connections == 1
    assert len(driver.of(LinkUp)) == 2 and set(order) == {strong, weak}
    ups, downs = driver.of(LinkUp), driver.of(LinkDown)
    assert downs[0].link == ups[0].link  # never two links at once
    assert driver.events.index(downs[0]) < driver.events.index(ups[1])
    assert bluez.calls("/org/bluez/hci0", "RegisterMonitor")  # passive: an adv monitor
    assert not bluez.calls("/org/bluez/hci0", "StartDiscovery")


def test_scans_with_the_configured_duty_cycle(bluez: FakeBlueZ) -> None:
    adapter = bluez.add_adapter()
    config = replace(FAST, scan_window=0.3, scan_interval=1.0)
    driver = NodeDriver(BleTransport(config, secret=secrets.token_bytes(32)), make_node(1))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            await trio.sleep(3.2)
            nursery.cancel_scope.cancel()

    trio.run(main)
    starts = len(bluez.calls(adapter, "StartDiscovery"))
    stops = len(bluez.calls(adapter, "StopDiscovery"))
    assert 3 <= starts <= 4 and stops >= starts - 1  # one 0.3 s window per second


def test_a_uuid_only_peer_that_cannot_connect_is_connected_at_once_and_synced(
        bluez: FakeBlueZ, peer_loop: LoopThread) -> None:
    """An iOS app in the background: UUID-only advert, central-limited, the lowest token.
    We do not wait `yield_time` for it (it would never come): we connect, read its TOKEN
    and keep the link."""
    bluez.add_adapter()
    ours, theirs = make_node(1, posts=5), make_node(2, posts=7)
    device = bluez.add_peer("C0:FF:EE:00:00:21", b"",
                            token_value=encode_token_value(bytes(8), central=False))
    peer = GattPeer(bluez.bus.address, device, theirs, payload=244)
    peer_loop.run(peer.start)
    config = replace(FAST, yield_time=3600.0, revisit_after=300.0)
    driver = NodeDriver(BleTransport(config, secret=secrets.token_bytes(32)), ours)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            await driver.wait_for(lambda: post_ids(ours) == post_ids(theirs)
                                  and len(post_ids(ours)) == 12)
            nursery.cancel_scope.cancel()

    trio.run(main)
    peer_loop.run(peer.stop)
    assert len(driver.of(LinkUp)) == 1
    assert bluez.calls(f"{device}/service000a/char000e", "ReadValue")  # TOKEN was read


def test_a_uuid_only_peer_that_can_connect_and_has_the_lower_token_is_left_to_connect(
        bluez: FakeBlueZ, peer_loop: LoopThread) -> None:
    """Both sides connect at once to a UUID-only advertiser; once its TOKEN shows it can
    connect and has the lower token, we hang up and leave the link to it, trying again
    ourselves only after `yield_time` (in case it never does)."""
    bluez.add_adapter()
    device = bluez.add_peer("C0:FF:EE:00:00:22", b"",
                            token_value=encode_token_value(bytes(8), central=True))
    times = _connect_times(peer_loop, bluez.bus.address, device)
    peer = GattPeer(bluez.bus.address, device, make_node(2, posts=2), payload=244)
    peer_loop.run(peer.start)
    config = replace(FAST, yield_time=1.5, revisit_after=300.0)
    driver = NodeDriver(BleTransport(config, secret=secrets.token_bytes(32)), make_node(1))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            await driver.wait_for(lambda: bool(driver.of(LinkUp)))
            nursery.cancel_scope.cancel()

    trio.run(main)
    peer_loop.run(peer.stop)
    assert len(times) >= 2
    assert times[1] - times[0] >= config.yield_time  # hung up, then waited its turn
    assert len(driver.of(LinkUp)) == 1  # the first connection never became a link


def test_a_full_central_gives_up_its_idle_synced_link_for_a_newcomer(
        bluez: FakeBlueZ, peer_loop: LoopThread) -> None:
    """The connection slot rule over real bleak and BlueZ's D-Bus API: one central slot,
    taken by the stronger peer; once that link has synced and idled `slot_idle_for`, the
    central scans again, closes it when it hears the other peer (never synced) and links to
    that one. The closed peer is not connected again (`revisit_after`)."""
    two = two_peers(bluez, peer_loop, posts=3)
    strong, weak, nodes, peers = two.strong, two.weak, two.nodes, two.peers
    config = replace(FAST, max_central_links=1, revisit_after=300.0, slot_idle_for=0.5)
    ours = make_node(1)
    driver = NodeDriver(BleTransport(config, secret=secrets.token_bytes(32)), ours)
    everything = post_ids(nodes[strong]) | post_ids(nodes[weak])

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            await driver.wait_for(lambda: post_ids(ours) == everything)
            await driver.wait_for(lambda: driver.synced() >= 2)
            nursery.cancel_scope.cancel()

    trio.run(main)
    two.stop(peer_loop)
    assert peers[strong].stats.connections == 1 and peers[weak].stats.connections == 1
    ups, downs = driver.of(LinkUp), driver.of(LinkDown)
    assert len(ups) == 2
    assert downs[0].link == ups[0].link  # the first link went before the second came
    assert downs[0].reason == "slot given up for a newcomer"
    assert driver.events.index(downs[0]) < driver.events.index(ups[1])
