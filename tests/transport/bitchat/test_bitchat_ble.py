"""The bitchat gateway against BlueZ's D-Bus contract (a real dbus-daemon, python-dbusmock).

Peripheral: the test plays bluetoothd for a phone that connected to the hub: it reads the
hub's GATT application back (GetManagedObjects), subscribes (StartNotify) and collects the
notifications (PropertiesChanged of the characteristic's Value), then writes packets
(WriteValue) as the phone would. Central: a mock phone device advertising bitchat's service
(AddBitchatPhone in bluez_extras.py) receives the hub's writes (recorded by the mock).
Every packet is read back with the separate reference receiver (reference.py).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import trio
from dbus_fast import MessageType

from meshnode import wire
from meshnode.alerts.examples import example_authority
from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post
from meshnode.events import PostReceived
from meshnode.node import Node, NodeConfig
from meshnode.store.memory import MemoryStore
from meshnode.transport.bitchat.codec import Packet, encode_packet
from meshnode.transport.bitchat.config import BitchatConfig
from meshnode.transport.bitchat.hub import BRIDGE_MARK, RELAY_BURST, BitchatHub
from meshnode.transport.bitchat.identity import BitchatIdentity
from meshnode.transport.bitchat.radio import SERVICE_UUID
from meshnode.transport.ble import BleTransport
from meshnode.transport.ble_config import BleConfig
from meshnode.transport.ble_profile import SERVICE_UUID as MESHNODE_SERVICE
from meshnode.wire import Kind, PostBody, decode_body
from tests.transport.bitchat import reference
from tests.transport.bitchat.phones import PhoneCentral, check_signed_alert, wait_for
from tests.transport.ble_harness import LoopThread, NodeDriver, make_node
from tests.transport.fakebluez import FakeBlueZ


async def subscribe(phone: PhoneCentral, bluez: FakeBlueZ, adapter: str,
                    peer_loop: LoopThread) -> None:
    """Once the hub's GATT application is registered, the phone subscribes to it."""
    await wait_for(lambda: all(bluez.registrations(adapter)))
    [(sender, app_path)], _ = bluez.registrations(adapter)
    await peer_loop.trio_run(lambda: phone.subscribe(sender, app_path))


def a_hub(clock: Callable[[], float] = time.time,
          **config: Any) -> tuple[BitchatHub, Node, Any, list[tuple[str, str]]]:
    """A hub pinning a fresh safety region's root, and its bitchat gateway (not started)."""
    now = int(time.time())
    authority = example_authority(now, root_name="Test root")
    node = Node(Identity.generate(), MemoryStore(4 * 1024 * 1024), authority.trust, now,
                NodeConfig(seed=1))
    posts: list[tuple[str, str]] = []

    async def post(channel: str, text: str) -> None:
        posts.append((channel, text))

    # Periodic announces far apart: a phone must get one because it connected, at once.
    config.setdefault("announce_every", 600.0)
    hub = BitchatHub(BitchatConfig(**config), BitchatIdentity(Identity.generate(), "steunpunt"),
                     post=post, own_author=node.identity.public.sign_key, clock=clock)
    return hub, node, authority, posts


def test_alert_reaches_a_subscribed_phone_as_signed_short_messages(
        bluez: FakeBlueZ, peer_loop: LoopThread) -> None:
    adapter = bluez.add_adapter()
    hub, node, authority, _ = a_hub(central=False)
    phone = PhoneCentral(bluez.bus.address)
    alert = authority.alert(int(time.time()))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hub.run)
            await subscribe(phone, bluez, adapter, peer_loop)
            advert = bluez.advert_log(adapter)[-1]
            assert advert["ServiceUUIDs"] == ["f47b5e2d-4a9e-4c5a-9b3f-8e1d2c3a4b5c"]
            # A new subscriber gets the hub's announce at once.
            await wait_for(lambda: any(p[1] == 0x01 for p in phone.heard))
            now = int(time.time())
            hub.observe(node.inject(wire.encode_message(alert), now).outputs, now)
            # Then a burst of 5 messages (bitchat's per-sender allowance).
            await wait_for(lambda: sum(p[1] == 0x02 for p in phone.heard) >= 5)
            nursery.cancel_scope.cancel()
        await wait_for(lambda: bluez.registrations(adapter) == ([], []))

    try:
        trio.run(main)
    finally:
        peer_loop.run(phone.stop)
    texts = check_signed_alert(phone.heard)
    assert "Grote brand" in " ".join(texts)
    assert hub.status()["fingerprint"] == hub.identity.fingerprint


def test_phone_writes_are_parsed_strictly_and_public_chat_bridged(
        bluez: FakeBlueZ, peer_loop: LoopThread) -> None:
    adapter = bluez.add_adapter()
    hub, _, _, posts = a_hub(central=False, bridge_channel="buurt", relay=True)
    phone = PhoneCentral(bluez.bus.address)
    resident = BitchatIdentity(Identity.generate(), "anna")
    stranger = BitchatIdentity(Identity.generate(), "mallory")
    now_ms = int(time.time() * 1000)
    hello = resident.public_message("is de stroom bij jullie ook uit?", now_ms)
    # Well-formed and signed, but by a key no announce vouched for: relayed, never bridged.
    forged = stranger.sign(Packet(type=2, timestamp=now_ms + 1, sender=stranger.peer_id,
                                  payload=b"evacueer nu!"))
    # Already bridged from meshnode by another hub: not bridged back.
    echo = resident.public_message(f"{BRIDGE_MARK} bob: soep om zes", now_ms + 2)
    writes = [b"\x01\x02garbage", encode_packet(resident.announce(now_ms)),
              encode_packet(hello), encode_packet(forged), encode_packet(echo)]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hub.run)
            await subscribe(phone, bluez, adapter, peer_loop)
            for data in writes:
                reply = await peer_loop.trio_run(lambda d=data: phone.write(d))
                assert reply.message_type == MessageType.METHOD_RETURN, reply.body
            await wait_for(lambda: hub.relayed >= 4 and hub.listener.refused >= 1)
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        peer_loop.run(phone.stop)
    assert posts == [("buurt", f"{BRIDGE_MARK} anna: is de stroom bij jullie ook uit?")]
    assert hub.listener.refused == 1 and "anna" in [p.nickname for p in
                                                    hub.listener.peers.values()]
    assert hub.relayed == 4  # all but the garbage: relaying is not believing


def test_hub_connects_to_a_phone_and_writes_the_alert_to_it(bluez: FakeBlueZ) -> None:
    bluez.add_adapter()
    device = bluez.add_bitchat_phone("5A:00:00:00:00:02")
    char = f"{device}/service0010/char0011"
    hub, node, authority, _ = a_hub(peripheral=False, scan_every=0.2)
    alert = authority.alert(int(time.time()))

    def written() -> list[bytes]:
        return [bytes(args[0]) for args in bluez.calls(char, "WriteValue")]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hub.run)
            await wait_for(lambda: any(p[1] == 0x01 for p in written()))
            now = int(time.time())
            hub.observe(node.inject(wire.encode_message(alert), now).outputs, now)
            await wait_for(lambda: sum(p[1] == 0x02 for p in written()) >= 5)
            nursery.cancel_scope.cancel()

    trio.run(main)
    check_signed_alert(written())
    assert all(args[1]["type"] == "command" for args in bluez.calls(char, "WriteValue"))


def test_posts_of_the_bridge_channel_go_out_signed_by_the_hub_and_ours_are_not_echoed(
        bluez: FakeBlueZ, peer_loop: LoopThread) -> None:
    adapter = bluez.add_adapter()
    hub, node, _, _ = a_hub(central=False, bridge_channel="buurt")
    phone = PhoneCentral(bluez.bus.address)
    now = int(time.time())

    def received(author: Identity, channel: str, text: str) -> PostReceived:
        msg = create_post(author, channel, text, now)
        body = decode_body(Kind.POST, msg.body)
        assert isinstance(body, PostBody)
        return PostReceived(msg.id, body)

    neighbour = Identity.generate()
    outputs = [received(neighbour, "buurt", "Soep bij het buurthuis om 18:00"),
               received(neighbour, "elders", "not bridged: another channel"),
               received(node.identity, "buurt", f"{BRIDGE_MARK} anna: our own, bridged in")]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hub.run)
            await subscribe(phone, bluez, adapter, peer_loop)
            await wait_for(lambda: any(p[1] == 0x01 for p in phone.heard))
            hub.observe(outputs, now)
            await wait_for(lambda: any(p[1] == 0x02 for p in phone.heard))
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        peer_loop.run(phone.stop)
    heard = [reference.parse(p) for p in phone.heard]
    _, _, signing = reference.announced_keys(next(h for h in heard if h.type == 0x01))
    texts = [h.payload.decode() for h in heard
             if h.type == 0x02 and reference.verifies(h, signing)]
    assert texts == ["Soep bij het buurthuis om 18:00"]
    assert hub.status()["bridged_out"] == 1 and hub.status()["messages_sent"] == 1


def test_runs_beside_meshnodes_own_ble_service_on_one_adapter(
        bluez: FakeBlueZ, peer_loop: LoopThread) -> None:
    adapter = bluez.add_adapter()
    hub, _, _, _ = a_hub(central=False)
    meshnode_ble = NodeDriver(BleTransport(BleConfig(central=False, call_timeout=5.0),
                                           secret=secrets.token_bytes(32)), make_node(1))
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(meshnode_ble.run)
            nursery.start_soon(hub.run)
            await wait_for(lambda: all(len(r) == 2 for r in bluez.registrations(adapter)))
            seen["apps"], seen["adverts"] = bluez.registrations(adapter)
            nursery.cancel_scope.cancel()
        await wait_for(lambda: bluez.registrations(adapter) == ([], []))

    trio.run(main)
    adverts = bluez.advert_log(adapter)
    assert len({path for _, path in seen["apps"]}) == 2  # two applications, own paths
    assert {advert_service(a) for a in adverts} == {"meshnode", "bitchat"}
    assert all(advert_size_of(a) <= 31 for a in adverts)  # each its own legacy instance


def advert_service(advert: dict[str, Any]) -> str:
    return "bitchat" if advert.get("ServiceUUIDs") == [SERVICE_UUID] else (
        "meshnode" if MESHNODE_SERVICE in advert.get("ServiceData", {}) else "?")


def advert_size_of(advert: dict[str, Any]) -> int:
    """Legacy advertising bytes: flags, 128-bit UUID lists and service data (as the mock)."""
    size = 3
    size += sum(2 + 16 for _ in advert.get("ServiceUUIDs", []))
    size += sum(2 + 16 + len(v) for v in advert.get("ServiceData", {}).values())
    return size


def test_relaying_is_budgeted_so_one_phone_cannot_make_the_hub_flood(
        bluez: FakeBlueZ, peer_loop: LoopThread) -> None:
    adapter = bluez.add_adapter()
    frozen = time.time()  # no refill: exactly the burst is relayed
    hub, _, _, _ = a_hub(clock=lambda: frozen, central=False, relay=True)
    phone = PhoneCentral(bluez.bus.address)
    flooder = BitchatIdentity(Identity.generate(), "flood")
    now_ms = int(frozen * 1000)
    writes = [encode_packet(flooder.announce(now_ms))] + [
        encode_packet(flooder.public_message(f"spam {i}", now_ms + i)) for i in range(80)]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hub.run)
            await subscribe(phone, bluez, adapter, peer_loop)
            for data in writes:
                await peer_loop.trio_run(lambda d=data: phone.write(d))
            await wait_for(lambda: hub.relayed + hub.relay_dropped == len(writes))
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        peer_loop.run(phone.stop)
    assert hub.relayed == RELAY_BURST and hub.relay_dropped == len(writes) - RELAY_BURST
    assert hub.listener.limited == 80 - 5  # bitchat's own per-sender limit, as phones apply it
