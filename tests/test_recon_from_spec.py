"""An independent reading of docs/protocol.md §10.2 against the reconciliation vectors.

This module implements the Recon message, the fingerprint, the split rule and both roles from
the document's prose alone, with plain `msgpack` and `hashlib` and nothing from
`meshnode.routing`, as a phone team would. It covers sessions whose replies fit the frame limit
(no deferral), which is what the default-limits vector exercises. If the document and the
implementation drift apart, these tests fail even when tests/test_vectors.py still passes.
"""

from __future__ import annotations

import hashlib
import json
from math import isqrt
from pathlib import Path
from typing import Any

import msgpack

VECTORS = json.loads((Path(__file__).parent / "vectors" / "v1.json").read_text())
CASE = VECTORS["reconciliation"][0]  # default limits: every reply fits, nothing deferred

Item = tuple[int, bytes]
Bound = tuple[int, bytes]
INFINITY: Bound = (2**63, b"")
B, T = 16, 32


def fingerprint(items: list[Item]) -> bytes:
    total = sum(int.from_bytes(hashlib.sha256(b"meshnode/rbsr/item" + i).digest()[:16], "little")
                for _, i in items) % 2**128
    data = b"meshnode/rbsr/fp" + total.to_bytes(16, "little") + len(items).to_bytes(8, "little")
    return hashlib.sha256(data).digest()[:12]


def between(p: Item, c: Item) -> Bound:
    if p[0] != c[0]:
        return (c[0], b"")
    i = next(n for n in range(16) if p[1][n] != c[1][n])
    return (c[0], c[1][: i + 1])


def in_range(items: list[Item], lower: Bound, upper: Bound) -> list[Item]:
    return [x for x in items if lower <= x < upper]


def split(own: list[Item], upper: Bound) -> list[tuple[int, Bound, list[bytes]]]:
    c = len(own)
    if c < T:
        return [(2, upper, [b"".join(i for _, i in own)])]
    fewest = -(-c // (T - 1))
    k = B if fewest > B else max(fewest, min(B, isqrt(16 * c // 18)))
    per, extra = divmod(c, k)
    out, start = [], 0
    for n in range(k):
        end = start + per + (1 if n < extra else 0)
        bound = upper if n == k - 1 else between(own[end - 1], own[end])
        out.append((1, bound, [fingerprint(own[start:end])]))
        start = end
    return out


def encode(ranges: list[tuple[int, Bound, list[bytes]]], opening: bool = False) -> bytes:
    body: dict[int, Any] = {1: 1} if opening else {}
    if ranges:
        entries, previous = [], 0
        for mode, (ts, prefix), payload in ranges:
            if (ts, prefix) == INFINITY:
                entries.append([mode, 0, *payload])
                continue
            entries.append([mode, ts - previous + 1, *payload] + ([prefix] if prefix else []))
            previous = ts
        body[3] = entries
    return msgpack.packb(body, use_bin_type=True)  # type: ignore[no-any-return]


def decode(data: bytes) -> tuple[list[tuple[int, Bound, list[bytes]]], bool]:
    body = msgpack.unpackb(data, raw=False, strict_map_key=False)
    out, previous = [], 0
    for entry in body.get(3, []):
        mode, dt = entry[0], entry[1]
        base = {0: 2, 1: 3, 2: 3, 3: 4}[mode]
        if dt == 0:
            bound = INFINITY
        else:
            previous = previous + dt - 1
            bound = (previous, entry[base] if len(entry) > base else b"")
        out.append((mode, bound, list(entry[2:base])))
    return out, 4 in body


def ids_of(blob: bytes) -> list[bytes]:
    return [blob[i : i + 16] for i in range(0, len(blob), 16)]


class Side:
    def __init__(self, items: list[Item], initiator: bool) -> None:
        self.items, self.initiator = sorted(items), initiator
        self.have: set[bytes] = set()
        self.need: set[bytes] = set()

    def opening(self) -> bytes:
        return encode(split(self.items, INFINITY), opening=True)

    def receive(self, data: bytes) -> bytes | None:
        ranges, more = decode(data)
        reply: list[tuple[int, Bound, list[bytes]]] = []
        end = lower = (0, b"")
        for mode, upper, payload in ranges:
            own = in_range(self.items, lower, upper)
            units: list[tuple[int, Bound, list[bytes]]] = []
            if mode == 1 and fingerprint(own) != payload[0]:
                units = split(own, upper)
            elif mode == 2 and self.initiator:
                theirs, ours = set(ids_of(payload[0])), {i for _, i in own}
                self.have |= ours - theirs
                self.need |= theirs - ours
            elif mode == 2:
                listed, ours = ids_of(payload[0]), [i for _, i in own]
                bits = sum(1 << n for n, i in enumerate(listed) if i not in set(ours))
                missing = [i for i in ours if i not in set(listed)]
                if bits or missing:
                    units = [(3, upper, [bits.to_bytes((len(listed) + 7) // 8, "little"),
                                         b"".join(missing)])]
            elif mode == 3:
                ours = [i for _, i in own]
                bits = int.from_bytes(payload[0], "little")
                self.have |= {i for n, i in enumerate(ours) if bits >> n & 1}
                self.need |= set(ids_of(payload[1])) - set(ours)
            if units:
                if lower != end:
                    reply.append((0, lower, []))
                reply += units
                end = upper
            lower = upper
        if self.initiator and not reply and not more:
            return None
        return encode(reply)


def vector_sets() -> tuple[list[Item], list[Item]]:
    every = [(1_790_000_000 + i // 3, hashlib.sha256(b"meshnode recon vector %d" % i).digest()[:16])
             for i in range(640)]
    a = [x for n, x in enumerate(every) if n not in CASE["only_responder"]]
    b = [x for n, x in enumerate(every) if n not in CASE["only_initiator"]]
    return a, b


def test_an_initiator_written_from_the_document_sends_the_vector_frames() -> None:
    a, _ = vector_sets()
    frames = [bytes.fromhex(f) for f in CASE["frames"]]
    me = Side(a, initiator=True)
    assert me.opening() == frames[0]
    for n in range(1, len(frames) - 1, 2):
        assert me.receive(frames[n]) == frames[n + 1], f"frame {n + 1}"
    assert me.receive(frames[-1]) is None
    assert sorted(i.hex() for i in me.have) == CASE["have_ids"]
    assert sorted(i.hex() for i in me.need) == CASE["need_ids"]


def test_a_responder_written_from_the_document_answers_with_the_vector_frames() -> None:
    _, b = vector_sets()
    frames = [bytes.fromhex(f) for f in CASE["frames"]]
    peer = Side(b, initiator=False)
    for n in range(0, len(frames), 2):
        assert peer.receive(frames[n]) == frames[n + 1], f"frame {n + 1}"


def test_the_hello_digest_follows_the_document() -> None:
    a, _ = vector_sets()
    whole = fingerprint(sorted(a))
    assert whole.hex() == CASE["initiator_set_fingerprint"]
    digest = hashlib.sha256(b"meshnode/v1/hello-digest\x00" + bytes(range(8)) + whole).digest()
    assert digest[:12].hex() == CASE["initiator_hello_digest_nonce_0001020304050607"]
