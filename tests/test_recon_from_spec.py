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
import pytest

VECTORS = json.loads((Path(__file__).parent / "vectors" / "v1.json").read_text())
# The sessions with default limits: every reply fits, nothing deferred.
CASES = [c for c in VECTORS["reconciliation"] if c["frame_limit"] == 4_096]
CASE = CASES[0]

Item = tuple[int, bytes, int, int]  # created, id, class, offer
Bound = tuple[int, bytes]
Range = tuple[int, Bound, list[Any]]
INFINITY: Bound = (2**63, b"")
B, T = 16, 32
FRESH = 7_200  # the fade time: fresh items are those created within it of the newest
GHOST, HELD = 0, 1


def fingerprint(items: list[Item]) -> bytes:
    total = sum(int.from_bytes(hashlib.sha256(b"meshnode/rbsr/item" + i + bytes([c])).digest()[:16],
                               "little") for _, i, c, _ in items) % 2**128
    data = b"meshnode/rbsr/fp" + total.to_bytes(16, "little") + len(items).to_bytes(8, "little")
    return hashlib.sha256(data).digest()[:12]


def between(p: Item, c: Item) -> Bound:
    if p[0] != c[0]:
        return (c[0], b"")
    i = next(n for n in range(16) if p[1][n] != c[1][n])
    return (c[0], c[1][: i + 1])


def in_range(items: list[Item], lower: Bound, upper: Bound) -> list[Item]:
    return [x for x in items if lower <= (x[0], x[1]) < upper]


def listing(own: list[Item]) -> list[Any]:
    """ids, flags (class in bit 2, offer in bits 0-1) and the times of GHOST/HELD ids."""
    return [b"".join(i for _, i, _, _ in own), bytes(c << 2 | o for _, _, c, o in own),
            [t for t, _, _, o in own if o <= HELD]]


def split(own: list[Item], upper: Bound, newest: Item | None = None) -> list[Range]:
    """`newest`: the sender's newest item, when `own` ends with it."""
    c = len(own)
    if c < T:
        return [(2, upper, listing(own))]
    old = [x for x in own if newest is not None and x[0] < newest[0] - FRESH]
    if T <= len(old) < c:
        n = len(old)
        return [(1, between(own[n - 1], own[n]), [fingerprint(old)]),
                *split(own[n:], upper, newest)]
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


def encode(ranges: list[Range], opening: bool = False) -> bytes:
    body: dict[int, Any] = {1: 2} if opening else {}
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


def decode(data: bytes) -> tuple[list[Range], bool]:
    body = msgpack.unpackb(data, raw=False, strict_map_key=False)
    out, previous = [], 0
    for entry in body.get(3, []):
        mode, dt = entry[0], entry[1]
        base = {0: 2, 1: 3, 2: 5, 3: 6, 4: 5}[mode]
        if dt == 0:
            bound = INFINITY
        else:
            previous = previous + dt - 1
            bound = (previous, entry[base] if len(entry) > base else b"")
        out.append((mode, bound, list(entry[2:base])))
    return out, 4 in body


def entries(ids: bytes, flags: bytes, times: list[int]) -> list[tuple[bytes, int, int | None]]:
    """(id, flag, created or None) for each listed id; times go with GHOST/HELD ids in order."""
    left = iter(times)
    return [(ids[n * 16:(n + 1) * 16], f, next(left) if f & 3 <= HELD else None)
            for n, f in enumerate(flags)]


class Side:
    def __init__(self, items: list[Item], initiator: bool) -> None:
        self.items, self.initiator = sorted(items), initiator
        self.have: set[bytes] = set()
        self.need: dict[bytes, int] = {}
        self.ghosts: dict[bytes, int] = {}

    def split(self, own: list[Item], upper: Bound) -> list[Range]:
        ends_newest = bool(own) and own[-1] == self.items[-1]
        return split(own, upper, self.items[-1] if ends_newest else None)

    def opening(self) -> bytes:
        return encode(self.split(self.items, INFINITY), opening=True)

    def note_ghosts(self, listed: list[tuple[bytes, int, int | None]]) -> None:
        held = {(t, i) for t, i, _, _ in self.items}
        for i, _, t in listed:
            if t is not None and (t, i) not in held:
                self.ghosts[i] = t

    def receive(self, data: bytes) -> bytes | None:
        ranges, more = decode(data)
        reply: list[Range] = []
        end = lower = (0, b"")
        for mode, upper, payload in ranges:
            own = in_range(self.items, lower, upper)
            keys = {(i, c) for _, i, c, _ in own}
            units: list[Range] = []
            if mode == 1 and fingerprint(own) != payload[0]:
                units = self.split(own, upper)
            elif mode == 2 and self.initiator:
                listed = entries(*payload)
                theirs = {(i, f >> 2 & 1) for i, f, _ in listed}
                self.have |= {i for i, c in keys - theirs}
                self.need |= {i: f for i, f, _ in listed if (i, f >> 2 & 1) not in keys}
                self.note_ghosts(listed)
                their_ids = {i for i, _, _ in listed}
                unknown = [x for x in own if x[3] <= HELD and x[1] not in their_ids]
                if unknown:
                    units = [(4, upper, listing(unknown))]
            elif mode == 2:
                listed = entries(*payload)
                self.note_ghosts(listed)
                theirs = {(i, f >> 2 & 1) for i, f, _ in listed}
                bits = sum(1 << n for n, (i, f, _) in enumerate(listed)
                           if (i, f >> 2 & 1) not in keys)
                missing = [x for x in own if (x[1], x[2]) not in theirs]
                if bits or missing:
                    units = [(3, upper, [bits.to_bytes((len(listed) + 7) // 8, "little"),
                                         *listing(missing)])]
            elif mode == 3:
                bits = int.from_bytes(payload[0], "little")
                self.have |= {x[1] for n, x in enumerate(own) if bits >> n & 1}
                listed = entries(*payload[1:])
                self.need |= {i: f for i, f, _ in listed if (i, f >> 2 & 1) not in keys}
                self.note_ghosts(listed)
            elif mode == 4:
                self.note_ghosts(entries(*payload))
            if units:
                if lower != end:
                    reply.append((0, lower, []))
                reply += units
                end = upper
            lower = upper
        if self.initiator and not reply and not more:
            return None
        return encode(reply)


def vector_sets(case: dict[str, Any]) -> tuple[list[Item], list[Item]]:
    every = [(1_790_000_000 + i // 3 * case["spacing"],
              hashlib.sha256(b"meshnode recon vector %d" % i).digest()[:16])
             for i in range(640)]

    def side(role: str, absent: list[int]) -> list[Item]:
        held, ghosts = set(case[f"{role}_held"]), set(case[f"{role}_ghosts"])
        return [(t, i, 0, GHOST) if n in ghosts else (t, i, 0, HELD) if n in held
                else (t, i, 1, 3) for n, (t, i) in enumerate(every) if n not in absent]

    return side("initiator", case["only_responder"]), side("responder", case["only_initiator"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"][:40])
def test_an_initiator_written_from_the_document_sends_the_vector_frames(
        case: dict[str, Any]) -> None:
    a, _ = vector_sets(case)
    frames = [bytes.fromhex(f) for f in case["frames"]]
    me = Side(a, initiator=True)
    assert me.opening() == frames[0]
    for n in range(1, len(frames) - 1, 2):
        assert me.receive(frames[n]) == frames[n + 1], f"frame {n + 1}"
    assert me.receive(frames[-1]) is None
    assert sorted(i.hex() for i in me.have) == case["have_ids"]
    assert sorted(i.hex() for i in me.need) == case["need_ids"]
    assert {i.hex(): f for i, f in me.need.items()} == case["need_flags"]
    assert {i.hex(): t for i, t in me.ghosts.items()} == case["initiator_learns_ghosts"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"][:40])
def test_a_responder_written_from_the_document_answers_with_the_vector_frames(
        case: dict[str, Any]) -> None:
    _, b = vector_sets(case)
    frames = [bytes.fromhex(f) for f in case["frames"]]
    peer = Side(b, initiator=False)
    for n in range(0, len(frames), 2):
        assert peer.receive(frames[n]) == frames[n + 1], f"frame {n + 1}"
    assert {i.hex(): t for i, t in peer.ghosts.items()} == case["responder_learns_ghosts"]


def test_the_hello_digest_follows_the_document() -> None:
    a, _ = vector_sets(CASE)
    whole = fingerprint(sorted(a))
    assert whole.hex() == CASE["initiator_set_fingerprint"]
    digest = hashlib.sha256(b"meshnode/v1/hello-digest\x00" + bytes(range(8)) + whole).digest()
    assert digest[:12].hex() == CASE["initiator_hello_digest_nonce_0001020304050607"]
