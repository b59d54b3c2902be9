"""In-memory links: exact delivery, lossy delivery that never corrupts, link lifecycle."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from meshnode.transport.base import FrameReceived, LinkDown, LinkUp, Transport, TransportEvent
from meshnode.transport.framing import DEFAULT_MAX_FRAME, MIN_MTU, wire_size
from meshnode.transport.memory import MemoryNetwork, MemoryTransport

mtus = st.integers(MIN_MTU, 1500)


def random_frame(size_seed: tuple[int, int]) -> bytes:
    size, seed = size_seed
    return random.Random(seed).randbytes(size)


frames = st.lists(st.tuples(st.one_of(st.integers(0, 300), st.integers(0, DEFAULT_MAX_FRAME)),
                            st.integers(0, 2**32 - 1)).map(random_frame), max_size=6)


def received(events: list[TransportEvent]) -> list[tuple[object, bytes]]:
    return [(e.link, e.data) for e in events if isinstance(e, FrameReceived)]


@given(a_to_b=frames, b_to_a=frames, mtu=mtus)
@settings(max_examples=50)
def test_lossless_links_deliver_every_frame_exactly_and_in_order(
        a_to_b: list[bytes], b_to_a: list[bytes], mtu: int) -> None:
    net = MemoryNetwork(mtu=mtu)
    net.connect("a", "b")
    assert net.poll("a") == [LinkUp("b", mtu)]
    assert net.poll("b") == [LinkUp("a", mtu)]
    for x, y in zip(a_to_b, b_to_a, strict=False):
        assert net.send("a", "b", x) and net.send("b", "a", y)
    for x in a_to_b[len(b_to_a):]:
        net.send("a", "b", x)
    for y in b_to_a[len(a_to_b):]:
        net.send("b", "a", y)
    net.deliver_all(now=0)
    assert received(net.poll("b")) == [("a", x) for x in a_to_b]
    assert received(net.poll("a")) == [("b", y) for y in b_to_a]
    assert net.in_flight == 0
    stats = net.link_stats("a", "b")
    assert stats.frames_sent == stats.reassembly.frames_ok == len(a_to_b)
    assert stats.wire_bytes == sum(wire_size(len(x), mtu) for x in a_to_b)
    assert net.wire_bytes == stats.wire_bytes + sum(wire_size(len(y), mtu) for y in b_to_a)


@given(sent=st.lists(st.binary(max_size=400), min_size=1, max_size=30), mtu=st.integers(20, 64),
       loss=st.floats(0.01, 0.9), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=100)
def test_lossy_links_lose_whole_frames_and_never_corrupt_one(
        sent: list[bytes], mtu: int, loss: float, seed: int) -> None:
    net = MemoryNetwork(mtu=mtu, loss=loss, seed=seed)
    net.connect("a", "b")
    for frame in sent:
        net.send("a", "b", frame)
    net.deliver_all(now=0)
    got = [data for _, data in received(net.poll("b"))]
    # What arrives is an in-order subsequence of what was sent, each frame intact.
    rest = iter(sent)
    assert all(any(frame == candidate for candidate in rest) for frame in got)
    stats = net.link_stats("a", "b")
    assert stats.reassembly.frames_ok == len(got)
    assert stats.reassembly.malformed == 0
    if stats.fragments_lost == 0:
        assert got == sent
    else:
        assert len(got) < len(sent)


def test_loss_is_reproducible_from_the_seed() -> None:
    sent = [random.Random(i).randbytes(200) for i in range(50)]

    def run(seed: int) -> list[bytes]:
        net = MemoryNetwork(loss=0.05, seed=seed)
        net.connect("a", "b")
        for frame in sent:
            net.send("a", "b", frame)
        net.deliver_all(now=0)
        return [data for _, data in received(net.poll("b"))]

    assert run(1) == run(1)
    assert 0 < len(run(1)) < len(sent)
    assert run(1) != run(2)


def test_step_moves_one_fragment_at_a_time() -> None:
    net = MemoryNetwork(mtu=MIN_MTU)
    net.connect("a", "b")
    net.poll("b")
    frame = bytes(range(40))  # three fragments at the minimum MTU
    net.send("a", "b", frame)
    assert net.in_flight == 3
    assert net.step(0) and net.step(0)
    assert net.poll("b") == []
    assert net.step(0)
    assert net.poll("b") == [FrameReceived("a", frame)]
    assert not net.step(0)


def test_disconnect_loses_fragments_in_flight_and_reconnect_starts_afresh() -> None:
    net = MemoryNetwork(mtu=MIN_MTU)
    net.connect("a", "b", mtu=100)
    net.send("a", "b", bytes(500))
    net.step(0)
    assert net.disconnect("a", "b", "out of range")
    assert not net.disconnect("a", "b")
    assert net.poll("a")[-1] == LinkDown("b", "out of range")
    assert net.poll("b")[-1] == LinkDown("a", "out of range")
    assert not net.send("a", "b", b"lost")
    net.deliver_all(0)
    assert net.in_flight == 0 and net.poll("b") == []
    net.connect("b", "a")
    net.send("a", "b", b"again")
    net.deliver_all(0)
    assert net.poll("b") == [LinkUp("a", MIN_MTU), FrameReceived("a", b"again")]


def test_partial_frames_time_out_on_the_time_passed_in() -> None:
    net = MemoryNetwork(mtu=MIN_MTU, timeout=5)
    net.connect("a", "b")
    net.poll("b")
    net.send("a", "b", bytes(100))
    net.step(0)
    net.step(5)
    net.deliver_all(6)  # the first fragment arrived at t=0: by t=6 the frame is too old
    assert net.poll("b") == []
    assert net.link_stats("a", "b").reassembly.frames_timed_out == 1


def test_connect_refuses_nonsense() -> None:
    net = MemoryNetwork()
    with pytest.raises(ValueError):
        net.connect("a", "a")
    net.connect("a", "b")
    with pytest.raises(ValueError):
        net.connect("b", "a")
    with pytest.raises(ValueError):
        net.connect("a", "c", loss=1.5)


def test_memory_transport_speaks_the_transport_interface() -> None:
    net = MemoryNetwork(mtu=MIN_MTU)
    a: Transport = MemoryTransport(net, "a")
    b: Transport = MemoryTransport(net, "b")
    big = random.Random(9).randbytes(5000)

    async def main() -> None:
        send_a, recv_a = trio.open_memory_channel[TransportEvent](16)
        send_b, recv_b = trio.open_memory_channel[TransportEvent](16)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(a.run, send_a)
            nursery.start_soon(b.run, send_b)
            net.connect("a", "b")
            assert await recv_a.receive() == LinkUp("b", MIN_MTU)
            assert await recv_b.receive() == LinkUp("a", MIN_MTU)
            await a.send("b", big)
            await b.send("a", b"ack")
            assert await recv_b.receive() == FrameReceived("a", big)
            assert await recv_a.receive() == FrameReceived("b", b"ack")
            await b.close("a", "done")
            assert await recv_a.receive() == LinkDown("b", "done")
            assert await recv_b.receive() == LinkDown("a", "done")
            await a.send("b", b"nobody there")
            await trio.testing.wait_all_tasks_blocked()
            assert recv_b.statistics().current_buffer_used == 0
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock())
