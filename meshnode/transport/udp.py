"""UDP links on a LAN or loopback: static peers, optional multicast discovery, trio sockets.

The link protocol (version 2) is specified in docs/protocol.md §13 and its datagrams in
`meshnode.transport.udpwire`. In short:

* A link is opened by a handshake that keeps no state on the responder until the initiator
  has proved it receives at its address: PROBE (the initiator's fresh connection id) →
  CHALLENGE (a cookie, a MAC of the address, the id and the time) → CONNECT (the id and the
  cookie) → ACCEPT (the responder's fresh connection id). Every later datagram carries the
  receiver's connection id, 64 random bits an off-path attacker cannot guess: without it,
  nothing is taken, answered or torn down.
* Connection ids are new for every link, so no identifier outlives a link (discovery
  announcements carry a fresh random nonce each time).
* Each peer address (IP address, port) is one link, id ``"udp:HOST:PORT"`` (an IPv6 host in
  brackets: ``"udp:[::1]:4917"``); an IPv6 listen address opens a dual-stack socket, and
  multicast discovery stays IPv4 (§13.7). A valid CONNECT
  from the address of a live link replaces it only once that link has been silent for two
  keepalive periods (the peer restarted); links are capped per host; a host may open only so
  many links per minute, and none for a while after the node closed one of its links for
  misbehaviour. These limits are kept per host across links, so re-linking does not reset
  the node's per-link budgets.
* Frames are cut into fragments by the shared framing layer; one DATA datagram carries one or
  more fragments (several small frames share a datagram), numbered and acknowledged by
  `meshnode.transport.arq`, so frames arrive whole, in order, or the link goes down — what a
  `Node` expects of BLE. One ACK covers several datagrams: the receiver reads every datagram
  waiting and acknowledges after `ack_every` of them, after `ack_delay`, or at once on a gap.

Receiving never waits for the daemon: datagrams are read, acknowledged and answered at once,
and whole frames queue for the `run` task's events channel. The queue is bounded by flow
control: each acknowledgement grants the peer only as many further datagrams as the queue has
room for, and a grant that was cut short is renewed once the daemon has caught up.

Nothing here decides what to send: garbage, truncated, oversized and stale datagrams are
counted (`stats()`) and dropped, and the protocol stays in `Node`.
"""

from __future__ import annotations

import errno
import hmac
import logging
import math
import os
import socket
import struct
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from meshnode.routing.limits import Buckets, Rate
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
    CHUNK_HEADER,
    DATA_HEADER,
    MAX_DATAGRAM,
    NO_CID,
    Accept,
    Ack,
    Announce,
    Challenge,
    Close,
    Connect,
    Data,
    Datagram,
    DatagramError,
    Payload,
    Probe,
    chunk_cost,
    decode,
    encode,
    make_cookie,
)

__all__ = ["COUNTERS", "Endpoint", "PeerInfo", "UdpConfig", "UdpTransport", "link_id", "new_cid"]

_log = logging.getLogger("meshnode.udp")
_RECV_BUFFER = 65_536
_DRAIN = 64  # datagrams read in one go before acknowledging
COUNTERS = (
    "datagrams_in", "datagrams_out", "bytes_in", "bytes_out", "frames_in", "frames_out",
    "malformed", "oversized", "stale", "refused", "malformed_fragments", "discovered",
    "send_errors", "send_dropped", "receive_errors", "links_up_total", "links_down_total",
    "over_limit", "bad_cookie", "relinks_refused", "penalized", "acks_out", "data_out",
)
_Addr = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An IP address (IPv4 or IPv6) or host name and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """``HOST:PORT``, an IPv6 address in brackets (``[::1]:4917``); raises ValueError
        naming what is wrong."""
        host, sep, port = text.strip().rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not sep or not host or not port.isdigit() or (":" in host and "[" not in text):
            raise ValueError(f"{text!r} is not HOST:PORT (e.g. 192.168.1.20:4917 or "
                             "[fd00::20]:4917)")
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
    datagram_size: int = MAX_DATAGRAM
    keepalive: float = 2.0
    link_timeout: float = 10.0
    max_links: int = 32
    accept_unknown: bool = True
    window: int = 64
    # Links with one host (IP address) that is not a static peer: an attacker with many
    # source ports must not take every slot.
    max_links_per_host: int = 8
    # A receiver acknowledges after this many DATA datagrams, or `ack_delay` seconds after
    # the first one it has not acknowledged, or at once on a gap or a duplicate.
    ack_every: int = 8
    ack_delay: float = 0.01
    # New links accepted from one host: a bucket of `relink_burst`, refilled one per
    # `relink_interval` seconds; kept per host across links, so that a peer cannot reset the
    # node's per-link budgets by linking again and again.
    relink_burst: int = 8
    relink_interval: float = 10.0
    # After the node closed a link for misbehaviour, its host gets no link for this long,
    # doubling with each repeat (capped at `penalty_max`).
    penalty: float = 30.0
    penalty_max: float = 3600.0
    # A CHALLENGE's cookie is valid from the period it was made in and the next.
    cookie_period: float = 30.0


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
    """``udp:HOST:PORT``, an IPv6 host in brackets (``udp:[::1]:4917``)."""
    return f"udp:{Endpoint(addr[0], addr[1])}"


Entropy = Callable[[int], bytes]


def new_cid(entropy: Entropy = os.urandom) -> bytes:
    """A fresh connection id: 8 random bytes, never all zero (docs/protocol.md §13.1)."""
    while (value := entropy(8)) == NO_CID:
        pass
    return value


@dataclass(eq=False)
class _Link:
    addr: _Addr
    id: str
    static: bool
    created: float
    local: bytes  # our connection id: the peer puts it in every datagram to us
    tx: ArqSender[tuple[bytes, ...]]
    rx: ArqReceiver[tuple[bytes, ...]]
    fragmenter: Fragmenter
    reassembler: Reassembler
    peer: bytes | None = None  # the peer's connection id, once the link is up
    cookie: bytes | None = None  # as initiator: the responder's cookie, and when it came
    cookie_at: float = 0.0
    up_at: float | None = None  # wall clock, for display
    heard: float | None = None  # trio clock
    room: trio.Event = field(default_factory=trio.Event)
    granted: int = 0  # the peer may send seqs below this (never shrinks)
    outbox: deque[bytes] = field(default_factory=deque)  # fragments not yet in a datagram
    owed: int = 0  # DATA datagrams not yet acknowledged
    ack_now: bool = False
    ack_at: float | None = None
    closed: bool = False
    datagrams_in: int = 0
    datagrams_out: int = 0

    @property
    def up(self) -> bool:
        return self.peer is not None and not self.closed


class _Penalties:
    """Hosts whose link the node closed for misbehaviour: no link until `until`, doubling
    with each repeat; a host that behaved for `cap` seconds after its last penalty starts
    over (an honest peer closed once in a long while is not locked out for an hour)."""

    def __init__(self, base: float, cap: float, limit: int = 4096) -> None:
        self._base, self._cap, self._limit = base, cap, limit
        self._hosts: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def punish(self, host: str, now: float) -> None:
        until, count = self._hosts.pop(host, (0.0, 0))
        if now > until + self._cap:
            count = 0
        self._hosts[host] = (now + min(self._cap, self._base * 2 ** count), count + 1)
        if len(self._hosts) > self._limit:
            self._hosts.popitem(last=False)

    def banned(self, host: str, now: float) -> bool:
        entry = self._hosts.get(host)
        return entry is not None and now < entry[0]


def _resolve(endpoint: Endpoint, what: str = "address",
             family: socket.AddressFamily = socket.AF_UNSPEC) -> tuple[socket.AddressFamily, _Addr]:
    """The address family and the (host, port) to use; on an IPv6 socket an IPv4 peer is
    reached at its IPv4-mapped address (the socket is dual-stack)."""
    flags = socket.AI_V4MAPPED if family == socket.AF_INET6 else 0
    try:
        infos = socket.getaddrinfo(endpoint.host, endpoint.port, family, socket.SOCK_DGRAM,
                                   0, flags)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve the {what} {endpoint}: {exc.strerror}") from exc
    ipv4 = [info for info in infos if info[0] == socket.AF_INET]
    chosen = (ipv4 or infos)[0]  # a name with both: IPv4, as before IPv6 was supported
    host, port = chosen[4][:2]
    return chosen[0], (str(host), int(port))


class UdpTransport:
    """The `Transport` interface over UDP. Sockets are bound on construction (errors early)."""

    def __init__(self, config: UdpConfig, *, entropy: Entropy = os.urandom) -> None:
        """`entropy(n)` gives n random bytes: the cookie secret (drawn first, here),
        connection ids, first fragment numbers and announcement nonces all come from it.
        It MUST be a cryptographically secure generator in use; the vector generator passes
        a seeded one so that a recorded exchange is reproducible."""
        if config.datagram_size < DATA_HEADER + CHUNK_HEADER + MIN_MTU:
            raise ValueError(f"datagram_size must be at least "
                             f"{DATA_HEADER + CHUNK_HEADER + MIN_MTU}")
        self.config = config
        self.counters: Counter[str] = Counter(dict.fromkeys(COUNTERS, 0))
        self._links: dict[_Addr, _Link] = {}
        family, listen = _resolve(config.listen, "listen address")
        self._static = [_resolve(p, "peer", family)[1] for p in config.peers]
        self._discovered: set[_Addr] = set()
        self._timer = trio.Event()
        self._queue: deque[TransportEvent] = deque()
        self._queued = trio.Event()
        self._queue_limit = 2 * config.window
        self._throttled: set[_Link] = set()
        self._to_flush: set[_Link] = set()
        self._flush = trio.Event()
        self._entropy = entropy
        self._secret = entropy(32)  # keys the cookies; never leaves this process
        self._relinks = Buckets(Rate(1 / config.relink_interval, config.relink_burst))
        self._penalties = _Penalties(config.penalty, config.penalty_max)
        self._nonces: deque[bytes] = deque(maxlen=4)  # our recent announcements
        self._raw = socket.socket(family, socket.SOCK_DGRAM)
        self._group_raw: socket.socket | None = None
        try:
            if family == socket.AF_INET6:
                # Dual stack: a node listening on "::" also links with IPv4 peers.
                self._raw.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            try:
                self._raw.bind(listen)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot listen on UDP {config.listen}: "
                              f"{exc.strerror} (choose another address with --listen "
                              "HOST:PORT or udp.listen in the config)") from exc
            self._raw.setblocking(False)
            if config.discovery and family == socket.AF_INET:
                self._group_raw = self._join_group(listen[0])
            elif config.discovery:
                # §13.7: discovery is IPv4 multicast; over IPv6 only configured peers link.
                _log.warning("discovery_unavailable", extra={"fields": {
                    "group": str(config.group), "error": "the listen address is IPv6"}})
        except BaseException:
            self._raw.close()
            raise
        self._sock = trio.socket.from_stdlib_socket(self._raw)
        host, port = self._raw.getsockname()[:2]
        self.local = Endpoint(str(host), int(port))

    def _join_group(self, interface: str) -> socket.socket | None:
        group = _resolve(self.config.group, "group", socket.AF_INET)[1]
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

    @property
    def mtu(self) -> int:
        """The largest fragment a link carries: one chunk filling a DATA datagram."""
        return self.config.datagram_size - DATA_HEADER - CHUNK_HEADER

    # --- the Transport interface -------------------------------------------------------------

    async def run(self, events: trio.MemorySendChannel[TransportEvent]) -> None:
        now = trio.current_time()
        for addr in self._static:  # the keepalive task's first round probes them
            if addr not in self._links:
                self._new_link(addr, now, static=True)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._receive, self._sock, self._raw, False)
                if self._group_raw is not None:
                    group_sock = trio.socket.from_stdlib_socket(self._group_raw)
                    nursery.start_soon(self._receive, group_sock, self._group_raw, True)
                    nursery.start_soon(self._announce)
                nursery.start_soon(self._keepalive)
                nursery.start_soon(self._timers)
                nursery.start_soon(self._flusher)
                nursery.start_soon(self._deliver, events)
        finally:
            for link in self._links.values():
                if link.up:
                    self._send(link, Close())
                link.closed = True
                link.room.set()
            self.close_sockets()

    async def send(self, link: LinkId, frame: bytes) -> None:
        state = self._by_id(link)
        if state is None or not state.up:
            await trio.lowlevel.checkpoint()
            return
        for fragment in state.fragmenter.fragments(frame):
            while len(state.outbox) >= self.config.window:
                self._pump(state, force=True)
                if len(state.outbox) < self.config.window or state.closed:
                    break
                state.room = trio.Event()
                await state.room.wait()
            if state.closed:
                return
            state.outbox.append(fragment)
        self.counters["frames_out"] += 1
        self._pump(state, force=False)
        if state.outbox:
            # Send what is left once the caller has handed its whole burst (it does not
            # yield between frames while the link takes them), so small frames share a
            # datagram.
            self._to_flush.add(state)
            self._flush.set()
        await trio.lowlevel.checkpoint_if_cancelled()

    def flush(self, link: LinkId) -> None:
        """Send at once what `send` left waiting to share a datagram: the caller has handed
        its whole burst (the daemon's link sender does, when its queue runs empty). Without
        it the flusher sends that at the next scheduler round, which at every hop held the
        last datagram of an alert (docs/benchmarks.md, issue 18, session 10)."""
        state = self._by_id(link)
        if state is not None and state.up:
            self._to_flush.discard(state)
            self._pump(state, force=True)

    async def close(self, link: LinkId, reason: str) -> None:
        state = self._by_id(link)
        if state is not None:
            if state.up:
                self._send(state, Close())
            now = trio.current_time()
            # The node closes a link only for misbehaviour (malformed frames): the host
            # waits before it may link again, so that it cannot reset its budgets.
            self._penalties.punish(state.addr[0], now)
            self._drop(state, reason, now)
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
                link.id, str(Endpoint(*link.addr)), "up" if link.up else "probing",
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
        return self._links.get((host.removeprefix("[").removesuffix("]"), int(port)))

    def _new_link(self, addr: _Addr, now: float, *, static: bool) -> _Link:
        link = _Link(
            addr, link_id(addr), static, now, new_cid(self._entropy),
            ArqSender(window=self.config.window), ArqReceiver(window=self._queue_limit),
            Fragmenter(self.mtu, max_frame=DEFAULT_MAX_FRAME,
                       first_seq=int.from_bytes(self._entropy(2), "big")),
            Reassembler(max_frame=DEFAULT_MAX_FRAME, ordered=True),
            granted=self.config.window,
        )
        self._links[addr] = link
        return link

    def _probe(self, addr: _Addr, now: float, *, static: bool) -> None:
        link = self._links.get(addr) or self._new_link(addr, now, static=static)
        self._send(link, Probe(link.local), NO_CID)

    def _host_links(self, host: str) -> int:
        return sum(1 for link in self._links.values() if link.addr[0] == host and not link.static)

    def _may_link(self, addr: _Addr, now: float) -> bool:
        """Whether a new link with `addr` is welcome (nothing is spent)."""
        if self._penalties.banned(addr[0], now):
            self.counters["penalized"] += 1
            return False
        if addr in self._static:
            return True
        if self._host_links(addr[0]) >= self.config.max_links_per_host:
            return False
        if addr in self._discovered:
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
        self._enqueue(LinkUp(link.id, self.mtu))

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
        self._to_flush.discard(link)
        if not link.static:
            self._discovered.discard(link.addr)
        if link.static:
            self._new_link(link.addr, now, static=True)
        if was_up:
            self.counters["links_down_total"] += 1
            _log.debug("link_down", extra={"fields": {"link": link.id, "reason": reason}})
            self._enqueue(LinkDown(link.id, reason))

    # --- the handshake ---------------------------------------------------------------------------

    def _cookie(self, addr: _Addr, initiator: bytes, period: int) -> bytes:
        return make_cookie(self._secret, period, addr[0], addr[1], initiator)

    def _period(self, now: float) -> int:
        return int(now // self.config.cookie_period)

    def _on_probe(self, probe: Probe, addr: _Addr, now: float) -> None:
        """Answer with a cookie, keeping no state: a spoofed source learns nothing back."""
        if addr not in self._links and not self._may_link(addr, now):
            self.counters["refused"] += 1
            return
        cookie = self._cookie(addr, probe.initiator, self._period(now))
        self._send_raw(encode(Datagram(probe.initiator, Challenge(cookie))), addr)

    def _on_challenge(self, link: _Link, challenge: Challenge, now: float) -> None:
        if link.up or link.cookie == challenge.cookie:
            return  # a repeat: the keepalive round repeats our CONNECT
        link.cookie, link.cookie_at = challenge.cookie, now
        self._send(link, Connect(link.local, challenge.cookie), NO_CID)

    def _on_connect(self, connect: Connect, addr: _Addr, now: float) -> None:
        period = self._period(now)
        if not any(hmac.compare_digest(connect.cookie, self._cookie(addr, connect.initiator, p))
                   for p in (period, period - 1)):
            self.counters["bad_cookie"] += 1
            return
        link = self._links.get(addr)
        if link is not None and link.up and link.peer == connect.initiator:
            self._send(link, Accept(link.local))  # our ACCEPT was lost: say it again
            return
        if link is not None and not link.up and connect.initiator > link.local:
            return  # both sides opened at once: the lower initiator id goes on, ours
        if link is not None and link.up:
            assert link.heard is not None
            if now - link.heard < 2 * self.config.keepalive:
                # The link is alive: a second handshake is a crossed open or a replay.
                self.counters["relinks_refused"] += 1
                return
        elif not self._may_link(addr, now):
            self.counters["refused"] += 1
            return
        if not self._relinks.take(addr[0], now):
            self.counters["relinks_refused"] += 1
            return
        static = addr in self._static
        if link is not None:
            self._drop(link, "peer reconnected", now)
        fresh = self._links.get(addr)
        if fresh is None or fresh.up:
            fresh = self._new_link(addr, now, static=static)
        fresh.created = now
        self._up(fresh, connect.initiator, now)
        self._send(fresh, Accept(fresh.local))

    def _on_accept(self, link: _Link, accept: Accept, now: float) -> None:
        if not link.up and link.cookie is not None:
            self._up(link, accept.responder, now)

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
            try:  # all that the channel takes at once, then wait (one scheduler round)
                while self._queue:
                    events.send_nowait(self._queue[0])
                    self._queue.popleft()
            except trio.WouldBlock:
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
        if not link.up:
            return
        next_seq, bitmap = link.rx.ack()
        limit = self._grant(link)
        link.owed, link.ack_now, link.ack_at = 0, False, None
        self.counters["acks_out"] += 1
        self._send(link, Ack(next_seq, bitmap, limit))

    def _settle_acks(self, links: set[_Link], now: float) -> None:
        """After a batch of datagrams: acknowledge now what must be, schedule the rest."""
        for link in links:
            if not link.up or not (link.owed or link.ack_now):
                continue
            if link.ack_now or link.owed >= self.config.ack_every or link in self._throttled:
                self._acknowledge(link)
            elif link.ack_at is None:
                link.ack_at = now + self.config.ack_delay
                self._timer.set()

    # --- sending -------------------------------------------------------------------------------

    def _send(self, link: _Link, payload: Payload, cid: bytes | None = None) -> None:
        """A datagram to the peer of `link`, addressed to its connection id (or `cid`)."""
        target = cid if cid is not None else link.peer
        assert target is not None
        link.datagrams_out += 1
        self._send_raw(encode(Datagram(target, payload)), link.addr)

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

    def _pump(self, link: _Link, *, force: bool) -> None:
        """Pack queued fragments into DATA datagrams while the window allows; a datagram
        that is not full waits for more unless `force`."""
        budget = self.config.datagram_size - DATA_HEADER
        while link.outbox and link.up and link.tx.has_room():
            taken: list[bytes] = []
            size = 0
            while link.outbox and size + chunk_cost(link.outbox[0]) <= budget:
                fragment = link.outbox.popleft()
                taken.append(fragment)
                size += chunk_cost(fragment)
            if not force and not link.outbox:
                link.outbox.extendleft(reversed(taken))
                return
            idle = link.tx.in_flight == 0
            seq = link.tx.push(tuple(taken), trio.current_time())
            self.counters["data_out"] += 1
            self._send(link, Data(seq, tuple(taken)))
            if idle:
                self._timer.set()
        if not link.outbox:
            link.room.set()

    async def _flusher(self) -> None:
        while True:
            await self._flush.wait()
            self._flush = trio.Event()
            links, self._to_flush = self._to_flush, set()
            for link in links:
                self._pump(link, force=True)

    # --- receiving -----------------------------------------------------------------------------

    async def _receive(self, sock: trio.socket.SocketType, raw: socket.socket,
                       group: bool) -> None:
        while True:
            try:
                data, addr = await sock.recvfrom(_RECV_BUFFER)
            except OSError:
                self.counters["receive_errors"] += 1
                continue
            touched: set[_Link] = set()
            self._on_datagram(data, (str(addr[0]), int(addr[1])), group, touched)
            # Read what else is waiting before acknowledging: one ACK per link per batch.
            for _ in range(_DRAIN - 1):
                try:
                    data, addr = raw.recvfrom(_RECV_BUFFER)
                except BlockingIOError:
                    break
                except OSError:
                    self.counters["receive_errors"] += 1
                    break
                self._on_datagram(data, (str(addr[0]), int(addr[1])), group, touched)
            self._settle_acks(touched, trio.current_time())

    def _on_datagram(self, data: bytes, addr: _Addr, group: bool, touched: set[_Link]) -> None:
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
        now = trio.current_time()
        payload = d.payload
        if isinstance(payload, Announce):
            if group:
                self._on_announcement(payload, addr, now)
            return
        if group:
            return  # only announcements belong on the group
        if isinstance(payload, Probe):
            self._on_probe(payload, addr, now)
            return
        if isinstance(payload, Connect):
            self._on_connect(payload, addr, now)
            return
        link = self._links.get(addr)
        if link is None or d.cid != link.local:
            # Not for a link we hold at this address: stale, or a guess. No answer, so a
            # spoofed datagram cannot make us talk to anyone.
            self.counters["stale"] += 1
            return
        link.datagrams_in += 1
        match payload:
            case Challenge():
                self._on_challenge(link, payload, now)
            case Accept():
                self._on_accept(link, payload, now)
            case _ if not link.up:
                self.counters["stale"] += 1
            case Close():
                self._drop(link, "peer closed the link", now)
            case Data():
                link.heard = now
                self._on_data(link, payload, now)
                touched.add(link)
            case Ack():
                link.heard = now
                if link.tx.on_ack(payload.next, payload.bitmap, now, payload.limit):
                    self._timer.set()
                self._pump(link, force=True)

    def _on_announcement(self, announce: Announce, addr: _Addr, now: float) -> None:
        if announce.nonce in self._nonces or addr in self._links:
            return
        if len(self._discovered) >= self.config.max_links or not self._may_discover(addr, now):
            self.counters["refused"] += 1
            return
        self._discovered.add(addr)
        self.counters["discovered"] += 1
        self._probe(addr, now, static=False)

    def _may_discover(self, addr: _Addr, now: float) -> bool:
        return (not self._penalties.banned(addr[0], now)
                and self._host_links(addr[0]) < self.config.max_links_per_host)

    def _on_data(self, link: _Link, data: Data, now: float) -> None:
        link.owed += 1
        if data.seq >= link.granted:
            self.counters["over_limit"] += 1  # a peer ignoring our grant: not taken
            link.ack_now = True
            return
        batches = link.rx.receive(data.seq, data.fragments)
        if not batches:
            link.ack_now = True  # a duplicate or a gap: tell the sender at once
        for fragments in batches:
            for fragment in fragments:
                try:
                    frames = link.reassembler.feed(fragment, now)
                except FramingError as exc:
                    self.counters["malformed_fragments"] += 1
                    self._misbehaved(link, f"malformed fragment: {exc}", now)
                    return
                for frame in frames:
                    self.counters["frames_in"] += 1
                    self._enqueue(FrameReceived(link.id, frame))

    def _misbehaved(self, link: _Link, reason: str, now: float) -> None:
        """Close a link whose peer broke the link protocol; its host waits to link again."""
        self._send(link, Close())
        self._penalties.punish(link.addr[0], now)
        self._drop(link, reason, now)

    # --- timers --------------------------------------------------------------------------------

    async def _keepalive(self) -> None:
        while True:
            now = trio.current_time()
            for link in list(self._links.values()):
                self._tick(link, now)
            await trio.sleep(self.config.keepalive)

    def _tick(self, link: _Link, now: float) -> None:
        """Keep a live link heard (an ACK doubles as keepalive) and go on with a handshake."""
        if link.up:
            assert link.heard is not None
            if now - link.heard > self.config.link_timeout:
                self._drop(link, "peer silent", now)
            else:
                self._acknowledge(link)
            return
        if not link.static and now - link.created > self.config.link_timeout:
            del self._links[link.addr]  # a discovered peer that never answered
            self._discovered.discard(link.addr)
            return
        if self._penalties.banned(link.addr[0], now):
            return
        if link.cookie is not None and now - link.cookie_at < self.config.cookie_period:
            self._send(link, Connect(link.local, link.cookie), NO_CID)
        else:
            link.cookie = None
            self._send(link, Probe(link.local), NO_CID)

    async def _announce(self) -> None:
        group = _resolve(self.config.group, "group", socket.AF_INET)[1]
        while True:
            nonce = self._entropy(8)
            self._nonces.append(nonce)
            self._send_raw(encode(Datagram(NO_CID, Announce(nonce))), group)
            await trio.sleep(self.config.discovery_interval)

    async def _timers(self) -> None:
        """Retransmissions and delayed acknowledgements, each at its deadline."""
        while True:
            deadline = min((d for link in self._links.values() if link.up
                            and (d := self._deadline(link)) is not None), default=math.inf)
            self._timer = trio.Event()
            with trio.move_on_at(deadline):
                await self._timer.wait()
            now = trio.current_time()
            for link in list(self._links.values()):
                if not link.up:
                    continue
                if link.ack_at is not None and link.ack_at <= now:
                    self._acknowledge(link)
                for seq, fragments in link.tx.due(now):
                    self._send(link, Data(seq, fragments))

    @staticmethod
    def _deadline(link: _Link) -> float | None:
        times = [t for t in (link.tx.next_deadline(), link.ack_at) if t is not None]
        return min(times, default=None)
