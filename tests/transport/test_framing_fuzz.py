"""Fuzzing reassembly (meshnode/transport/framing.py): streams of real fragments, reordered,
duplicated, mutated, spliced and with inflated length fields. Only `FramingError` escapes,
the bounds hold after every fragment, and a fragment refused as malformed on its own changes
nothing but the `malformed` counter.

`ci` profile by default; `HYPOTHESIS_PROFILE=fuzz` for the long run.
"""

from __future__ import annotations

import contextlib

from hypothesis import example, given
from hypothesis import strategies as st

from meshnode.transport.framing import (
    FORMAT_MAX_FRAME,
    MIN_MTU,
    Fragmenter,
    FramingError,
    Reassembler,
)
from tests.fuzzing import mutations

MAX_FRAME, PENDING_FRAMES, PENDING_BYTES = 1_500, 4, 3_000


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[bytes], list[bytes]]:
    """(the frames sent, a hostile rearrangement of their fragments)."""
    fragmenter = Fragmenter(draw(st.integers(MIN_MTU, 80)), max_frame=MAX_FRAME,
                            first_seq=draw(st.integers(0, 0xFFFF)))
    sent = draw(st.lists(st.binary(max_size=MAX_FRAME), min_size=1, max_size=4))
    fragments = [f for frame in sent for f in fragmenter.fragments(frame)]
    out = list(fragments)
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(["mutate", "duplicate", "drop", "swap", "garbage"]))
        i = draw(st.integers(0, len(out) - 1)) if out else 0
        if op == "mutate" and out:
            out[i] = draw(mutations(out[i], fragments))
        elif op == "duplicate" and out:
            out.insert(draw(st.integers(0, len(out))), out[i])
        elif op == "drop" and out:
            del out[i]
        elif op == "swap" and len(out) > 1:
            j = draw(st.integers(0, len(out) - 1))
            out[i], out[j] = out[j], out[i]
        elif op == "garbage":
            out.insert(i, draw(st.binary(max_size=40)))
    return sent, out


def stats_without_malformed(r: Reassembler) -> tuple[int, int, int, int, int, int]:
    s = r.stats
    return (r.pending_frames, r.pending_bytes, s.frames_ok, s.fragments_dropped,
            s.frames_dropped, s.frames_timed_out)


@given(streams(), st.booleans(), st.floats(0, 3))
def test_hostile_fragment_streams(stream: tuple[list[bytes], list[bytes]], ordered: bool,
                                  step: float) -> None:
    _, fragments = stream
    reassembler = Reassembler(max_frame=MAX_FRAME, max_pending_frames=PENDING_FRAMES,
                              max_pending_bytes=PENDING_BYTES, timeout=5, ordered=ordered)
    for i, fragment in enumerate(fragments):
        probe = Reassembler(max_frame=MAX_FRAME)
        try:
            probe.feed(fragment, 0)
            malformed_alone = False
        except FramingError:
            malformed_alone = True
        before = stats_without_malformed(reassembler)
        malformed = reassembler.stats.malformed
        try:
            for frame in reassembler.feed(fragment, i * step):
                assert len(frame) <= MAX_FRAME
        except FramingError as exc:
            assert exc.field.startswith("fragment")
            assert reassembler.stats.malformed == malformed + 1
            if malformed_alone:  # refused before any state was touched
                assert stats_without_malformed(reassembler) == before
        assert reassembler.pending_frames <= PENDING_FRAMES
        assert 0 <= reassembler.pending_bytes <= PENDING_BYTES


@given(streams())
def test_an_untouched_stream_after_garbage_still_delivers(
        stream: tuple[list[bytes], list[bytes]]) -> None:
    """Garbage from a hostile peer before a frame does not stop the frame from arriving."""
    sent, noise = stream
    fragmenter = Fragmenter(MIN_MTU, max_frame=MAX_FRAME, first_seq=0x8000)
    reassembler = Reassembler(max_frame=MAX_FRAME, max_pending_frames=PENDING_FRAMES,
                              max_pending_bytes=PENDING_BYTES, timeout=5)
    for fragment in noise:
        with contextlib.suppress(FramingError):
            reassembler.feed(fragment, 0)
    reassembler.expire(10)  # the noise has timed out; 0x8000 is far from any of its seqs
    frame = sent[0]
    out = [f for fr in fragmenter.fragments(frame) for f in reassembler.feed(fr, 10)]
    assert out == [frame]


@given(st.integers(0, 0xFFFF), st.integers(MAX_FRAME + 1, FORMAT_MAX_FRAME),
       st.binary(min_size=1, max_size=60))
@example(7, FORMAT_MAX_FRAME, b"x")
def test_inflated_totals_are_refused_before_any_allocation(seq: int, total: int,
                                                           payload: bytes) -> None:
    header = bytes((0x20 | total >> 16,)) + seq.to_bytes(2, "big") + (total & 0xFFFF).to_bytes(
        2, "big")
    reassembler = Reassembler(max_frame=MAX_FRAME)
    try:
        reassembler.feed(header + payload, 0)
    except FramingError as exc:
        assert exc.field == "fragment.total"
    else:
        raise AssertionError("an inflated total was accepted")
    assert reassembler.pending_frames == 0 and reassembler.pending_bytes == 0


@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(1, 0xFFF),
                          st.binary(min_size=1, max_size=40)), max_size=200))
def test_fragments_of_never_started_frames_stay_within_budget(
        pieces: list[tuple[int, int, bytes]]) -> None:
    """Later fragments of frames whose first never comes: held only within the bounds."""
    reassembler = Reassembler(max_frame=MAX_FRAME, max_pending_frames=PENDING_FRAMES,
                              max_pending_bytes=PENDING_BYTES, timeout=5)
    for seq, index, payload in pieces:
        fragment = bytes((index >> 8,)) + seq.to_bytes(2, "big") + bytes((index & 0xFF,)) + payload
        with contextlib.suppress(FramingError):
            reassembler.feed(fragment, 0)
        assert reassembler.pending_frames <= PENDING_FRAMES
        assert reassembler.pending_bytes <= PENDING_BYTES
