"""Hypothesis strategies for wire bodies and messages, shared by the wire and crypto tests."""

from __future__ import annotations

from hypothesis import strategies as st

from meshnode import wire
from meshnode.wire import AnnounceBody, DmBody, Kind, PostBody, ReceiptBody, Routing

_text_chars = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="".join(map(chr, [*range(32), *range(127, 160)])),
) | st.sampled_from("\n\t")
# Characters a display name may not hold (docs/protocol.md §1.1).
_NAME_REFUSED = frozenset("\t\n\u061c\u200b\u200e\u200f\ufeff") | {
    chr(c) for c in [*range(0x202A, 0x202F), *range(0x2060, 0x2065), *range(0x2066, 0x206A)]}


def utf8_text(min_bytes: int, max_bytes: int) -> st.SearchStrategy[str]:
    return st.text(_text_chars, min_size=max(1, min_bytes), max_size=max_bytes // 4).filter(
        lambda s: min_bytes <= len(s.encode()) <= max_bytes
    )


keys = st.binary(min_size=32, max_size=32)
ids = st.binary(min_size=16, max_size=16)
channels = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,30}", fullmatch=True)


@st.composite
def lifetimes(draw: st.DrawFn, kind: Kind) -> tuple[int, int]:
    created = draw(st.integers(0, 2**40 - wire.MAX_TTL[kind]))
    return created, created + draw(st.integers(1, wire.MAX_TTL[kind]))


@st.composite
def post_bodies(draw: st.DrawFn) -> PostBody:
    created, expires = draw(lifetimes(Kind.POST))
    return PostBody(
        draw(keys), draw(channels), created, expires,
        draw(utf8_text(1, wire.POST_TEXT_MAX)), draw(st.none() | ids),
    )


@st.composite
def announce_bodies(draw: st.DrawFn) -> AnnounceBody:
    created, expires = draw(lifetimes(Kind.ANNOUNCE))
    name = draw(utf8_text(1, wire.NAME_MAX).map(
        lambda s: "".join(c for c in s if c not in _NAME_REFUSED).strip()).filter(bool))
    return AnnounceBody(draw(keys), draw(keys), name, created, expires)


@st.composite
def dm_bodies(draw: st.DrawFn) -> DmBody:
    created, expires = draw(lifetimes(Kind.DM))
    blocks = draw(st.integers(wire.DM_PLAINTEXT_MIN, wire.DM_PLAINTEXT_MAX).map(
        lambda n: n // wire.DM_PAD_BLOCK))
    size = wire.DM_SEAL_OVERHEAD + blocks * wire.DM_PAD_BLOCK
    sealed = draw(st.binary(min_size=size, max_size=size))
    return DmBody(draw(ids), created, expires, draw(keys), sealed)


@st.composite
def receipt_bodies(draw: st.DrawFn) -> ReceiptBody:
    created, expires = draw(lifetimes(Kind.RECEIPT))
    return ReceiptBody(draw(ids), draw(keys), created, expires)


bodies = st.one_of(post_bodies(), announce_bodies(), dm_bodies(), receipt_bodies())
routings = st.builds(Routing, st.integers(0, wire.MAX_HOPS), st.integers(1, wire.MAX_COPIES))


@st.composite
def messages(draw: st.DrawFn) -> wire.Message:
    """Well-formed messages with arbitrary (not valid) signatures."""
    body = draw(bodies)
    return wire.Message(
        wire.body_kind(body), wire.encode_body(body),
        draw(st.binary(min_size=64, max_size=64)), draw(routings),
    )
