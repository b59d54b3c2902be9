"""Hypothesis strategies shared by the *_fuzz.py tests: mutations of valid inputs.

`mutations(valid)` applies one to four edits to a valid encoding: bit flips, truncation,
deletion, random insertions, splices from other valid inputs, and length-field inflation
(bytes that msgpack, the framing header or a length prefix would read as a huge size).
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

__all__ = ["INFLATERS", "mutated_from", "mutations"]

# msgpack str32/bin32/array32/map32/ext32 headers claiming ~4 GiB, a float, a reserved byte,
# deep nesting, and the maximal bytes for fixed-width binary length fields.
INFLATERS: tuple[bytes, ...] = (
    b"\xdb\xff\xff\xff\xff", b"\xc6\xff\xff\xff\xff", b"\xdd\xff\xff\xff\xff",
    b"\xdf\xff\xff\xff\xff", b"\xc9\xff\xff\xff\xff\x01", b"\xcb" + bytes(8), b"\xc1",
    b"\x91" * 200, b"\xff\xff", b"\xff\xff\xff\xff", b"\x7f\xff", b"\x00",
)


@st.composite
def mutations(draw: st.DrawFn, valid: bytes, others: Sequence[bytes] = ()) -> bytes:
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "delete", "insert", "splice", "inflate",
                                   "overwrite"]))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            data[min(pos, len(data) - 1)] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[pos:]
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 16))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "splice" and others:
            other = draw(st.sampled_from(list(others)))
            start = draw(st.integers(0, len(other)))
            data[pos:pos] = other[start:start + draw(st.integers(1, 64))]
        elif op == "inflate":
            data[pos:pos] = draw(st.sampled_from(INFLATERS))
        elif op == "overwrite" and data:
            at = min(pos, len(data) - 1)
            data[at] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFE, 0xFF]))
    return bytes(data)


def mutated_from(valid: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """A mutation of one of `valid`, splicing from the others."""
    return st.sampled_from(list(valid)).flatmap(lambda v: mutations(v, valid))
