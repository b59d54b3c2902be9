"""Test-side bitchat phones around the hub's GATT server, and how a phone reads what it hears.

`PhoneCentral` is bluetoothd's side of a phone that connected to the hub: it reads the hub's
GATT application back (GetManagedObjects), subscribes (StartNotify), collects notifications
(PropertiesChanged of the characteristic's Value) and writes packets (WriteValue).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from meshnode.transport.bitchat.radio import CHARACTERISTIC_UUID
from meshnode.transport.bitchat.render import MAX_FRAME, MAX_TEXT_BYTES
from tests.polling import until
from tests.transport.bitchat import reference

CHRC_IFACE = "org.bluez.GattCharacteristic1"
PHONE_DEVICE = "/org/bluez/hci0/dev_5A_00_00_00_00_01"


async def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    await until(predicate, timeout)


class PhoneCentral:
    """bluetoothd's side of a phone that connected to the hub's GATT server."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.bus: MessageBus | None = None
        self.heard: list[bytes] = []
        self.sender = ""
        self.char = ""

    async def subscribe(self, sender: str, app_path: str) -> dict[str, Any]:
        self.bus = await MessageBus(bus_address=self.address).connect()
        self.sender = sender
        reply = await self.bus.call(Message(
            destination=sender, path=app_path, interface="org.freedesktop.DBus.ObjectManager",
            member="GetManagedObjects"))
        assert reply.message_type == MessageType.METHOD_RETURN, reply.body
        tree: dict[str, Any] = reply.body[0]
        [self.char] = [p for p, i in tree.items()
                       if i.get(CHRC_IFACE, {}).get("UUID", Variant("s", "")).value
                       == CHARACTERISTIC_UUID]
        await self.bus.call(Message(
            destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus", member="AddMatch", signature="s",
            body=[f"type='signal',sender='{sender}',path='{self.char}',"
                  "member='PropertiesChanged'"]))
        self.bus.add_message_handler(self._on_message)
        reply = await self._call("StartNotify")
        assert reply.message_type == MessageType.METHOD_RETURN, reply.body
        return tree

    def _on_message(self, msg: Message) -> bool:
        if msg.member == "PropertiesChanged" and msg.path == self.char:
            value = msg.body[1].get("Value")
            if value is not None:
                self.heard.append(bytes(value.value))
        return False

    async def _call(self, member: str, signature: str = "",
                    body: list[Any] | None = None) -> Message:
        assert self.bus is not None
        return await self.bus.call(Message(destination=self.sender, path=self.char,
                                           interface=CHRC_IFACE, member=member,
                                           signature=signature, body=body or []))

    async def write(self, data: bytes) -> Message:
        return await self._call("WriteValue", "aya{sv}", [data, {
            "device": Variant("o", PHONE_DEVICE), "type": Variant("s", "command"),
            "offset": Variant("q", 0)}])

    async def stop(self) -> None:
        if self.bus is not None:
            self.bus.disconnect()


def check_signed_alert(packets: list[bytes]) -> list[str]:
    """Read `packets` as a phone: the announce's key verifies every message; the texts."""
    # Sent unpadded, as bitchat sends all but Noise frames: one notification each at MTU 185.
    assert all(len(p) <= MAX_FRAME for p in packets)
    heard = [reference.parse(p) for p in packets]
    announces = [h for h in heard if h.type == 0x01]
    assert announces, "no announce"
    _, _, signing = reference.announced_keys(announces[0])
    texts = []
    for h in heard:
        if h.type == 0x02:
            assert len(h.payload) <= MAX_TEXT_BYTES <= 99
            assert h.sender == announces[0].sender
            assert reference.verifies(h, signing), "a message fails the announced key"
            texts.append(h.payload.decode())
    assert texts and texts[0].startswith("1/") and "NL-Alert" in texts[0]
    return texts
