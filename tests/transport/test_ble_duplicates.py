"""Two links with one peer (docs/hardware.md, "Two links with one peer"), against a mock
BlueZ: our `BleTransport` runs both roles; the peer is another phone, seen once as a remote
device advertising the `uuid` profile (for our central, `add_peer`) and once as a remote
central connected to our GATT server (`CentralSim`) under another address, as an iPhone's
central connection does not use the address it advertises with.

The central writes its own TOKEN value before subscribing; of two links the one whose
central has the lower token is kept, and the device with the higher token closes its own
central link. A device opens no link to a peer already linked to it as its central, whichever
token is lower: the higher one connects first after its yield time, or at once while it holds
a fresh alert (`meshnode.alerts.urgency`), and a second link would only make it close its own
mid-sync. `yield_time` is 0 here: the moment after rule 2's wait, when the higher token
connects "in case the lower one cannot".
"""

from __future__ import annotations

import secrets
from dataclasses import replace

import pytest
import trio
from dbus_fast import MessageType

from meshnode.transport.base import LinkDown, LinkUp
from meshnode.transport.ble import BleTransport
from meshnode.transport.ble_config import BleConfig
from meshnode.transport.ble_profile import encode_token_value, service_data
from meshnode.transport.ble_token import advert_token, epoch_of
from tests.polling import until
from tests.transport.ble_harness import (
    CentralSim,
    Clock,
    LoopThread,
    NodeDriver,
    attach,
    make_node,
)
from tests.transport.fakebluez import FakeBlueZ

BOTH = BleConfig(advert="uuid", scan_window=1.0, scan_interval=1.0, revisit_after=300.0,
                 backoff_initial=0.2, backoff_max=1.0, connect_timeout=5.0, yield_time=0.0,
                 mtu_wait=0.5, call_timeout=5.0)
CENTRAL_OF_PEER = "/org/bluez/hci0/dev_5A_11_22_33_44_01"  # the peer's address as central
LOWEST = bytes(8)
HIGHEST = b"\xff" * 8


def higher_than_lowest() -> tuple[bytes, Clock]:
    """A secret whose token now is strictly between the all-zero and the all-one tokens
    (practically always)."""
    clock = Clock(1_800_000_000.0)
    secret = secrets.token_bytes(32)
    assert LOWEST < advert_token(secret, epoch_of(clock.now)) < HIGHEST
    return secret, clock


def roles(driver: NodeDriver, kind: type) -> list[str]:
    return [e.link.split(":")[1] for e in driver.of(kind)]


@pytest.mark.parametrize("peer", [LOWEST, HIGHEST], ids=["peer-lower", "peer-higher"])
def test_a_central_does_not_keep_a_link_to_a_peer_already_its_central_whichever_is_lower(
        bluez: FakeBlueZ, peer_loop: LoopThread, peer: bytes) -> None:
    """The peer connected to us first and wrote its token (the lower one by rule 1, or the
    higher after its yield time or while urgent); when our central then reaches its `uuid`
    advert and reads the same token, it hangs up before subscribing and before writing its
    own (so the peer keeps its link): one link, the peer's."""
    adapter = bluez.add_adapter()
    secret, clock = higher_than_lowest()
    driver = NodeDriver(BleTransport(BOTH, secret=secret, clock=clock), make_node(1))
    sim = CentralSim(bluez.bus.address, make_node(2), device=CENTRAL_OF_PEER, mtu=185)
    replies: list[MessageType] = []
    writes: list[list[object]] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            await attach(sim, lambda: bluez.registrations(adapter), peer_loop)
            bad = await peer_loop.trio_run(lambda: sim.write_value(
                "token", b"\x10\x02" + peer))  # a reserved flag: refused, not recorded
            replies.append(bad.message_type)
            ok = await peer_loop.trio_run(lambda: sim.write_value(
                "token", encode_token_value(peer, central=True)))
            replies.append(ok.message_type)
            await peer_loop.trio_run(sim.connect)
            await until(lambda: roles(driver, LinkUp) == ["p"])
            device = bluez.add_peer("C0:FF:EE:00:00:31", b"",
                                    token_value=encode_token_value(peer, central=True))
            await until(lambda: bool(bluez.calls(device, "Disconnect")))
            token_char = f"{device}/service000a/char000e"
            writes.extend(bluez.calls(token_char, "WriteValue"))
            bluez.test("SetRefuse", device, True)  # as above: no new link while stopping
            nursery.cancel_scope.cancel()
        await peer_loop.trio_run(sim.stop)

    trio.run(main)
    assert replies == [MessageType.ERROR, MessageType.METHOD_RETURN]
    assert roles(driver, LinkUp) == ["p"]  # our central link never came up
    assert writes == []  # nor did we write our token: the peer has no reason to close its link


def test_a_central_does_not_connect_to_a_service_data_peer_already_its_central(
        bluez: FakeBlueZ, peer_loop: LoopThread) -> None:
    """The peer has the higher token and connected to us first (after its yield time, or at
    once as an urgent device does). Its advert, heard scan after scan, names a peer we are
    linked with: we do not connect, so its link is not closed under it by rule 5."""
    adapter = bluez.add_adapter()
    secret, clock = higher_than_lowest()
    driver = NodeDriver(BleTransport(replace(BOTH, advert="service-data"), secret=secret,
                                     clock=clock), make_node(1))
    sim = CentralSim(bluez.bus.address, make_node(2), device=CENTRAL_OF_PEER, mtu=185)
    scans: list[int] = []

    def starts() -> int:
        return len(bluez.calls(adapter, "StartDiscovery"))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            await attach(sim, lambda: bluez.registrations(adapter), peer_loop)
            await peer_loop.trio_run(lambda: sim.write_value(
                "token", encode_token_value(HIGHEST, central=True)))
            await peer_loop.trio_run(sim.connect)
            await until(lambda: roles(driver, LinkUp) == ["p"])
            device = bluez.add_peer("C0:FF:EE:00:00:34", service_data(HIGHEST))
            scans.append(starts())
            await until(lambda: starts() >= scans[0] + 3)  # each announces the peer anew
            scans.append(len(bluez.calls(device, "Connect")))
            bluez.test("SetRefuse", device, True)
            nursery.cancel_scope.cancel()
        await peer_loop.trio_run(sim.stop)

    trio.run(main)
    assert scans[1] == 0
    assert roles(driver, LinkUp) == ["p"]


def test_the_higher_token_closes_its_central_link_when_the_peer_turns_out_to_be_its_central(
        bluez: FakeBlueZ, peer_loop: LoopThread) -> None:
    """Our central linked first (and wrote our token to the peer); then the peer connects to
    us and writes its lower token: we close our central link and keep the peer's."""
    adapter = bluez.add_adapter()
    secret, clock = higher_than_lowest()
    own = advert_token(secret, epoch_of(clock.now))
    driver = NodeDriver(BleTransport(BOTH, secret=secret, clock=clock), make_node(1))
    sim = CentralSim(bluez.bus.address, make_node(2), device=CENTRAL_OF_PEER, mtu=185)
    device = bluez.add_peer("C0:FF:EE:00:00:32", b"",
                            token_value=encode_token_value(LOWEST, central=True))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            await until(lambda: roles(driver, LinkUp) == ["c"])
            await attach(sim, lambda: bluez.registrations(adapter), peer_loop)
            await peer_loop.trio_run(lambda: sim.write_value(
                "token", encode_token_value(LOWEST, central=True)))
            await peer_loop.trio_run(sim.connect)
            await until(lambda: roles(driver, LinkDown) == ["c"]
                         and roles(driver, LinkUp) == ["c", "p"])
            # Stopping drops the peer's link first, and our central would then (rightly)
            # link again: the peer's radio refuses from here on.
            bluez.test("SetRefuse", device, True)
            nursery.cancel_scope.cancel()
        await peer_loop.trio_run(sim.stop)

    trio.run(main)
    (down,) = driver.of(LinkDown)
    assert "duplicate" in down.reason
    # Rule 4: our central wrote its own token, flags 00, to the peer's TOKEN.
    writes = bluez.calls(f"{device}/service000a/char000e", "WriteValue")
    assert writes and {w[0] for w in writes} == {encode_token_value(own, central=True)}


def test_a_central_keeps_no_link_with_a_peer_whose_token_it_cannot_write(
        bluez: FakeBlueZ, peer_loop: LoopThread) -> None:
    """Rule 4: without a writable TOKEN the peer could never resolve two links with us, so
    we connect, find it, and hang up before subscribing."""
    bluez.add_adapter()
    device = bluez.add_peer("C0:FF:EE:00:00:33", b"", token_writable=False,
                            token_value=encode_token_value(LOWEST, central=False))
    config = replace(BOTH, peripheral=False)
    driver = NodeDriver(BleTransport(config, secret=secrets.token_bytes(32)), make_node(1))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            await until(lambda: len(bluez.calls(device, "Disconnect")) >= 2)  # and again
            bluez.test("SetRefuse", device, True)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert not driver.of(LinkUp)
    assert bluez.calls(f"{device}/service000a/char000e", "ReadValue")  # it did get that far
