"""UDP links on a LAN or loopback: static peers, optional multicast discovery, trio sockets.

Each peer address (IPv4 host, port) is one link, with id ``"udp:HOST:PORT"``. A link is up
while the peer answers: both sides send a small PING every `keepalive` seconds and answer each
with a PONG; after `link_timeout` seconds without a datagram from the peer the link goes down
(static peers are then probed again). Frames are cut into fragments by the shared framing
layer; each fragment travels in one DATA datagram that the receiver acknowledges
(`meshnode.transport.arq`), so frames arrive whole, in order, or the link goes down — what a
`Node` expects of BLE. The datagram format is in `meshnode.transport.udpwire`.

Receiving never waits for the daemon: datagrams are read, acknowledged and answered at once,
and whole frames queue for the `run` task's events channel. The queue is bounded by flow
control: each acknowledgement grants the peer only as many further datagrams as the queue has
room for, and a grant that was cut short is renewed once the daemon has caught up.

Every daemon start picks a random 8-byte instance that its datagrams carry: a peer that
restarted shows up with a new instance and its old link goes down before a new one comes up.
Traffic for a link the receiver does not hold (it restarted, or timed the link out) is answered
with BYE, so the sender drops its stale state and both start afresh.

With `discovery`, the transport also joins a multicast group and announces itself there every
`discovery_interval` seconds, from its unicast socket so that the announcement's source is the
address to link with; peers heard there are probed like static ones.

Nothing here decides what to send: garbage, truncated, oversized and stale datagrams are
counted (`stats()`) and dropped, and the protocol stays in `Node`.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import socket
import struct
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import trio

from meshnode.transport.arq import ArqReceiver, ArqSender
from meshnode.transport.base import FrameReceived, LinkDown, LinkId, LinkUp, TransportEvent
from meshnode.transport.framing import (
    DEFAULT_MAX_FRAME,
    MIN_MTU,
    Fragmenter,
    FramingError,
    Reassembler,
)
from meshnode.transport.udpwire import (
    DATA_HEADER,
    NO_INSTANCE,
    Ack,
    Data,
    Datagram,
    DatagramError,
    Type,
    decode,
    encode_ack,
    encode_control,
    encode_data,
)

__all__ = ["COUNTERS", "Endpoint", "PeerInfo", "UdpConfig", "UdpTransport", "link_id"]

_log = logging.getLogger("meshnode.udp")
_RECV_BUFFER = 65_536
COUNTERS = (
    "datagrams_in", "datagrams_out", "bytes_in", "bytes_out", "frames_in", "frames_out",
    "malformed", "oversized", "stale", "refused", "malformed_fragments", "discovered",
    "send_errors", "send_dropped", "receive_errors", "links_up_total", "links_down_total",
    "over_limit",
)
_Addr = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An IPv4 address or host name and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """``HOST:PORT``; raises ValueError naming what is wrong."""
        host, sep, port = text.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"{text!r} is not HOST:PORT (e.g. 192.168.1.20:4917)")
        value = int(port)
        if not 0 <= value <= 65535:
            raise ValueError(f"{text!r}: port {value} outside 0..65535")
        return cls(host, value)


@dataclass(frozen=True, slots=True)
class UdpConfig:
    """Settings of the UDP transport; times in seconds."""

    listen: Endpoint = Endpoint("0.0.0.0", 4917)
    peers: tuple[Endpoint, ...] = ()
    discovery: bool = True
    group: Endpoint = Endpoint("239.255.49.17", 4918)
    discovery_interval: float = 5.0
    datagram_size: int = 1200
    keepalive: float = 2.0
    link_timeout: float = 10.0
    max_links: int = 32
    accept_unknown: bool = True
    window: int = 64


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """One link as the status API shows it."""

    link: str
    address: str
    state: str  # "up" or "probing"
    static: bool
    up_since: float | None
    last_heard: float | None
    rtt_ms: float | None
    datagrams_in: int
    datagrams_out: int
    resent: int
    in_flight: int


def link_id(addr: _Addr) -> str:
    return f"udp:{addr[0]}:{addr[1]}"


@dataclass(eq=False)
class _Link:
    addr: _Addr
    id: str
    static: bool
    created: float
    tx: ArqSender
    rx: ArqReceiver
    fragmenter: Fragmenter
    reassembler: Reassembler
    peer: bytes | None = None
    up_at: float | None = None  # wall clock, for display
    heard: float | None = None  # trio clock
    room: trio.Event = field(default_factory=trio.Event)
    granted: int = 0  # the peer may send seqs below this (never shrinks)
    closed: bool = False
    datagrams_in: int = 0
    datagrams_out: int = 0

    @property
    def up(self) -> bool:
        return self.peer is not None and not self.closed


def _resolve(endpoint: Endpoint, what: str = "address") -> _Addr:
    try:
        infos = socket.getaddrinfo(endpoint.host, endpoint.port, socket.AF_INET,
                                   socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve the {what} {endpoint}: {exc.strerror}") from exc
    host, port = infos[0][4][:2]
    return str(host), int(port)


class UdpTransport:
    """The `Transport` interface over UDP. Sockets are bound on construction (errors early)."""

    def __init__(self, config: UdpConfig) -> None:
        if config.datagram_size < DATA_HEADER + MIN_MTU:
            raise ValueError(f"datagram_size must be at least {DATA_HEADER + MIN_MTU}")
        self.config = config
        self.instance = os.urandom(8)
        self.counters: Counter[str] = Counter(dict.fromkeys(COUNTERS, 0))
        self._links: dict[_Addr, _Link] = {}
        self._static = [_resolve(p, "peer") for p in config.peers]
        self._discovered: set[_Addr] = set()
        self._timer = trio.Event()
        self._queue: deque[TransportEvent] = deque()
        self._queued = trio.Event()
        self._queue_limit = 2 * config.window
        self._throttled: set[_Link] = set()
        self._raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._group_raw: socket.socket | None = None
        try:
            listen = _resolve(config.listen, "listen address")
            try:
                self._raw.bind(listen)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot listen on UDP {config.listen}: "
                              f"{exc.strerror} (choose another address with --listen "
                              "HOST:PORT or udp.listen in the config)") from exc
            self._raw.setblocking(False)
            if config.discovery:
                self._group_raw = self._join_group(listen[0])
        except BaseException:
            self._raw.close()
            raise
        self._sock = trio.socket.from_stdlib_socket(self._raw)
        host, port = self._raw.getsockname()[:2]
        self.local = Endpoint(str(host), int(port))

    def _join_group(self, interface: str) -> socket.socket | None:
        group = _resolve(self.config.group)
        iface = socket.inet_aton(interface)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("", group[1]))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                            struct.pack("4s4s", socket.inet_aton(group[0]), iface))
            sock.setblocking(False)
            self._raw.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            self._raw.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            if interface != "0.0.0.0":
                self._raw.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, iface)
        except OSError as exc:
            sock.close()
            # A host without a multicast route still works with static peers.
            _log.warning("discovery_unavailable", extra={"fields": {
                "group": str(self.config.group), "error": exc.strerror or str(exc)}})
            return None
        return sock

    # --- the Transport interface -------------------------------------------------------------

    async def run(self, events: trio.MemorySendChannel[TransportEvent]) -> None:
        now = trio.current_time()
        for addr in self._static:
            self._probe(addr, now, static=True)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._receive, self._sock, False)
                if self._group_raw is not None:
                    group_sock = trio.socket.from_stdlib_socket(self._group_raw)
                    nursery.start_soon(self._receive, group_sock, True)
                    nursery.start_soon(self._announce)
                nursery.start_soon(self._keepalive)
                nursery.start_soon(self._retransmit)
                nursery.start_soon(self._deliver, events)
        finally:
            for link in self._links.values():
                if link.up:
                    self._control(Type.BYE, link)
                link.closed = True
                link.room.set()
            self.close_sockets()

    async def send(self, link: LinkId, frame: bytes) -> None:
        state = self._by_id(link)
        if state is None or not state.up:
            await trio.lowlevel.checkpoint()
            return
        for fragment in state.fragmenter.fragments(frame):
            while not state.tx.has_room():
                if state.closed:
                    return
                state.room = trio.Event()
                await state.room.wait()
            if state.closed:
                return
            assert state.peer is not None
            idle = state.tx.in_flight == 0
            seq = state.tx.push(fragment, trio.current_time())
            self._sendto(encode_data(self.instance, state.peer, seq, fragment), state)
            if idle:
                self._timer.set()
        self.counters["frames_out"] += 1
        await trio.lowlevel.checkpoint()

    async def close(self, link: LinkId, reason: str) -> None:
        state = self._by_id(link)
        if state is not None:
            if state.up:
                self._control(Type.BYE, state)
            self._drop(state, reason, trio.current_time())
        await trio.lowlevel.checkpoint()

    def close_sockets(self) -> None:
        """Release the sockets (idempotent); `run` does it when it ends."""
        self._raw.close()
        if self._group_raw is not None:
            self._group_raw.close()

    # --- introspection -----------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Transport counters: datagrams and bytes, and every kind of datagram dropped."""
        out = dict(self.counters)
        out["links_up"] = sum(1 for link in self._links.values() if link.up)
        out["resent"] = self.counters["resent"] + sum(
            link.tx.stats.resent for link in self._links.values())
        return out

    def peers(self) -> list[PeerInfo]:
        now = trio.current_time()
        out = []
        for link in self._links.values():
            s = link.tx.stats
            srtt = link.tx.srtt
            out.append(PeerInfo(
                link.id, f"{link.addr[0]}:{link.addr[1]}", "up" if link.up else "probing",
                link.static, link.up_at, None if link.heard is None else
                round(time.time() - (now - link.heard), 3),
                None if srtt is None else round(srtt * 1000, 3),
                link.datagrams_in, link.datagrams_out, s.resent, s.in_flight))
        return out

    # --- link state ----------------------------------------------------------------------------

    def _by_id(self, link: LinkId) -> _Link | None:
        if not isinstance(link, str) or not link.startswith("udp:"):
            return None
        host, _, port = link[4:].rpartition(":")
        if not port.isdigit():
            return None
        return self._links.get((host, int(port)))

    def _new_link(self, addr: _Addr, now: float, *, static: bool) -> _Link:
        mtu = self.config.datagram_size - DATA_HEADER
        link = _Link(
            addr, link_id(addr), static, now,
            ArqSender(window=self.config.window), ArqReceiver(window=self._queue_limit),
            Fragmenter(mtu, max_frame=DEFAULT_MAX_FRAME,
                       first_seq=int.from_bytes(os.urandom(2), "big")),
            Reassembler(max_frame=DEFAULT_MAX_FRAME, ordered=True),
            granted=self.config.window,
        )
        self._links[addr] = link
        return link

    def _probe(self, addr: _Addr, now: float, *, static: bool) -> None:
        link = self._links.get(addr) or self._new_link(addr, now, static=static)
        self._control(Type.PING, link)

    def _may_link(self, addr: _Addr) -> bool:
        if addr in self._static or addr in self._discovered:
            return True
        if not self.config.accept_unknown:
            return False
        dynamic = sum(1 for link in self._links.values() if not link.static)
        return dynamic < self.config.max_links

    def _up(self, link: _Link, peer: bytes, now: float) -> None:
        link.peer = peer
        link.up_at = time.time()
        link.heard = now
        self.counters["links_up_total"] += 1
        _log.debug("link_up", extra={"fields": {"link": link.id}})
        self._enqueue(LinkUp(link.id, self.config.datagram_size - DATA_HEADER))

    def _drop(self, link: _Link, reason: str, now: float) -> None:
        """Forget a link (reporting LinkDown if it was up); static peers are probed again."""
        if self._links.get(link.addr) is not link:
            return
        del self._links[link.addr]
        self.counters["resent"] += link.tx.stats.resent
        was_up = link.up
        link.closed = True
        link.room.set()
        self._throttled.discard(link)
        if not link.static:
            self._discovered.discard(link.addr)
        if link.static:
            self._new_link(link.addr, now, static=True)
        if was_up:
            self.counters["links_down_total"] += 1
            _log.debug("link_down", extra={"fields": {"link": link.id, "reason": reason}})
            self._enqueue(LinkDown(link.id, reason))

    # --- towards the daemon, with flow control --------------------------------------------------

    def _enqueue(self, event: TransportEvent) -> None:
        self._queue.append(event)
        self._queued.set()

    async def _deliver(self, events: trio.MemorySendChannel[TransportEvent]) -> None:
        """Hand queued events to the daemon in order; renew cut grants once it caught up."""
        while True:
            if not self._queue:
                self._queued = trio.Event()
                await self._queued.wait()
            await events.send(self._queue.popleft())
            if self._throttled and len(self._queue) <= self._queue_limit // 2:
                for link in list(self._throttled):
                    self._acknowledge(link)

    def _grant(self, link: _Link) -> int:
        """Let the peer send as much more as the queue has room for (a grant never shrinks)."""
        room = max(0, self._queue_limit - len(self._queue))
        link.granted = max(link.granted, link.rx.next + room)
        if link.granted - link.rx.next < self.config.window:
            self._throttled.add(link)
        else:
            self._throttled.discard(link)
        return link.granted

    def _acknowledge(self, link: _Link) -> None:
        assert link.peer is not None
        next_seq, bitmap = link.rx.ack()
        limit = self._grant(link)
        self._sendto(encode_ack(self.instance, link.peer, next_seq, bitmap, limit), link)

    # --- sending -------------------------------------------------------------------------------

    def _sendto(self, data: bytes, link: _Link) -> None:
        link.datagrams_out += 1
        self._send_raw(data, link.addr)

    def _send_raw(self, data: bytes, addr: _Addr) -> None:
        try:
            self._raw.sendto(data, addr)
        except OSError as exc:
            # A full socket buffer or an unreachable network loses the datagram; the
            # retransmission timer and the keepalive deal with it like with any loss.
            self.counters["send_errors" if exc.errno != errno.EAGAIN else "send_dropped"] += 1
            return
        self.counters["datagrams_out"] += 1
        self.counters["bytes_out"] += len(data)

    def _control(self, kind: Type, link: _Link) -> None:
        self._sendto(encode_control(kind, self.instance, link.peer or NO_INSTANCE), link)

    # --- receiving -----------------------------------------------------------------------------

    async def _receive(self, sock: trio.socket.SocketType, group: bool) -> None:
        while True:
            try:
                data, addr = await sock.recvfrom(_RECV_BUFFER)
            except OSError:
                self.counters["receive_errors"] += 1
                continue
            self._on_datagram(data, (str(addr[0]), int(addr[1])), group)

    def _on_datagram(self, data: bytes, addr: _Addr, group: bool) -> None:
        self.counters["datagrams_in"] += 1
        self.counters["bytes_in"] += len(data)
        if len(data) > self.config.datagram_size:
            self.counters["oversized"] += 1
            return
        try:
            d = decode(data)
        except DatagramError:
            self.counters["malformed"] += 1
            return
        if d.src == self.instance:
            return  # our own announcement, looped back
        now = trio.current_time()
        if group:
            self._on_announcement(d, addr, now)
            return
        link = self._links.get(addr)
        if link is not None and link.peer is not None and d.src != link.peer:
            # A new instance announces itself with a PING (or answers ours); anything else
            # from an unknown instance is a straggler from before a restart.
            if d.type is Type.PING or (d.type is Type.PONG and d.dst == self.instance):
                self._drop(link, "peer restarted", now)
                link = self._links.get(addr)
            else:
                self.counters["stale"] += 1
                return
        if d.type is Type.PING:
            self._on_ping(d, addr, link, now)
            return
        if d.dst != self.instance:
            self.counters["stale"] += 1
            if d.type in (Type.DATA, Type.ACK):
                self._send_raw(encode_control(Type.BYE, self.instance, d.src), addr)
            return
        if link is None:
            self.counters["stale"] += 1
            if d.type in (Type.DATA, Type.ACK):
                self._send_raw(encode_control(Type.BYE, self.instance, d.src), addr)
            return
        link.datagrams_in += 1
        if d.type is Type.PONG:
            link.heard = now
            if not link.up:
                self._up(link, d.src, now)
        elif d.type is Type.BYE:
            if link.up:
                self._drop(link, "peer closed the link", now)
        elif not link.up:
            # DATA or ACK before we heard the peer's PONG: its state may predate ours.
            self.counters["stale"] += 1
            self._send_raw(encode_control(Type.BYE, self.instance, d.src), addr)
        else:
            link.heard = now
            if isinstance(d.payload, Data):
                self._on_data(link, d.payload, now)
            elif isinstance(d.payload, Ack) and link.tx.on_ack(
                    d.payload.next, d.payload.bitmap, now, d.payload.limit):
                self._timer.set()
            if link.tx.has_room():
                link.room.set()

    def _on_ping(self, d: Datagram, addr: _Addr, link: _Link | None, now: float) -> None:
        if link is None:
            if not self._may_link(addr):
                self.counters["refused"] += 1
                return
            link = self._new_link(addr, now, static=False)
        link.datagrams_in += 1
        if not link.up:
            self._up(link, d.src, now)
        link.heard = now
        self._control(Type.PONG, link)

    def _on_announcement(self, d: Datagram, addr: _Addr, now: float) -> None:
        if d.type is not Type.PING or addr in self._links:
            return
        if len(self._discovered) >= self.config.max_links:
            self.counters["refused"] += 1
            return
        self._discovered.add(addr)
        self.counters["discovered"] += 1
        self._probe(addr, now, static=False)

    def _on_data(self, link: _Link, data: Data, now: float) -> None:
        if data.seq >= link.granted:
            self.counters["over_limit"] += 1  # a peer ignoring our grant: not taken
            payloads = []
        else:
            payloads = link.rx.receive(data.seq, data.fragment)
        for fragment in payloads:
            try:
                frames = link.reassembler.feed(fragment, now)
            except FramingError:
                self.counters["malformed_fragments"] += 1
                continue
            for frame in frames:
                self.counters["frames_in"] += 1
                self._enqueue(FrameReceived(link.id, frame))
        self._acknowledge(link)

    # --- timers --------------------------------------------------------------------------------

    async def _keepalive(self) -> None:
        while True:
            now = trio.current_time()
            for link in list(self._links.values()):
                if link.up:
                    assert link.heard is not None
                    if now - link.heard > self.config.link_timeout:
                        self._drop(link, "peer silent", now)
                        continue
                    if link in self._throttled:
                        self._acknowledge(link)  # the renewed grant may have been lost
                elif not link.static and now - link.created > self.config.link_timeout:
                    del self._links[link.addr]  # a discovered peer that never answered
                    self._discovered.discard(link.addr)
                    continue
                current = self._links.get(link.addr)
                if current is not None:
                    self._control(Type.PING, current)
            await trio.sleep(self.config.keepalive)

    async def _announce(self) -> None:
        group = _resolve(self.config.group)
        ping = encode_control(Type.PING, self.instance, NO_INSTANCE)
        while True:
            self._send_raw(ping, group)
            await trio.sleep(self.config.discovery_interval)

    async def _retransmit(self) -> None:
        while True:
            deadline = min((d for link in self._links.values() if link.up
                            and (d := link.tx.next_deadline()) is not None), default=math.inf)
            self._timer = trio.Event()
            with trio.move_on_at(deadline):
                await self._timer.wait()
            now = trio.current_time()
            for link in list(self._links.values()):
                if not link.up:
                    continue
                assert link.peer is not None
                for seq, fragment in link.tx.due(now):
                    self._sendto(encode_data(self.instance, link.peer, seq, fragment), link)
