"""Selective repeat over a hostile channel: every payload exactly once, in order, within the
window; timers back off; a hole overtaken by later datagrams is resent after one RTT."""

from __future__ import annotations

import heapq
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshnode.transport.arq import ArqReceiver, ArqSender


def _transfer(payloads: list[bytes], *, loss: float, dup: float, jitter: float, window: int,
              seed: int) -> tuple[list[bytes], ArqSender, ArqReceiver, int]:
    """Run sender and receiver over a simulated link; returns what was delivered."""
    rng = random.Random(seed)
    tx = ArqSender(window=window, rto_initial=0.2, rto_min=0.02)
    rx = ArqReceiver(window=2 * window)
    wire: list[tuple[float, int, str, tuple[Any, ...]]] = []  # (arrival, tiebreak, kind, what)
    granted = window  # the receiver's grant: random, as a busy application would make it
    counter = 0
    now = 0.0
    delivered: list[bytes] = []
    pending = list(payloads)
    max_in_flight = 0

    def send(kind: str, what: tuple[Any, ...]) -> None:
        nonlocal counter
        for _ in range(2 if rng.random() < dup else 1):
            if rng.random() < loss:
                continue
            counter += 1
            heapq.heappush(wire, (now + 0.01 + rng.random() * jitter, counter, kind, what))

    for _ in range(200_000):
        while pending and tx.has_room():
            payload = pending.pop(0)
            send("data", (tx.push(payload, now), payload))
        max_in_flight = max(max_in_flight, tx.in_flight)
        if not pending and tx.in_flight == 0:
            break
        deadline = tx.next_deadline()
        if wire and (deadline is None or wire[0][0] <= deadline):
            now, _, kind, what = heapq.heappop(wire)
            if kind == "data":
                assert what[0] < granted, "sent past the receiver's limit"
                delivered += rx.receive(what[0], what[1])
                granted = max(granted, rx.next + rng.randrange(1, 2 * window + 1))
                send("ack", (*rx.ack(), granted))
            else:
                tx.on_ack(what[0], what[1], now, what[2])
        else:
            assert deadline is not None
            now = max(now, deadline)
            for seq, payload in tx.due(now):
                send("data", (seq, payload))
    return delivered, tx, rx, max_in_flight


@given(count=st.integers(0, 300), loss=st.floats(0, 0.4), dup=st.floats(0, 0.3),
       jitter=st.floats(0, 0.2), window=st.integers(1, 64), seed=st.integers(0, 2**32))
@settings(max_examples=60)
def test_every_payload_arrives_once_in_order_within_the_window(
        count: int, loss: float, dup: float, jitter: float, window: int, seed: int) -> None:
    payloads = [i.to_bytes(4, "big") for i in range(count)]
    delivered, tx, rx, max_in_flight = _transfer(payloads, loss=loss, dup=dup, jitter=jitter,
                                                 window=window, seed=seed)
    assert delivered == payloads
    assert max_in_flight <= window
    assert tx.stats.acked == tx.stats.sent == count
    assert rx.stats.delivered == count


def test_a_lost_datagram_is_resent_with_backoff() -> None:
    tx = ArqSender(window=4, rto_initial=0.5, rto_min=0.05, rto_max=10)
    assert tx.push(b"x", 0.0) == 0
    assert tx.due(0.4) == []
    assert tx.due(0.5) == [(0, b"x")]
    assert tx.due(0.5 + 0.99) == []  # the timer doubled
    assert tx.due(1.5) == [(0, b"x")]
    assert tx.due(1.5 + 1.99) == []
    assert tx.stats.resent == 2
    tx.on_ack(1, 0, 3.0)
    assert tx.in_flight == 0 and tx.next_deadline() is None


def test_a_hole_is_resent_once_later_datagrams_are_acknowledged() -> None:
    tx = ArqSender(window=8, rto_initial=1.0)
    for i in range(3):
        tx.push(bytes([i]), 0.0)
    tx.on_ack(1, 0, 0.1)  # seq 0 arrived: an RTT sample of 0.1 s
    assert tx.on_ack(1, 0b1, 0.25) is True  # seq 2 arrived (bit 0 = seq 1+1), seq 1 not
    assert tx.due(0.25) == [(1, b"\x01")]


def test_the_window_is_enforced() -> None:
    tx = ArqSender(window=2)
    tx.push(b"a", 0)
    tx.push(b"b", 0)
    assert not tx.has_room()
    with pytest.raises(RuntimeError):
        tx.push(b"c", 0)


def test_the_receiver_bounds_what_it_holds_and_acknowledges_precisely() -> None:
    rx = ArqReceiver(window=4)
    assert rx.receive(2, b"c") == []
    assert rx.receive(9, b"far") == []  # beyond the window: dropped
    assert rx.ack() == (0, 0b10)  # next 0; seq 2 held (bit 1 = seq 0+1+1)
    assert rx.receive(0, b"a") == [b"a"]
    assert rx.receive(1, b"b") == [b"b", b"c"]
    assert rx.receive(1, b"b") == []
    assert rx.ack() == (3, 0)
    assert rx.stats.delivered == 3 and rx.stats.duplicates == 1 and rx.stats.beyond_window == 1


def test_acknowledgements_for_unsent_seqs_are_ignored() -> None:
    tx = ArqSender()
    tx.push(b"a", 0)
    assert tx.on_ack(5, 2**64 - 1, 0.1) is False
    assert tx.in_flight == 1


def test_the_receivers_limit_stops_the_sender_until_it_grows() -> None:
    tx = ArqSender(window=8)
    assert tx.limit == 8
    for i in range(3):
        tx.push(bytes([i]), 0.0)
    tx.on_ack(3, 0, 0.1, limit=3)  # all acknowledged, nothing more granted... but
    assert tx.limit == 8 and tx.has_room()  # a grant never shrinks
    for i in range(3, 8):
        tx.push(bytes([i]), 0.2)
    tx.on_ack(8, 0, 0.3, limit=8)
    assert tx.in_flight == 0 and not tx.has_room()  # everything delivered, no grant left
    assert tx.due(100.0) == []  # and nothing to resend while waiting
    tx.on_ack(8, 0, 0.5, limit=12)
    assert tx.has_room()
