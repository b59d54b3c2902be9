"""UDP links over real sockets on 127.0.0.1: link life cycle, whole frames in order through a
lossy, duplicating, reordering network, restarts, limits, discovery, hostile datagrams."""

from __future__ import annotations

import dataclasses
import os
import random
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from meshnode.transport.base import FrameReceived, LinkDown, LinkUp, TransportEvent
from meshnode.transport.framing import DEFAULT_MAX_FRAME
from meshnode.transport.udp import Endpoint, UdpConfig, UdpTransport
from meshnode.transport.udpwire import (
    DATA_HEADER,
    NO_CID,
    Accept,
    Ack,
    Challenge,
    Close,
    Connect,
    Data,
    Datagram,
    Probe,
    Type,
    decode,
    encode,
    make_cookie,
)

LOOPBACK = Endpoint("127.0.0.1", 0)
TIMEOUT = 10.0


def config(**changes: Any) -> UdpConfig:
    return dataclasses.replace(UdpConfig(listen=LOOPBACK, discovery=False, keepalive=0.05,
                                         link_timeout=0.5), **changes)


@dataclasses.dataclass
class Side:
    transport: UdpTransport
    events: trio.MemoryReceiveChannel[TransportEvent]
    scope: trio.CancelScope

    @property
    def addr(self) -> Endpoint:
        return self.transport.local

    async def next(self, kind: type, timeout: float = TIMEOUT, link: str | None = None) -> Any:
        """The next event (on `link`, if given), which must be of `kind`; frames of an old
        link are skipped."""
        with trio.fail_after(timeout):
            while True:
                event = await self.events.receive()
                if isinstance(event, FrameReceived) and kind is not FrameReceived:
                    continue
                if link is not None and event.link != link:
                    continue
                assert isinstance(event, kind), f"expected {kind.__name__}, got {event}"
                return event

    async def frames(self, count: int, link: str | None = None) -> list[bytes]:
        return [(await self.next(FrameReceived, link=link)).data for _ in range(count)]


@asynccontextmanager
async def running(nursery: trio.Nursery, cfg: UdpConfig, buffer: int = 1000, *,
                  entropy: Callable[[int], bytes] = os.urandom) -> AsyncIterator[Side]:
    transport = UdpTransport(cfg, entropy=entropy)
    send, receive = trio.open_memory_channel[TransportEvent](buffer)
    scope = trio.CancelScope()

    async def run() -> None:
        with scope:
            await transport.run(send)

    nursery.start_soon(run)
    try:
        yield Side(transport, receive, scope)
    finally:
        scope.cancel()


@asynccontextmanager
async def linked(nursery: trio.Nursery) -> AsyncIterator[tuple[Side, Side, LinkUp]]:
    """A (static peer B) and B with their link up, timers long enough that nothing but the
    test's own frames moves: (A, B, A's LinkUp)."""
    async with running(nursery, config(link_timeout=30.0, keepalive=5.0)) as b, \
            running(nursery, config(peers=(b.addr,), link_timeout=30.0, keepalive=5.0)) as a:
        up = await a.next(LinkUp)
        await b.next(LinkUp)
        yield a, b, up


def go(test: Callable[[trio.Nursery], Awaitable[None]], *,
       clock: trio.abc.Clock | None = None) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            with trio.fail_after(60):
                await test(nursery)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=clock)


def virtual_time() -> trio.testing.MockClock:
    """Time that moves only when every task waits (both ends run in this one process, and a
    datagram on loopback is readable at once): timers, retransmission ones included, fire by
    the protocol's logic, never because a loaded machine was slow to run the receiver."""
    return trio.testing.MockClock(autojump_threshold=0.02)


FRAMES = [b"", b"x", os.urandom(1200 - DATA_HEADER - 5), os.urandom(1200 - DATA_HEADER - 4),
          os.urandom(5000), os.urandom(DEFAULT_MAX_FRAME)]


def test_static_peers_link_up_and_frames_arrive_whole_and_in_order() -> None:
    async def test(nursery: trio.Nursery) -> None:
        async with running(nursery, config()) as b, \
                running(nursery, config(peers=(b_addr := b.addr,))) as a:
            up_a, up_b = await a.next(LinkUp), await b.next(LinkUp)
            assert up_a.link == f"udp:{b_addr.host}:{b_addr.port}"
            assert up_b.link == f"udp:127.0.0.1:{a.addr.port}"
            assert up_a.mtu == up_b.mtu == 1200 - DATA_HEADER - 2  # one chunk

            async def send_all(side: Side, link: str) -> None:
                for frame in FRAMES * 3:
                    await side.transport.send(link, frame)

            nursery.start_soon(send_all, a, up_a.link)
            nursery.start_soon(send_all, b, up_b.link)
            assert await b.frames(len(FRAMES) * 3) == FRAMES * 3
            assert await a.frames(len(FRAMES) * 3) == FRAMES * 3
            stats = a.transport.stats()
            assert stats["frames_out"] == stats["frames_in"] == len(FRAMES) * 3
            [peer] = a.transport.peers()
            assert peer.state == "up" and peer.static and peer.rtt_ms is not None

    go(test)


async def proxy(nursery: trio.Nursery, a: Endpoint, b: Endpoint, *, loss: float, dup: float,
                delay: float, seed: int) -> int:
    """A network between A and B that loses, duplicates and reorders datagrams.

    A sends to the returned port; B sees the proxy's other socket as its peer.
    """
    rng = random.Random(seed)
    face_a = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    face_b = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await face_a.bind(("127.0.0.1", 0))
    await face_b.bind(("127.0.0.1", 0))

    async def later(sock: trio.socket.SocketType, data: bytes, to: tuple[str, int],
                    wait: float) -> None:
        await trio.sleep(wait)
        await sock.sendto(data, to)

    async def pump(src: trio.socket.SocketType, out: trio.socket.SocketType,
                   to: tuple[str, int]) -> None:
        while True:
            data, _ = await src.recvfrom(65536)
            if rng.random() < loss:
                continue
            for _ in range(2 if rng.random() < dup else 1):
                nursery.start_soon(later, out, data, to, rng.random() * delay)

    nursery.start_soon(pump, face_a, face_b, (b.host, b.port))
    nursery.start_soon(pump, face_b, face_a, (a.host, a.port))
    return int(face_a.getsockname()[1])


def test_frames_cross_a_lossy_duplicating_reordering_network_intact() -> None:
    sent = [os.urandom(random.Random(i).randrange(0, 6000)) for i in range(120)]

    async def test(nursery: trio.Nursery) -> None:
        async with running(nursery, config(link_timeout=3.0)) as b:
            a_transport = UdpTransport(config(link_timeout=3.0))
            port = await proxy(nursery, a_transport.local, b.addr, loss=0.2, dup=0.1,
                               delay=0.02, seed=7)
            a_transport.close_sockets()
            async with running(nursery, config(listen=a_transport.local, link_timeout=3.0,
                                               peers=(Endpoint("127.0.0.1", port),))) as a:
                up = await a.next(LinkUp)
                await b.next(LinkUp)

                async def send_all() -> None:
                    for frame in sent:
                        await a.transport.send(up.link, frame)

                nursery.start_soon(send_all)
                assert await b.frames(len(sent)) == sent
                assert a.transport.stats()["resent"] > 0

    go(test)


def test_a_busy_receiver_slows_the_sender_without_losses_or_resends() -> None:
    sent = [os.urandom(2000) for _ in range(400)]

    async def test(nursery: trio.Nursery) -> None:
        # Keepalives every 5 s (virtual): the clock jumps from one idle moment to the next.
        slow = {"link_timeout": 30.0, "keepalive": 5.0}
        async with running(nursery, config(**slow), buffer=0) as b, \
                running(nursery, config(peers=(b.addr,), **slow)) as a:
            up = await a.next(LinkUp)
            await b.next(LinkUp)

            async def send_all() -> None:
                for frame in sent:
                    await a.transport.send(up.link, frame)

            nursery.start_soon(send_all)
            await trio.sleep(1.0)  # B's application reads nothing for a second
            queued = b.transport.stats()["frames_in"]
            assert 0 < queued < len(sent), "the grant did not hold the sender back"
            assert await b.frames(len(sent)) == sent
            assert a.transport.stats()["resent"] == 0
            assert b.transport.stats()["over_limit"] == 0

    go(test, clock=virtual_time())


def test_a_clean_stop_takes_the_link_down_at_once() -> None:
    async def test(nursery: trio.Nursery) -> None:
        async with running(nursery, config(link_timeout=30.0)) as b, \
                running(nursery, config(peers=(b.addr,), link_timeout=30.0)) as a:
            await a.next(LinkUp)
            await b.next(LinkUp)
            b.scope.cancel()
            down = await a.next(LinkDown, timeout=2.0)
            assert down.reason == "peer closed the link"

    go(test)


def test_silence_takes_the_link_down_and_the_peer_is_found_again() -> None:
    async def test(nursery: trio.Nursery) -> None:
        async with running(nursery, config()) as b, \
                running(nursery, config(peers=(b.addr,))) as a:
            await a.next(LinkUp)
            await b.next(LinkUp)
            b.transport.close_sockets()  # a crash: no BYE
            b.scope.cancel()
            assert (await a.next(LinkDown, timeout=3.0)).reason == "peer silent"
            async with running(nursery, config(listen=b.addr)) as b2:
                await a.next(LinkUp)
                await b2.next(LinkUp)

    go(test)


def test_a_restarted_peer_is_a_new_link() -> None:
    async def test(nursery: trio.Nursery) -> None:
        async with running(nursery, config(link_timeout=30.0)) as b, \
                running(nursery, config(peers=(b.addr,), link_timeout=30.0)) as a:
            up = await a.next(LinkUp)
            await b.next(LinkUp)
            b.transport.close_sockets()
            b.scope.cancel()
            async with running(nursery, config(listen=b.addr, peers=(a.addr,))) as b2:
                assert (await a.next(LinkDown)).reason == "peer reconnected"
                assert (await a.next(LinkUp)).link == up.link
                back = await b2.next(LinkUp)
                await a.transport.send(up.link, b"after the restart")
                await b2.transport.send(back.link, b"hello again")
                assert await b2.frames(1) == [b"after the restart"]
                assert await a.frames(1) == [b"hello again"]

    go(test)


def test_closing_a_link_tells_the_peer_and_a_static_peer_is_probed_after_the_penalty() -> None:
    async def test(nursery: trio.Nursery) -> None:
        async with running(nursery, config(link_timeout=30.0)) as b, \
                running(nursery, config(peers=(b.addr,), link_timeout=30.0,
                                        penalty=0.3)) as a:
            up = await a.next(LinkUp)
            await b.next(LinkUp)
            await a.transport.close(up.link, "garbage")
            assert (await a.next(LinkDown)).reason == "garbage"
            assert (await b.next(LinkDown)).reason == "peer closed the link"
            await a.next(LinkUp)
            await b.next(LinkUp)

    go(test)


def test_unknown_peers_are_refused_unless_accepted() -> None:
    async def test(nursery: trio.Nursery) -> None:
        async with running(nursery, config(accept_unknown=False)) as b, \
                running(nursery, config(peers=(b.addr,))) as a:
            await trio.sleep(0.3)
            assert b.transport.stats()["refused"] > 0
            assert b.transport.peers() == [] and a.transport.stats()["links_up"] == 0

    go(test)


def test_links_with_unknown_peers_are_capped() -> None:
    async def test(nursery: trio.Nursery) -> None:
        async with running(nursery, config(max_links=1)) as hub, \
                running(nursery, config(peers=(hub.addr,))) as one:
            await one.next(LinkUp)
            await hub.next(LinkUp)
            async with running(nursery, config(peers=(hub.addr,))) as two:
                await trio.sleep(0.3)
                assert hub.transport.stats()["refused"] > 0
                assert two.transport.stats()["links_up"] == 0
                assert len(hub.transport.peers()) == 1

    go(test)


def test_discovery_finds_peers_by_multicast() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("", 0))
    group = Endpoint(f"239.255.{random.randrange(256)}.{random.randrange(1, 255)}",
                     probe.getsockname()[1])
    probe.close()
    found = config(discovery=True, group=group, discovery_interval=0.1)

    async def test(nursery: trio.Nursery) -> None:
        async with running(nursery, found) as a, running(nursery, found) as b:
            up_a, up_b = await a.next(LinkUp), await b.next(LinkUp)
            assert up_a.link == f"udp:127.0.0.1:{b.addr.port}"
            assert up_b.link == f"udp:127.0.0.1:{a.addr.port}"
            assert a.transport.stats()["discovered"] + b.transport.stats()["discovered"] >= 1

    go(test)


def test_hostile_datagrams_are_counted_and_change_nothing() -> None:
    rng = random.Random(3)

    async def test(nursery: trio.Nursery) -> None:
        async with running(nursery, config(link_timeout=30.0)) as b, \
                running(nursery, config(peers=(b.addr,), link_timeout=30.0)) as a:
            up = await a.next(LinkUp)
            b_up = await b.next(LinkUp)
            me = os.urandom(8)
            attacker = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            await attacker.bind(("127.0.0.1", 0))
            junk = [rng.randbytes(rng.randrange(0, 200)) for _ in range(200)]
            junk += [b"MN\x02" + rng.randbytes(rng.randrange(0, 60)) for _ in range(200)]
            guesses = [Datagram(me, Challenge(bytes(16))), Datagram(me, Accept(me)),
                       Datagram(me, Close()), Datagram(me, Ack(5, 0, 10**6)),
                       Datagram(me, Data(10**6, (b"\x30\x00\x00x",))),
                       Datagram(NO_CID, Connect(me, bytes(16)))]  # a forged cookie
            junk += [bytes(2000)] + [encode(g) for g in guesses]
            for data in junk:
                await attacker.sendto(data, (b.addr.host, b.addr.port))
            await attacker.sendto(encode(Datagram(NO_CID, Probe(me))), (b.addr.host, b.addr.port))
            # Only the PROBE is answered, with a CHALLENGE no larger than the PROBE, and
            # nothing is kept for it; every other datagram is counted and dropped.
            reply = decode((await attacker.recvfrom(100))[0])
            assert reply.cid == me and reply.type is Type.CHALLENGE
            stats = b.transport.stats()
            assert stats["oversized"] == 1 and stats["bad_cookie"] == 1
            assert stats["malformed"] >= 200
            assert (stats["malformed"] + stats["stale"] + stats["oversized"]
                    + stats["bad_cookie"]) >= len(junk) - 1
            assert len(b.transport.peers()) == 1
            await a.transport.send(up.link, b"still fine")
            assert await b.frames(1, link=b_up.link) == [b"still fine"]

    go(test)


def test_small_frames_share_datagrams_and_one_ack_covers_several() -> None:
    sent = [os.urandom(random.Random(i).randrange(20, 300)) for i in range(600)]

    async def test(nursery: trio.Nursery) -> None:
        async with linked(nursery) as (a, b, up):

            async def send_all() -> None:
                for i in range(0, len(sent), 30):  # bursts, as the daemon hands them
                    for frame in sent[i:i + 30]:
                        await a.transport.send(up.link, frame)
                    await trio.lowlevel.checkpoint()

            nursery.start_soon(send_all)
            assert await b.frames(len(sent)) == sent
            data_out, acks_out = a.transport.stats()["data_out"], b.transport.stats()["acks_out"]
            assert data_out * 3 <= len(sent), f"{data_out} datagrams for {len(sent)} frames"
            assert acks_out * 2 <= data_out, f"{acks_out} ACKs for {data_out} datagrams"

    go(test)


def test_flush_sends_the_held_tail_of_a_burst_at_once() -> None:
    """What `send` holds back to share a datagram (the tail of a 2 kB alert, a small frame)
    leaves when the caller says its burst is whole, not a scheduler round later; without
    `flush` it stays held until then."""
    big = os.urandom(2000)  # two DATA datagrams of 1,200 bytes

    async def test(nursery: trio.Nursery) -> None:
        async with linked(nursery) as (a, b, up):
            before = a.transport.stats()["data_out"]
            await a.transport.send(up.link, big)  # no scheduler round from here on
            await a.transport.send(up.link, b"small")
            assert a.transport.stats()["data_out"] - before == 1  # the tail is held
            a.transport.flush(up.link)
            assert a.transport.stats()["data_out"] - before == 2  # tail and small together
            a.transport.flush(up.link)  # nothing left: nothing sent
            a.transport.flush("udp:127.0.0.1:9")  # no such link: nothing happens
            assert a.transport.stats()["data_out"] - before == 2
            assert await b.frames(2) == [big, b"small"]

    go(test)


def test_two_peers_that_open_at_once_end_with_one_link() -> None:
    async def test(nursery: trio.Nursery) -> None:
        probe = UdpTransport(config())
        port_b = probe.local.port
        probe.close_sockets()
        b_addr = Endpoint("127.0.0.1", port_b)
        async with running(nursery, config(peers=(b_addr,), link_timeout=30.0)) as a, \
                running(nursery, config(listen=b_addr, peers=(a.addr,),
                                        link_timeout=30.0)) as b:
            up_a, up_b = await a.next(LinkUp), await b.next(LinkUp)
            await a.transport.send(up_a.link, b"from a")
            await b.transport.send(up_b.link, b"from b")
            assert await b.frames(1) == [b"from a"]
            assert await a.frames(1) == [b"from b"]
            for side in (a, b):
                stats = side.transport.stats()
                assert stats["links_up_total"] == 1 and stats["links_down_total"] == 0

    go(test)


IPV6_LOOPBACK = Endpoint("::1", 0)


def ipv6_available() -> None:
    """Fail loudly (never skip) when ::1 is missing: the IPv6 tests need it."""
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))


def test_two_transports_link_over_ipv6_loopback_and_frames_cross_both_ways() -> None:
    ipv6_available()

    async def test(nursery: trio.Nursery) -> None:
        async with running(nursery, config(listen=IPV6_LOOPBACK)) as b, \
                running(nursery, config(listen=IPV6_LOOPBACK, peers=(b.addr,))) as a:
            up_a, up_b = await a.next(LinkUp), await b.next(LinkUp)
            assert up_a.link == f"udp:[::1]:{b.addr.port}"
            assert up_b.link == f"udp:[::1]:{a.addr.port}"
            for frame in FRAMES:
                await a.transport.send(up_a.link, frame)
            await b.transport.send(up_b.link, b"reply over ::1")
            assert await b.frames(len(FRAMES)) == FRAMES
            assert await a.frames(1) == [b"reply over ::1"]
            [peer] = a.transport.peers()
            assert peer.address == f"[::1]:{b.addr.port}" and peer.state == "up"

    go(test)


def test_an_ipv6_source_gets_the_documented_cookie_and_a_cookie_for_another_address_fails(
        ) -> None:
    """The CHALLENGE to a PROBE from ::1 carries HMAC-SHA-256(secret, period ‖ 16-byte
    address ‖ port ‖ ci)[:16] (§13.2), the secret being the transport's first entropy draw;
    a CONNECT whose cookie was made for 127.0.0.1 (same port, same cid) is refused."""
    ipv6_available()
    secret = bytes(range(32))
    draws = iter([secret])

    def entropy(n: int) -> bytes:
        return next(draws, None) or os.urandom(n)

    async def test(nursery: trio.Nursery) -> None:
        async with running(nursery, config(listen=IPV6_LOOPBACK), entropy=entropy) as b:
            peer = trio.socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            await peer.bind(("::1", 0))
            port = peer.getsockname()[1]
            target = ("::1", b.addr.port)
            ci = bytes.fromhex("8f3a5c1e9b2d4706")
            before = int(trio.current_time() // 30)
            await peer.sendto(encode(Datagram(NO_CID, Probe(ci))), target)
            challenge = decode((await peer.recvfrom(100))[0])
            after = int(trio.current_time() // 30)
            assert isinstance(challenge.payload, Challenge) and challenge.cid == ci
            made = {p: make_cookie(secret, p, "::1", port, ci) for p in (before, after)}
            assert challenge.payload.cookie in made.values()
            period = next(p for p, c in made.items() if c == challenge.payload.cookie)
            wrong = make_cookie(secret, period, "127.0.0.1", port, ci)
            await peer.sendto(encode(Datagram(NO_CID, Connect(ci, wrong))), target)
            await peer.sendto(encode(Datagram(NO_CID, Connect(ci, challenge.payload.cookie))),
                              target)
            accept = decode((await peer.recvfrom(100))[0])
            assert isinstance(accept.payload, Accept) and accept.cid == ci
            assert b.transport.stats()["bad_cookie"] == 1
            assert (await b.next(LinkUp)).link == f"udp:[::1]:{port}"

    go(test)


def test_endpoints_write_ipv6_hosts_in_brackets() -> None:
    assert Endpoint.parse("[::1]:4917") == Endpoint("::1", 4917)
    assert str(Endpoint("fd00::20", 4917)) == "[fd00::20]:4917"
    assert str(Endpoint.parse("192.168.1.20:4917")) == "192.168.1.20:4917"
    for bad in ("::1:4917", "[::1]", "[::1]:port"):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            Endpoint.parse(bad)
