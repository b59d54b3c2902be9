"""Fuzzing the UDP datagram format and the ARQ above it (meshnode/transport/udpwire.py,
arq.py): mutated datagrams raise only `DatagramError` or decode to exactly what they
re-encode to, and hostile ACKs and DATA keep both ends within their windows.

`ci` profile by default; `HYPOTHESIS_PROFILE=fuzz` for the long run.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from meshnode.transport import udpwire
from meshnode.transport.arq import ArqReceiver, ArqSender
from tests.fuzzing import mutated_from

A, B = b"A" * 8, b"B" * 8
u64 = st.integers(0, 2**64 - 1)
VALID = [
    udpwire.encode(udpwire.Datagram(udpwire.NO_CID, udpwire.Probe(A))),
    udpwire.encode(udpwire.Datagram(A, udpwire.Challenge(bytes(range(16))))),
    udpwire.encode(udpwire.Datagram(udpwire.NO_CID, udpwire.Connect(A, bytes(range(16))))),
    udpwire.encode(udpwire.Datagram(A, udpwire.Accept(B))),
    udpwire.encode(udpwire.Datagram(B, udpwire.Close())),
    udpwire.encode(udpwire.Datagram(
        B, udpwire.Data(7, (b"\x30\x00\x07payload", b"\x30\x00\x08x")))),
    udpwire.encode(udpwire.Datagram(A, udpwire.Ack(3, 0b1011, 70))),
]


def reencode(d: udpwire.Datagram) -> bytes:
    return udpwire.encode(d)


@given(mutated_from(VALID))
def test_mutated_datagrams_are_refused_or_exact(data: bytes) -> None:
    try:
        datagram = udpwire.decode(data)
    except udpwire.DatagramError as exc:
        assert exc.field.startswith("datagram")
        return
    assert reencode(datagram) == data


@given(window=st.integers(1, 16), pushes=st.integers(0, 40),
       acks=st.lists(st.tuples(u64 | st.integers(0, 50), u64, u64 | st.none()), max_size=30))
def test_hostile_acks_never_widen_the_senders_window(
        window: int, pushes: int, acks: list[tuple[int, int, int | None]]) -> None:
    sender = ArqSender(window=window)
    now, pushed = 0.0, list[int]()
    for next_seq, bitmap, limit in acks:
        while len(pushed) < pushes and sender.has_room():
            pushed.append(sender.push(b"x", now))
        now += 0.05
        sender.on_ack(next_seq, bitmap, now, limit)
        sender.due(now)
        assert sender.in_flight <= window
        assert sender.stats.acked + sender.in_flight == len(pushed)
        deadline = sender.next_deadline()
        assert deadline is None or deadline <= now + 2.0  # rto_max: the timer never runs away
    assert pushed == list(range(len(pushed)))


@given(window=st.integers(1, 32),
       arrivals=st.lists(st.tuples(u64 | st.integers(0, 64), st.binary(max_size=4)),
                         max_size=80))
def test_hostile_data_is_held_only_within_the_window_and_delivered_in_order(
        window: int, arrivals: list[tuple[int, bytes]]) -> None:
    receiver = ArqReceiver(window=window)
    by_seq: dict[int, bytes] = {}
    delivered: list[bytes] = []
    for seq, payload in arrivals:
        by_seq.setdefault(seq, payload)
        held_before = receiver.next
        delivered += receiver.receive(seq, payload)
        assert receiver.next >= held_before
        next_seq, bitmap = receiver.ack()
        assert next_seq == receiver.next and 0 <= bitmap < 2**64
    # Delivery is exactly seqs 0..next-1 in order, each the first payload that arrived for it
    # (a later duplicate with other contents never replaces it).
    assert delivered == [by_seq[i] for i in range(receiver.next)]
