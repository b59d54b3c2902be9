"""Link framing: exact format, round trips in any order, hostile fragments and the bounds."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshnode.codec import WireError
from meshnode.transport.framing import (
    CLOSED_MEMORY,
    DEFAULT_MAX_FRAME,
    FORMAT_MAX_FRAME,
    FRAGMENT_COST,
    MIN_MTU,
    SEQ_WINDOW,
    Fragmenter,
    FramingError,
    Reassembler,
    fragment_count,
    wire_size,
)

mtus = st.integers(MIN_MTU, 1500)
seeds = st.integers(0, 2**32 - 1)


def frame_of(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


# Sizes spread over the whole range, with the edges (empty, one fragment, max) likely.
sizes = st.one_of(st.integers(0, 64), st.integers(0, DEFAULT_MAX_FRAME),
                  st.just(DEFAULT_MAX_FRAME))


def frag(flags: int, seq: int, rest: bytes) -> bytes:
    return bytes((flags,)) + seq.to_bytes(2, "big") + rest


def first(seq: int, total: int, payload: bytes) -> bytes:
    return frag(0x20 | total >> 16, seq, (total & 0xFFFF).to_bytes(2, "big") + payload)


def later(seq: int, index: int, payload: bytes, *, last: bool = False) -> bytes:
    return frag((0x10 if last else 0) | index >> 8, seq, bytes((index & 0xFF,)) + payload)


def single(seq: int, payload: bytes) -> bytes:
    return frag(0x30, seq, payload)


# ---------------------------------------------------------------------------------------------
# The format


def test_fragments_follow_the_documented_layout() -> None:
    frame = bytes(range(40))
    fragmenter = Fragmenter(20, first_seq=0x1234)
    assert fragmenter.fragments(frame) == [
        first(0x1234, 40, frame[:15]),
        later(0x1234, 1, frame[15:31]),
        later(0x1234, 2, frame[31:], last=True),
    ]
    assert fragmenter.fragments(b"hi") == [single(0x1235, b"hi")]
    assert fragmenter.fragments(b"") == [b"\x30\x12\x36"]


def test_total_and_index_use_the_high_flag_bits() -> None:
    size = 70_000
    frame = frame_of(size, 1)
    fragments = Fragmenter(100, max_frame=size).fragments(frame)
    assert fragments[0][:5] == bytes((0x21, 0, 0)) + (size & 0xFFFF).to_bytes(2, "big")
    assert fragments[300][0] == 0x01 and fragments[300][3] == 300 & 0xFF
    assert fragments[-1][0] & 0x10
    reassembler = Reassembler(max_frame=size, max_pending_bytes=size, ordered=True)
    out = [f for fragment in fragments for f in reassembler.feed(fragment, 0)]
    assert out == [frame]


@given(size=sizes, mtu=mtus, seed=seeds)
def test_fragments_fit_the_mtu_and_match_the_overhead_formula(size: int, mtu: int,
                                                              seed: int) -> None:
    fragments = Fragmenter(mtu).fragments(frame_of(size, seed))
    assert all(len(f) <= mtu for f in fragments)
    assert len(fragments) == fragment_count(size, mtu)
    assert sum(len(f) for f in fragments) == wire_size(size, mtu)
    # Filled to the MTU: only the last fragment may be short.
    assert all(len(f) == mtu for f in fragments[:-1])


def test_fragmenter_refuses_what_the_format_cannot_carry() -> None:
    with pytest.raises(ValueError):
        Fragmenter(MIN_MTU - 1)
    with pytest.raises(ValueError):
        Fragmenter(MIN_MTU, max_frame=FORMAT_MAX_FRAME)  # more than 4096 fragments
    with pytest.raises(ValueError):
        Fragmenter(1200, max_frame=FORMAT_MAX_FRAME + 1)
    with pytest.raises(ValueError):
        Fragmenter(MIN_MTU).fragments(bytes(DEFAULT_MAX_FRAME + 1))


def test_sequence_numbers_wrap() -> None:
    fragmenter = Fragmenter(MIN_MTU, first_seq=0xFFFF)
    reassembler = Reassembler()
    frames = [frame_of(50, i) for i in range(3)]
    out = [f for frame in frames for fr in fragmenter.fragments(frame)
           for f in reassembler.feed(fr, 0)]
    assert out == frames


# ---------------------------------------------------------------------------------------------
# Round trips


@given(frames=st.lists(st.tuples(sizes, seeds), min_size=1, max_size=4), mtu=mtus,
       ordered=st.booleans())
@settings(max_examples=100)
def test_in_order_round_trip(frames: list[tuple[int, int]], mtu: int, ordered: bool) -> None:
    sent = [frame_of(size, seed) for size, seed in frames]
    fragmenter = Fragmenter(mtu)
    reassembler = Reassembler(ordered=ordered)
    got = [f for frame in sent for fr in fragmenter.fragments(frame)
           for f in reassembler.feed(fr, 0)]
    assert got == sent
    assert reassembler.stats.frames_ok == len(sent)
    assert reassembler.pending_frames == 0 and reassembler.pending_bytes == 0


@given(frames=st.lists(st.tuples(sizes, seeds), min_size=1, max_size=4), mtu=mtus,
       shuffle=st.randoms(use_true_random=False),
       duplicates=st.lists(st.integers(0, 10_000), max_size=40))
@settings(max_examples=100)
def test_any_order_with_duplicates_delivers_each_frame_once(
        frames: list[tuple[int, int]], mtu: int, shuffle: random.Random,
        duplicates: list[int]) -> None:
    sent = [frame_of(size, seed) for size, seed in frames]
    fragmenter = Fragmenter(mtu)
    fragments = [fr for frame in sent for fr in fragmenter.fragments(frame)]
    fragments += [fragments[i % len(fragments)] for i in duplicates]
    shuffle.shuffle(fragments)
    # Room for every frame at once, even if every fragment arrives out of order.
    budget = sum(len(f) + FRAGMENT_COST * fragment_count(len(f), mtu) for f in sent)
    reassembler = Reassembler(max_pending_bytes=max(budget, DEFAULT_MAX_FRAME))
    got = [f for fr in fragments for f in reassembler.feed(fr, 0)]
    assert sorted(got) == sorted(sent)
    assert reassembler.stats.fragments_dropped == len(duplicates)
    assert reassembler.pending_frames == 0 and reassembler.pending_bytes == 0


def test_a_duplicated_frame_is_delivered_once_then_forgotten_after_the_timeout() -> None:
    fragments = Fragmenter(MIN_MTU).fragments(b"hello")
    reassembler = Reassembler(timeout=10)
    assert reassembler.feed(fragments[0], 0) == [b"hello"]
    assert reassembler.feed(fragments[0], 10) == []
    # A restarted sender may reuse the seq: after the timeout it counts as a new frame.
    assert reassembler.feed(fragments[0], 20.5) == [b"hello"]


# ---------------------------------------------------------------------------------------------
# Hostile and malformed fragments


MALFORMED = {
    "empty": b"",
    "short header": b"\x30\x00",
    "unknown version": frag(0x70, 1, b"x"),
    "length bits on a single fragment": frag(0x31, 1, b"x"),
    "first without its length": frag(0x20, 1, b"\x00"),
    "first with an empty payload": first(1, 100, b""),
    "first carrying the whole frame": first(1, 3, b"abc"),
    "first declaring more than max_frame": first(1, DEFAULT_MAX_FRAME + 1, b"abc"),
    "first declaring the format maximum": first(1, FORMAT_MAX_FRAME, b"abc"),
    "continuation without its index": frag(0x00, 1, b""),
    "continuation with index 0": later(1, 0, b"abc"),
    "continuation with an empty payload": later(1, 2, b""),
    "single fragment over max_frame": single(1, bytes(DEFAULT_MAX_FRAME + 1)),
}


@pytest.mark.parametrize("fragment", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_fragments_raise_and_change_nothing(fragment: bytes) -> None:
    frame = frame_of(300, 7)
    fragments = Fragmenter(MIN_MTU, first_seq=1).fragments(frame)
    reassembler = Reassembler()
    for fr in fragments[:5]:
        assert reassembler.feed(fr, 0) == []
    before = (reassembler.pending_frames, reassembler.pending_bytes, reassembler.stats)
    with pytest.raises(FramingError) as info:
        reassembler.feed(fragment, 0)
    assert isinstance(info.value, WireError) and info.value.field.startswith("fragment")
    after = (reassembler.pending_frames, reassembler.pending_bytes, reassembler.stats)
    assert after[:2] == before[:2]
    assert after[2].malformed == before[2].malformed + 1
    out = [f for fr in fragments[5:] for f in reassembler.feed(fr, 0)]
    assert out == [frame]


@given(garbage=st.lists(st.binary(max_size=40), max_size=30),
       seq=st.integers(0, 0xFFFF), ordered=st.booleans())
def test_arbitrary_bytes_raise_only_framing_errors(garbage: list[bytes], seq: int,
                                                   ordered: bool) -> None:
    reassembler = Reassembler(max_frame=1000, max_pending_frames=4, max_pending_bytes=2000,
                              ordered=ordered)
    reassembler.feed(first(seq, 500, b"x" * 10), 0)
    for data in garbage:
        try:
            for frame in reassembler.feed(data, 1):
                assert len(frame) <= 1000
        except FramingError:
            pass
        assert reassembler.pending_frames <= 4
        assert reassembler.pending_bytes <= 2000


def test_a_fragment_contradicting_its_frame_discards_that_frame_only() -> None:
    fragmenter = Fragmenter(MIN_MTU, first_seq=5)
    a, b = frame_of(100, 1), frame_of(100, 2)
    fa, fb = fragmenter.fragments(a), fragmenter.fragments(b)
    reassembler = Reassembler()
    for fr in fa[:3] + fb[:3]:
        assert reassembler.feed(fr, 0) == []
    with pytest.raises(FramingError):
        reassembler.feed(later(5, 200, b"\x00" * 16), 0)  # far beyond 100 bytes
    assert reassembler.pending_frames == 1
    out = [f for fr in fa[3:] + fb[3:] for f in reassembler.feed(fr, 0)]
    assert out == [b]  # a's remaining fragments are dropped as stragglers


CONTRADICTIONS = {
    "more bytes than declared": [first(9, 20, b"a" * 10), later(9, 1, b"b" * 11)],
    "more bytes than declared, first arriving late": [later(9, 1, b"b" * 11),
                                                     first(9, 20, b"a" * 10)],
    "two LAST fragments": [later(9, 2, b"b", last=True), later(9, 3, b"c", last=True)],
    "a fragment after LAST": [later(9, 2, b"b", last=True), later(9, 3, b"c")],
    "LAST before a held fragment": [later(9, 3, b"c"), later(9, 2, b"b", last=True)],
    "LAST reached short of the total": [first(9, 20, b"a" * 5), later(9, 1, b"b", last=True)],
    "total reached without LAST": [first(9, 20, b"a" * 10), later(9, 1, b"b" * 10)],
    "index beyond the total": [first(9, 20, b"a" * 10), later(9, 25, b"b")],
    "a second first fragment after LAST": [later(9, 30, b"b", last=True),
                                          first(9, 20, b"a" * 10)],
}


@pytest.mark.parametrize("fragments", CONTRADICTIONS.values(), ids=CONTRADICTIONS.keys())
def test_contradictions_are_framing_errors(fragments: list[bytes]) -> None:
    reassembler = Reassembler()
    *prefix, bad = fragments
    for fr in prefix:
        assert reassembler.feed(fr, 0) == []
    with pytest.raises(FramingError):
        reassembler.feed(bad, 0)
    assert reassembler.pending_frames == 0 and reassembler.pending_bytes == 0
    assert reassembler.stats.malformed == 1
    assert reassembler.feed(later(9, 1, b"late"), 0) == []  # the seq stays closed
    assert reassembler.pending_frames == 0


def test_oversize_declared_length_is_refused_before_anything_is_held() -> None:
    reassembler = Reassembler(max_frame=1000, max_pending_bytes=1000)
    with pytest.raises(FramingError, match="declares 1001 bytes"):
        reassembler.feed(first(1, 1001, b"x"), 0)
    assert reassembler.pending_frames == 0 and reassembler.pending_bytes == 0
    # Without the first fragment, the bytes held for one seq are capped at max_frame.
    assert reassembler.feed(later(2, 1, b"x" * 600), 0) == []
    with pytest.raises(FramingError):
        reassembler.feed(later(2, 2, b"x" * 401), 0)
    assert reassembler.pending_frames == 0 and reassembler.pending_bytes == 0


# ---------------------------------------------------------------------------------------------
# Bounds in count, bytes and time


@given(flood=st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(1, 4095),
                                st.integers(1, 400), st.booleans()), max_size=200),
       ordered=st.booleans())
def test_a_flood_of_partial_frames_stays_within_the_bounds(
        flood: list[tuple[int, int, int, bool]], ordered: bool) -> None:
    reassembler = Reassembler(max_frame=2000, max_pending_frames=5, max_pending_bytes=3000,
                              ordered=ordered)
    for seq, index, size, is_first in flood:
        fragment = first(seq, 2000, b"x" * size) if is_first else later(seq, index, b"x" * size)
        with contextlib.suppress(FramingError):
            assert reassembler.feed(fragment, 0) == []
        assert reassembler.pending_frames <= 5
        assert reassembler.pending_bytes <= 3000
    # The flood never locks the link: a whole frame under a fresh seq still gets through.
    fresh = min(set(range(len(flood) + 1)) - {seq for seq, *_ in flood})
    frame = frame_of(1999, 3)
    fragmenter = Fragmenter(100, max_frame=2000, first_seq=fresh)
    assert [f for fr in fragmenter.fragments(frame) for f in reassembler.feed(fr, 0)] == [frame]


def test_pending_frames_are_capped_oldest_first() -> None:
    reassembler = Reassembler(max_pending_frames=3)
    for seq in range(5):
        reassembler.feed(first(seq, 100, b"x"), 0)
    assert reassembler.pending_frames == 3
    assert reassembler.stats.frames_dropped == 2
    assert reassembler.feed(later(0, 1, b"y" * 99, last=True), 0) == []  # evicted
    assert reassembler.feed(later(4, 1, b"y" * 99, last=True), 0) == [b"x" + b"y" * 99]


def test_a_frame_too_costly_to_hold_out_of_order_is_dropped() -> None:
    reassembler = Reassembler(max_frame=1000, max_pending_bytes=1000)
    # 1,000 bytes arriving backwards in 1-byte pieces would hold 1,000 fragments.
    for index in range(999, 0, -1):
        try:
            reassembler.feed(later(1, index, b"x", last=index == 999), 0)
        except FramingError:
            pytest.fail("an honest but costly frame is dropped, not malformed")
        assert reassembler.pending_bytes <= 1000
    assert reassembler.stats.frames_dropped == 1


def test_stale_partial_frames_time_out() -> None:
    frame = frame_of(100, 4)
    fragments = Fragmenter(MIN_MTU).fragments(frame)
    reassembler = Reassembler(timeout=30)
    reassembler.feed(fragments[0], 100)
    reassembler.expire(130)
    assert reassembler.pending_frames == 1  # exactly `timeout` old is not older
    reassembler.expire(130.5)
    assert reassembler.pending_frames == 0 and reassembler.pending_bytes == 0
    assert reassembler.stats.frames_timed_out == 1
    assert [f for fr in fragments[1:] for f in reassembler.feed(fr, 131)] == []
    # ... and feed expires too.
    reassembler.feed(Fragmenter(MIN_MTU, first_seq=1).fragments(frame)[0], 200)
    reassembler.feed(single(2, b"x"), 231)
    assert reassembler.pending_frames == 0
    assert reassembler.stats.frames_timed_out == 2


def test_partial_frames_the_link_moved_far_past_are_dropped() -> None:
    reassembler = Reassembler()
    reassembler.feed(first(0, 100, b"x"), 0)
    reassembler.feed(first(SEQ_WINDOW, 100, b"x"), 0)
    assert reassembler.pending_frames == 2
    reassembler.feed(first(SEQ_WINDOW + 1, 100, b"x"), 0)
    assert reassembler.pending_frames == 2
    assert reassembler.stats.frames_dropped == 1
    assert reassembler.feed(later(0, 1, b"y" * 99, last=True), 0) == []


def test_finished_seqs_are_remembered_in_bounded_number() -> None:
    reassembler = Reassembler()
    frames = [single(seq, bytes((seq,))) for seq in range(CLOSED_MEMORY + 1)]
    for fr in frames:
        reassembler.feed(fr, 0)
    assert reassembler.feed(frames[-1], 0) == []  # remembered
    assert reassembler.feed(frames[0], 0) == [b"\x00"]  # forgotten: the memory is full


def test_an_ordered_link_drops_a_frame_with_a_gap_at_once() -> None:
    fragmenter = Fragmenter(MIN_MTU)
    a, b = frame_of(100, 5), frame_of(100, 6)
    fa, fb = fragmenter.fragments(a), fragmenter.fragments(b)
    reassembler = Reassembler(ordered=True)
    assert [f for fr in fa[:2] + fa[3:] for f in reassembler.feed(fr, 0)] == []
    assert reassembler.pending_frames == 0 and reassembler.pending_bytes == 0
    assert reassembler.stats.frames_dropped == 1
    assert [f for fr in fb for f in reassembler.feed(fr, 0)] == [b]


def test_an_ordered_link_gives_up_a_frame_whose_tail_was_lost() -> None:
    fragmenter = Fragmenter(MIN_MTU)
    a, b = frame_of(100, 5), frame_of(100, 6)
    reassembler = Reassembler(ordered=True)
    got = [f for fr in fragmenter.fragments(a)[:-1] + fragmenter.fragments(b)
           for f in reassembler.feed(fr, 0)]
    assert got == [b]
    assert reassembler.stats.frames_dropped == 1


def test_reassembler_refuses_bounds_that_cannot_work() -> None:
    with pytest.raises(ValueError):
        Reassembler(max_frame=FORMAT_MAX_FRAME + 1, max_pending_bytes=2**21)
    with pytest.raises(ValueError):
        Reassembler(max_pending_frames=0)
    with pytest.raises(ValueError):
        Reassembler(max_frame=1000, max_pending_bytes=999)
    with pytest.raises(ValueError):
        Reassembler(timeout=0)
