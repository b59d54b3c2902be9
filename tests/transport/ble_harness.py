"""Test drivers around the BLE transport: a trio driver for our `Node`, and peers.

* `NodeDriver` runs `BleTransport` under trio and drives a real `Node` with its events,
  as the daemon does (send what the node says, `ready` once each burst is written; these
  tests are shorter than any node timer, so they never call `handle_timer`).
* `GattPeer` is a peer `Node` "behind" a remote device of the mock BlueZ: it hears our
  central's writes (the mock's MethodCalled signal on RX) and answers with notifications
  (PropertiesChanged of TX's Value), like a phone's GATT server.
* `CentralSim` plays bluetoothd towards our peripheral: it acquires the notify and write
  sockets of our GATT application for a remote central and runs a peer `Node` over them.

The peers run on their own asyncio loop in a thread (`LoopThread`), with dbus-fast.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import trio
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity
from meshnode.events import Close, Event, Output, Send, SyncFinished
from meshnode.node import Node, NodeConfig
from meshnode.store.memory import MemoryStore
from meshnode.transport.base import FrameReceived, LinkDown, LinkUp, TransportEvent
from meshnode.transport.ble import BleTransport
from meshnode.transport.ble_profile import INFO_UUID, RX_UUID, TOKEN_UUID, TX_UUID, service_data
from meshnode.transport.framing import Fragmenter, FramingError, Reassembler
from tests.polling import until

if TYPE_CHECKING:
    from tests.transport.fakebluez import FakeBlueZ

T = TypeVar("T")
PEER_LINK = "central"
MOCK_IFACE = "org.freedesktop.DBus.Mock"
CHRC_IFACE = "org.bluez.GattCharacteristic1"


def now() -> int:
    return int(time.time())


def make_node(seed: int, *, posts: int = 0, channel: str = "buurt") -> Node:
    node = Node(Identity.generate(), MemoryStore(8 * 1024 * 1024), TrustStore(()), now(),
                NodeConfig(seed=seed))
    for i in range(posts):
        node.post(channel, f"bericht {i} van {seed}: " + "x" * 200, now())
    return node


def post_ids(node: Node) -> set[bytes]:
    return {m.id for m in node.store.by_kind(1)}


class LoopThread:
    """An asyncio loop in a thread, for the test's peers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, factory: Callable[[], Awaitable[T]], timeout: float = 20.0) -> T:
        async def runner() -> T:
            return await factory()
        return asyncio.run_coroutine_threadsafe(runner(), self.loop).result(timeout)

    async def trio_run(self, factory: Callable[[], Awaitable[T]], timeout: float = 20.0) -> T:
        return await trio.to_thread.run_sync(self.run, factory, timeout)

    def stop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_all)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


async def _add_match(bus: MessageBus, rule: str) -> None:
    reply = await bus.call(Message(destination="org.freedesktop.DBus",
                                   path="/org/freedesktop/DBus",
                                   interface="org.freedesktop.DBus", member="AddMatch",
                                   signature="s", body=[rule]))
    assert reply.message_type == MessageType.METHOD_RETURN, reply.body


@dataclass
class PeerStats:
    fragments_in: int = 0
    fragments_out: int = 0
    connections: int = 0
    events: list[Event] = field(default_factory=list)


class _NodeSide:
    """A peer `Node` on one link, framed at `payload` bytes (runs on the peer's loop)."""

    def __init__(self, node: Node, payload: int,
                 write: Callable[[bytes], Awaitable[None]]) -> None:
        self.node = node
        self.payload = payload
        self._write = write
        self.stats = PeerStats()
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._reassembler: Reassembler | None = None
        self._fragmenter: Fragmenter | None = None
        self._task: asyncio.Task[None] | None = None

    def up(self) -> None:
        self.stats.connections += 1
        self._reassembler = Reassembler(ordered=True)
        self._fragmenter = Fragmenter(self.payload)
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._pump())
        self._handle(self.node.link_up(PEER_LINK, now()))

    def down(self) -> None:
        if self._reassembler is None:
            return
        self._reassembler = None
        if self._task is not None:
            self._task.cancel()
        self._handle(self.node.link_down(PEER_LINK, now()))

    def fragment(self, data: bytes) -> None:
        if self._reassembler is None:
            return
        self.stats.fragments_in += 1
        try:
            frames = self._reassembler.feed(data, time.monotonic())
        except FramingError:
            return
        for frame in frames:
            self._handle(self.node.receive(PEER_LINK, frame, now()))

    def _handle(self, outputs: list[Output]) -> None:
        burst = False
        for out in outputs:
            if isinstance(out, Send):
                assert self._fragmenter is not None
                for fragment in self._fragmenter.fragments(out.data):
                    self._queue.put_nowait(fragment)
                burst = True
            elif not isinstance(out, Close):
                self.stats.events.append(out)
        if burst:
            self._queue.put_nowait(None)  # end of the burst: `ready` once it is all written

    async def _pump(self) -> None:
        while True:
            fragment = await self._queue.get()
            if fragment is None:
                if self._reassembler is not None:
                    self._handle(self.node.ready(PEER_LINK, now()))
                continue
            try:
                await self._write(fragment)
            except Exception:
                return
            self.stats.fragments_out += 1


class GattPeer:
    """A peer Node behind a mock device's RX/TX characteristics (for our central)."""

    def __init__(self, bus_address: str, device_path: str, node: Node, *, payload: int,
                 cut_after: int | None = None) -> None:
        self.address = bus_address
        self.device = device_path
        self.rx = f"{device_path}/service000a/char000c"
        self.tx = f"{device_path}/service000a/char000d"
        self.cut_after = cut_after
        self.cuts = 0
        self.bus: MessageBus | None = None
        self.side = _NodeSide(node, payload, self._notify)

    @property
    def stats(self) -> PeerStats:
        return self.side.stats

    async def start(self) -> None:
        self.bus = await MessageBus(bus_address=self.address).connect()
        for path in (self.rx, self.tx):
            await _add_match(self.bus, f"type='signal',interface='{MOCK_IFACE}',"
                                       f"member='MethodCalled',path='{path}'")
        await _add_match(self.bus, "type='signal',interface='org.freedesktop.DBus.Properties',"
                                   f"member='PropertiesChanged',path='{self.device}'")
        self.bus.add_message_handler(self._on_message)

    def _on_message(self, msg: Message) -> bool:
        if msg.member == "MethodCalled" and msg.path == self.rx and msg.body[0] == "WriteValue":
            self.side.fragment(bytes(msg.body[1][0].value))
            if self.cut_after is not None and self.cuts == 0 and (
                    self.stats.fragments_in >= self.cut_after):
                self.cuts += 1
                asyncio.get_running_loop().create_task(self._cut())
        elif msg.member == "MethodCalled" and msg.path == self.tx and msg.body[0] == "StartNotify":
            self.side.up()
        elif msg.member == "PropertiesChanged" and msg.body[0] == "org.bluez.Device1":
            connected = msg.body[1].get("Connected")
            if connected is not None and not connected.value:
                self.side.down()
        return False

    async def _notify(self, fragment: bytes) -> None:
        assert self.bus is not None
        reply = await self.bus.call(Message(
            destination="org.bluez", path=self.tx, interface=MOCK_IFACE,
            member="UpdateProperties", signature="sa{sv}",
            body=[CHRC_IFACE, {"Value": Variant("ay", fragment)}]))
        if reply.message_type != MessageType.METHOD_RETURN:
            raise ConnectionError(str(reply.body))

    async def _cut(self) -> None:
        """The radio link drops in the middle of the sync."""
        assert self.bus is not None
        await self.bus.call(Message(destination="org.bluez", path=self.device,
                                    interface="org.bluez.Device1", member="Disconnect"))

    async def stop(self) -> None:
        if self.bus is not None:
            self.bus.disconnect()


class CentralSim:
    """bluetoothd's side of a remote central connected to our peripheral."""

    def __init__(self, bus_address: str, node: Node, *, device: str, mtu: int) -> None:
        self.address = bus_address
        self.device = device
        self.mtu = mtu
        self.bus: MessageBus | None = None
        self.notify: socket.socket | None = None
        self.write: socket.socket | None = None
        self.side = _NodeSide(node, mtu - 3, self._write)
        self.paths: dict[str, str] = {}

    @property
    def stats(self) -> PeerStats:
        return self.side.stats

    async def objects(self, sender: str, app_path: str) -> dict[str, dict[str, dict[str, Any]]]:
        if self.bus is None:
            self.bus = await MessageBus(bus_address=self.address,
                                        negotiate_unix_fd=True).connect()
        reply = await self.bus.call(Message(
            destination=sender, path=app_path, interface="org.freedesktop.DBus.ObjectManager",
            member="GetManagedObjects"))
        assert reply.message_type == MessageType.METHOD_RETURN, reply.body
        tree: dict[str, dict[str, dict[str, Any]]] = {
            path: {i: {k: v.value for k, v in props.items()} for i, props in ifaces.items()}
            for path, ifaces in reply.body[0].items()}
        for path, ifaces in tree.items():
            uuid = ifaces.get(CHRC_IFACE, {}).get("UUID")
            for name, value in (("rx", RX_UUID), ("tx", TX_UUID), ("info", INFO_UUID),
                                ("token", TOKEN_UUID)):
                if uuid == value:
                    self.paths[name] = path
        self.sender = sender
        return tree

    async def _call(self, path: str, member: str, signature: str = "",
                    body: list[Any] | None = None) -> Message:
        assert self.bus is not None
        return await self.bus.call(Message(destination=self.sender, path=path,
                                           interface=CHRC_IFACE, member=member,
                                           signature=signature, body=body or []))

    def _options(self) -> dict[str, Variant]:
        return {"device": Variant("o", self.device), "mtu": Variant("q", self.mtu),
                "link": Variant("s", "LE")}

    async def read_info(self) -> bytes:
        return await self.read("info")

    async def read(self, name: str) -> bytes:
        """ReadValue on one of our characteristics ("info", "token")."""
        reply = await self._call(self.paths[name], "ReadValue", "a{sv}", [self._options()])
        assert reply.message_type == MessageType.METHOD_RETURN, reply.body
        return bytes(reply.body[0])

    async def write_value(self, name: str, value: bytes) -> Message:
        """WriteValue (a write request) on one of our characteristics; the reply as is."""
        return await self._call(self.paths[name], "WriteValue", "aya{sv}",
                                [value, self._options()])

    async def acquire(self, member: str) -> tuple[Message, socket.socket | None]:
        path = self.paths["tx" if member == "AcquireNotify" else "rx"]
        reply = await self._call(path, member, "a{sv}", [self._options()])
        if reply.message_type != MessageType.METHOD_RETURN:
            return reply, None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET,
                             fileno=reply.unix_fds[reply.body[0]])
        sock.setblocking(False)
        return reply, sock

    async def connect(self) -> None:
        """Subscribe (AcquireNotify), then get the write socket, as BlueZ does."""
        reply, self.notify = await self.acquire("AcquireNotify")
        assert self.notify is not None, reply.body
        assert reply.body[1] == self.mtu
        reply, self.write = await self.acquire("AcquireWrite")
        assert self.write is not None, reply.body
        asyncio.get_running_loop().add_reader(self.notify.fileno(), self._readable)
        self.side.up()

    def _readable(self) -> None:
        assert self.notify is not None
        try:
            data = self.notify.recv(4096)
        except BlockingIOError:
            return
        if not data:
            self.disconnect()
            return
        self.side.fragment(data)

    async def _write(self, fragment: bytes) -> None:
        if self.write is None:
            raise ConnectionError("closed")
        await asyncio.get_running_loop().sock_sendall(self.write, fragment)

    def disconnect(self) -> None:
        """The central goes away: BlueZ closes both sockets."""
        if self.notify is not None:
            asyncio.get_running_loop().remove_reader(self.notify.fileno())
            self.notify.close()
        if self.write is not None:
            self.write.close()
        self.notify = self.write = None
        self.side.down()

    async def stop(self) -> None:
        if self.notify is not None or self.write is not None:
            self.disconnect()
        if self.bus is not None:
            self.bus.disconnect()


class Clock:
    """Wall-clock time the test moves forward."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


async def attach(sim: CentralSim, registrations: Callable[[], tuple[list[tuple[str, str]], Any]],
                 peer_loop: LoopThread) -> None:
    """Once our GATT application and advert are registered, let `sim` read our objects."""
    await until(lambda: all(registrations()))
    (sender, app_path), = registrations()[0]
    await peer_loop.trio_run(lambda: sim.objects(sender, app_path))


class NodeDriver:
    """Our `Node` on the BLE transport, driven the way the daemon drives it."""

    def __init__(self, transport: BleTransport, node: Node) -> None:
        self.transport = transport
        self.node = node
        self.events: list[TransportEvent] = []
        self.node_events: list[Event] = []
        self.urgent = False  # what the daemon's radio switch would say

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        send, receive = trio.open_memory_channel[TransportEvent](64)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.transport.run, send)
            task_status.started()
            async for event in receive:
                self.events.append(event)
                t = now()
                if isinstance(event, LinkUp):
                    await self._dispatch(self.node.link_up(event.link, t))
                elif isinstance(event, LinkDown):
                    await self._dispatch(self.node.link_down(event.link, t))
                elif isinstance(event, FrameReceived):
                    await self._dispatch(self.node.receive(event.link, event.data, t))
                self.tell_slots()

    def tell_slots(self) -> None:
        """What the daemon tells the transport after each input: the links with nothing to
        carry (`Node.idle_since`), for the connection slot rule."""
        idle: dict[Any, float] = {}
        for link in self.node.links():
            since = self.node.idle_since(link)
            if since is not None:
                idle[link] = float(since)
        self.transport.set_idle(idle, self.urgent)

    async def _dispatch(self, outputs: list[Output]) -> None:
        """Send each call's frames in order, then `ready` once per link that got a burst."""
        while outputs:
            bursts: list[Any] = []
            for out in outputs:
                if isinstance(out, Send):
                    await self.transport.send(out.link, out.data)
                    if out.link not in bursts:
                        bursts.append(out.link)
                elif isinstance(out, Close):
                    await self.transport.close(out.link, out.reason)
                else:
                    self.node_events.append(out)
            outputs = [o for link in bursts for o in self.node.ready(link, now())]

    def of(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    def synced(self) -> int:
        return sum(isinstance(e, SyncFinished) for e in self.node_events)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        """Poll `predicate` (it may look at peers in other threads) until true."""
        await until(predicate, timeout)


@dataclass
class TwoPeers:
    """A strong and a weak peer (`two_peers`): device paths and the `Node` behind each."""

    strong: str
    weak: str
    nodes: dict[str, Node]
    peers: dict[str, GattPeer]

    def stop(self, peer_loop: LoopThread) -> None:
        for peer in self.peers.values():
            peer_loop.run(peer.stop)


def two_peers(bluez: FakeBlueZ, peer_loop: LoopThread, *, posts: int) -> TwoPeers:
    """Two started peers in range of a fresh adapter, each a `Node` with `posts` posts: a
    strong one (-40 dBm), which a central picks first, and a weak one (-85 dBm)."""
    bluez.add_adapter()
    strong = bluez.add_peer("C0:FF:EE:00:00:1A", service_data(secrets.token_bytes(8)), rssi=-40)
    weak = bluez.add_peer("C0:FF:EE:00:00:1B", service_data(secrets.token_bytes(8)), rssi=-85)
    nodes = {strong: make_node(2, posts=posts), weak: make_node(3, posts=posts)}
    peers = {device: GattPeer(bluez.bus.address, device, node, payload=244)
             for device, node in nodes.items()}
    for peer in peers.values():
        peer_loop.run(peer.start)
    return TwoPeers(strong, weak, nodes, peers)
