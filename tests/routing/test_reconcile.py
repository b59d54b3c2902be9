"""Range-based set reconciliation: exact results, cost, the since window and hostile input."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshnode.codec import WireError, pack
from meshnode.routing.reconcile import (
    CLASS_FLAG,
    FINGERPRINT_SIZE,
    FRESH_WINDOW,
    GIVES_LIVE,
    ID_SIZE,
    INFINITY,
    MAX_TIMESTAMP,
    Bound,
    FingerprintRange,
    IdDiffRange,
    IdListRange,
    Item,
    ItemSet,
    Message,
    Range,
    ReconcileConfig,
    ReconcileError,
    Reconciler,
    SkipRange,
    SortedItems,
    estimate_cost,
    fingerprint_of,
    item_hash,
)

EPOCH = 1_700_000_000
# Largest encoded FINGERPRINT range: array and mode, a 9-byte dt, the fingerprint, a full prefix.
WORST_FINGERPRINT_RANGE = 2 + 9 + (2 + FINGERPRINT_SIZE) + (2 + ID_SIZE)


# ---------------------------------------------------------------------------------------------
# Driving a session


@dataclass
class Session:
    initiator: Reconciler
    responder: Reconciler
    frames: list[bytes] = field(default_factory=list)

    @property
    def up(self) -> int:
        return sum(len(f) for f in self.frames[0::2])

    @property
    def down(self) -> int:
        return sum(len(f) for f in self.frames[1::2])


def sync(
    a: ItemSet,
    b: ItemSet,
    ci: ReconcileConfig | None = None,
    cr: ReconcileConfig | None = None,
    since: int = 0,
    max_frames: int = 100_000,
) -> Session:
    """Run a whole session; every frame must respect its sender's frame limit."""
    ci, cr = ci or ReconcileConfig(), cr or ReconcileConfig()
    s = Session(Reconciler(a, initiator=True, config=ci, since=since),
                Reconciler(b, initiator=False, config=cr))
    msg: bytes | None = s.initiator.initiate()
    while msg is not None:
        assert len(msg) <= ci.frame_limit
        s.frames.append(msg)
        reply = respond(s.responder, msg)
        assert len(reply) <= cr.frame_limit
        s.frames.append(reply)
        msg = s.initiator.receive(reply)
        assert len(s.frames) < max_frames
    assert s.initiator.done
    return s


def respond(responder: Reconciler, data: bytes) -> bytes:
    """The responder always answers."""
    reply = responder.receive(data)
    assert reply is not None
    return reply


def ids(items: Sequence[Item], since: int = 0) -> set[bytes]:
    return {item_id for ts, item_id in items if ts >= since}


def check_result(s: Session, a: Sequence[Item], b: Sequence[Item], since: int = 0) -> None:
    assert s.initiator.have_ids == ids(a, since) - ids(b, since)
    assert s.initiator.need_ids == ids(b, since) - ids(a, since)
    assert not s.responder.have_ids and not s.responder.need_ids


def random_items(rnd: random.Random, count: int, span: int = 72 * 3600) -> list[Item]:
    return [(EPOCH + rnd.randrange(span), rnd.randbytes(ID_SIZE)) for _ in range(count)]


# ---------------------------------------------------------------------------------------------
# Strategies


@st.composite
def universes(draw: st.DrawFn, max_size: int = 200) -> list[Item]:
    """Items with few distinct timestamps and shared id prefixes, so bounds need id prefixes."""
    rnd = draw(st.randoms(use_true_random=False))
    count = draw(st.integers(0, max_size))
    span = draw(st.sampled_from([1, 3, 50, 20_000, 2**40]))  # 20,000 s: old and fresh items
    prefix = draw(st.binary(max_size=ID_SIZE - 1))
    shared = draw(st.floats(0, 1))
    out: dict[bytes, int] = {}
    for _ in range(count):
        head = prefix if rnd.random() < shared else b""
        out[head + rnd.randbytes(ID_SIZE - len(head))] = rnd.randrange(span)
    return [(ts, item_id) for item_id, ts in out.items()]


@st.composite
def split_sets(draw: st.DrawFn, max_size: int = 200) -> tuple[list[Item], list[Item]]:
    universe = draw(universes(max_size))
    both = draw(st.floats(0, 1))
    rnd = draw(st.randoms(use_true_random=False))
    a: list[Item] = []
    b: list[Item] = []
    for item in universe:
        r = rnd.random()
        if r < both:
            a.append(item)
            b.append(item)
        else:
            (a if r < (1 + both) / 2 else b).append(item)
    return a, b


@st.composite
def configs(draw: st.DrawFn) -> ReconcileConfig:
    branching = draw(st.integers(2, 16))
    threshold = draw(st.integers(branching, 3 * branching))
    slack = draw(st.sampled_from([0, 60, 600, 4000]))
    window = draw(st.sampled_from([0, 1, 40, FRESH_WINDOW]))
    return ReconcileConfig(
        branching, threshold, ReconcileConfig.smallest_frame(branching, threshold, window) + slack,
        fresh_window=window,
        max_deferred=draw(st.sampled_from([0, 2, 4096])), max_rounds=100_000,
    )


# ---------------------------------------------------------------------------------------------
# Results


@given(split_sets(), configs(), configs())
def test_initiator_learns_both_differences_exactly(
    sets: tuple[list[Item], list[Item]], ci: ReconcileConfig, cr: ReconcileConfig
) -> None:
    a, b = sets
    s = sync(SortedItems(a), SortedItems(b), ci, cr)
    check_result(s, a, b)


@given(split_sets())
def test_default_configs_agree_with_each_other(sets: tuple[list[Item], list[Item]]) -> None:
    a, b = sets
    check_result(sync(SortedItems(a), SortedItems(b)), a, b)


UNIFORM = ReconcileConfig(fresh_window=0)  # the split rule before issue 17: by count alone


@settings(max_examples=60)
@given(split_sets())
def test_a_count_splitter_and_a_fresh_splitter_reconcile_to_the_same_result_either_way(
    sets: tuple[list[Item], list[Item]]
) -> None:
    a, b = sets
    for ci, cr in ((UNIFORM, ReconcileConfig()), (ReconcileConfig(), UNIFORM)):
        s = sync(SortedItems(a), SortedItems(b), ci, cr)
        check_result(s, a, b)


def test_the_fresh_window_is_the_fade_time() -> None:
    """§10.2: the split keeps apart exactly what has faded, after which holders agree."""
    from meshnode.routing.forwarding import FADE_AFTER
    assert ReconcileConfig().fresh_window == FRESH_WINDOW == FADE_AFTER


def hours_of_items(rnd: random.Random, count: int, hours: int) -> list[Item]:
    """`count` items created evenly over the `hours` before EPOCH."""
    return random_items(rnd, count, span=hours * 3600)


@pytest.mark.parametrize("hours", [4, 20, 60])
def test_old_and_new_rules_interoperate_on_a_day_of_items_with_fresh_differences(
    hours: int,
) -> None:
    rnd = random.Random(hours)
    common = hours_of_items(rnd, 110 * hours, hours)
    top = max(ts for ts, _ in common)
    fresh = [(top - rnd.randrange(FRESH_WINDOW), rnd.randbytes(ID_SIZE)) for _ in range(24)]
    a, b = common + fresh[:12], common + fresh[12:]
    results = set()
    for ci, cr in ((UNIFORM, UNIFORM), (UNIFORM, ReconcileConfig()), (ReconcileConfig(), UNIFORM),
                   (ReconcileConfig(), ReconcileConfig())):
        s = sync(SortedItems(a), SortedItems(b), ci, cr)
        check_result(s, a, b)
        results.add((s.initiator.have_ids, s.initiator.need_ids))
    assert len(results) == 1


def test_the_opening_sends_items_older_than_the_fresh_window_as_one_fingerprint() -> None:
    rnd = random.Random(3)
    items = hours_of_items(rnd, 2_000, 20)
    top = max(ts for ts, _ in items)
    old = [item for item in items if item[0] < top - FRESH_WINDOW]
    fresh = [item for item in items if item[0] >= top - FRESH_WINDOW]
    opening = Message.decode(Reconciler(SortedItems(items), initiator=True).initiate()).ranges
    assert opening[0] == FingerprintRange((min(fresh)[0], b""), fingerprint_of(
        sum(item_hash(item_id) for _, item_id in old) % 2**128, len(old)))
    # The fresh items are split as if they were the whole set.
    alone = Message.decode(Reconciler(SortedItems(fresh), initiator=True).initiate()).ranges
    assert [r.upper for r in opening[1:]] == [r.upper for r in alone]


def test_fresh_differences_in_a_large_store_cost_about_what_they_cost_in_a_small_one() -> None:
    """What two stores differ on is fresh (§10.2, fading): then a store 20 times older costs
    at most a turn more (a reply deferred past the frame limit) and similar bytes, where
    splitting by count alone needs a level more per 16 times the items."""
    costs = {}
    for hours in (3, 60):
        rnd = random.Random(7)
        common = hours_of_items(rnd, 110 * hours, hours)
        top = max(ts for ts, _ in common)
        fresh = [(top - rnd.randrange(FRESH_WINDOW), rnd.randbytes(ID_SIZE)) for _ in range(24)]
        a, b = common + fresh[:12], common + fresh[12:]
        for name, config in (("fresh", ReconcileConfig()), ("count", UNIFORM)):
            s = sync(SortedItems(a), SortedItems(b), config, config)
            check_result(s, a, b)
            costs[name, hours] = (len(s.frames), s.up + s.down)
    assert costs["fresh", 60][0] <= costs["fresh", 3][0] + 2 < costs["count", 60][0]
    assert costs["fresh", 60][1] < 1.5 * costs["fresh", 3][1] < costs["count", 60][1]


@given(universes(max_size=300), configs())
def test_identical_sets_take_one_round_trip_and_a_one_byte_reply(
    items: list[Item], config: ReconcileConfig
) -> None:
    s = sync(SortedItems(items), SortedItems(items), config, config)
    assert len(s.frames) == 2
    assert s.frames[1] == Message().encode() == b"\x80"
    opening = 2 + 2 + 10 + 1 + 3  # map, version, since, key and array header
    as_list = opening + WORST_FINGERPRINT_RANGE + ID_SIZE * len(items)
    old_part = WORST_FINGERPRINT_RANGE if config.fresh_window else 0
    assert len(s.frames[0]) <= max(
        opening + old_part + config.branching * WORST_FINGERPRINT_RANGE, as_list)
    assert not s.initiator.have_ids and not s.initiator.need_ids


@given(split_sets(), st.data())
def test_since_window_limits_the_session_to_recent_items(
    sets: tuple[list[Item], list[Item]], data: st.DataObject
) -> None:
    a, b = sets
    stamps = sorted({ts for ts, _ in a + b}) or [0]
    since = data.draw(st.sampled_from(stamps) | st.integers(0, MAX_TIMESTAMP))
    s = sync(SortedItems(a), SortedItems(b), since=since)
    check_result(s, a, b, since)
    assert s.responder.since == since


def test_since_window_ignores_older_differences() -> None:
    rnd = random.Random(7)
    common = random_items(rnd, 500)
    old_a = [(EPOCH - 1000 + i, rnd.randbytes(ID_SIZE)) for i in range(200)]
    new_b = [(EPOCH + 10**6, rnd.randbytes(ID_SIZE))]
    s = sync(SortedItems(common + old_a), SortedItems(common + new_b), since=EPOCH)
    assert s.initiator.have_ids == set()
    assert s.initiator.need_ids == ids(new_b)


class NaiveItems:
    """An `ItemSet` without prefix sums, to show the reconciler needs only the protocol."""

    def __init__(self, items: Sequence[Item]) -> None:
        self._items = sorted(items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self, lo: int, hi: int) -> Sequence[Item]:
        return self._items[lo:hi]

    def classes(self, lo: int, hi: int) -> Sequence[int]:
        return [1] * len(self._items[lo:hi])

    def fingerprint(self, lo: int, hi: int) -> bytes:
        return fingerprint_of(sum(item_hash(i) for _, i in self._items[lo:hi]), hi - lo)

    def bisect(self, bound: Bound, lo: int = 0) -> int:
        while lo < len(self._items) and self._items[lo] < bound:
            lo += 1
        return lo


@given(split_sets(max_size=120))
def test_any_item_set_implementation_interoperates(sets: tuple[list[Item], list[Item]]) -> None:
    a, b = sets
    naive = NaiveItems(a)
    assert isinstance(naive, ItemSet)
    check_result(sync(naive, SortedItems(b)), a, b)
    s = sync(SortedItems(b), naive)
    assert s.initiator.have_ids == ids(b) - ids(a)
    assert s.initiator.need_ids == ids(a) - ids(b)


def test_fresh_node_meets_a_full_hub_both_ways() -> None:
    hub = random_items(random.Random(3), 3000)
    empty = SortedItems()
    s = sync(empty, SortedItems(hub))  # the responder streams its ids in frame-sized chunks
    assert s.initiator.need_ids == ids(hub)
    assert s.up + s.down < 1.2 * ID_SIZE * len(hub)
    s = sync(SortedItems(hub), empty)
    assert s.initiator.have_ids == ids(hub)
    assert len(s.frames) == 2


# ---------------------------------------------------------------------------------------------
# Cost


def sets_differing_by(n: int, d: int, seed: int) -> tuple[list[Item], list[Item]]:
    rnd = random.Random(seed)
    only_a = d // 2
    items = random_items(rnd, n + d - only_a)
    common = items[: n - only_a]
    return common + items[n - only_a : n], common + items[n:]


@pytest.mark.parametrize("d", [0, 10, 100, 1000])
def test_sync_cost_for_ten_thousand_items(d: int) -> None:
    n = 10_000
    a, b = sets_differing_by(n, d, seed=d)
    s = sync(SortedItems(a), SortedItems(b))
    check_result(s, a, b)
    total = s.up + s.down
    model = estimate_cost(n, d)
    # The documented cost model holds (it is within about 15 % over seeds and sizes).
    assert 0.6 * (model.up + model.down) <= total <= 1.4 * (model.up + model.down)
    assert len(s.frames) <= 1.25 * model.messages + 2
    # Bytes grow with d, not n: at most the opening plus, per difference, the cost of one
    # isolated difference, which is the most a difference can cost (neighbours share ranges).
    base, one = estimate_cost(n, 0), estimate_cost(n, 1)
    per_difference = (one.up + one.down) - (base.up + base.down)
    assert total <= 1.2 * (base.up + base.down + d * per_difference)
    assert per_difference < 40 * ID_SIZE
    # And every id the initiator lacks came over the wire.
    assert total >= ID_SIZE * len(s.initiator.need_ids)
    if d == 0:
        assert len(s.frames) == 2


def test_cost_model_counts_one_round_trip_for_identical_sets() -> None:
    for n in (0, 10, 1000, 10**6):
        assert estimate_cost(n, 0).round_trips == 1


# ---------------------------------------------------------------------------------------------
# Hostile input


def state(r: Reconciler) -> tuple[object, ...]:
    return (r.rounds, r.since, r.done, r.have_ids, r.need_ids)


def opened_initiator(items: Sequence[Item] = ()) -> Reconciler:
    r = Reconciler(SortedItems(items), initiator=True)
    r.initiate()
    return r


def only_wire_errors(r: Reconciler, data: bytes) -> None:
    before = state(r)
    try:
        r.receive(data)
    except WireError as exc:
        assert exc.field and exc.rule
        assert state(r) == before


SAMPLE = random_items(random.Random(11), 100)


@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_wire_error(data: bytes) -> None:
    only_wire_errors(Reconciler(SortedItems(SAMPLE), initiator=False), data)
    only_wire_errors(opened_initiator(SAMPLE), data)


_leaf = (
    st.integers(-3, 2**64 - 1) | st.binary(max_size=40) | st.booleans() | st.none()
    | st.sampled_from([b"", bytes(FINGERPRINT_SIZE), bytes(ID_SIZE), bytes(2 * ID_SIZE)])
)


@given(
    st.dictionaries(
        st.integers(-1, 6),
        _leaf | st.lists(st.lists(_leaf, max_size=6) | _leaf, max_size=8),
        max_size=5,
    )
)
def test_message_shaped_garbage_raises_only_wire_error(obj: dict[int, object]) -> None:
    data = msgpack.packb(obj, use_bin_type=True)
    only_wire_errors(Reconciler(SortedItems(SAMPLE), initiator=False), data)
    only_wire_errors(opened_initiator(SAMPLE), data)


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, max(0, len(out) - 1)))
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        if op == "flip" and out:
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del out[pos:]
        elif op == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            del out[pos : pos + draw(st.integers(1, 8))]
    return bytes(out)


@given(split_sets(max_size=150), configs(), st.data())
def test_mutated_frames_are_refused_without_a_trace(
    sets: tuple[list[Item], list[Item]], config: ReconcileConfig, data: st.DataObject
) -> None:
    """A mutated frame raises WireError or is a valid message; after a refusal, the original
    frame continues the session to the exact result."""
    a, b = sets
    set_a, set_b = SortedItems(a), SortedItems(b)
    frames = sync(set_a, set_b, config, config).frames
    k = data.draw(st.integers(0, len(frames) - 1))
    bad = data.draw(mutations(frames[k]))
    i = Reconciler(set_a, initiator=True, config=config)
    r = Reconciler(set_b, initiator=False, config=config)
    assert i.initiate() == frames[0]
    for j in range(k):  # replay up to frame k
        receiver = r if j % 2 == 0 else i
        assert receiver.receive(frames[j]) == frames[j + 1]
    receiver = r if k % 2 == 0 else i
    before = state(receiver)
    try:
        receiver.receive(bad)
        return  # a mutation that is still a valid message; the session has diverged
    except WireError:
        assert state(receiver) == before
    msg = i.receive(frames[k]) if receiver is i else frames[k]
    while msg is not None:
        msg = i.receive(respond(r, msg))
    assert i.have_ids == ids(a) - ids(b)
    assert i.need_ids == ids(b) - ids(a)


FP = bytes(FINGERPRINT_SIZE)

# (what, message body as a msgpack object, sent to the responder's first receive?)
MALFORMED: list[tuple[str, object, bool]] = [
    ("not a map", [1, 2], True),
    ("unknown field", {1: 2, 9: 0}, True),
    ("string key", {"1": 1}, True),
    ("version 1 (classless items)", {1: 1}, True),
    ("version 3", {1: 3}, True),
    ("version as bool", {1: True}, True),
    ("explicit since 0", {1: 2, 2: 0}, True),
    ("since above the maximum", {1: 2, 2: 2**63}, True),
    ("since without opening", {2: 5}, False),
    ("opening sent to the initiator", {1: 2}, False),
    ("no opening to the responder", {3: [[0, 5]]}, True),
    ("empty ranges", {1: 2, 3: []}, True),
    ("ranges not an array", {1: 2, 3: 5}, True),
    ("range not an array", {1: 2, 3: [5]}, True),
    ("unknown mode", {1: 2, 3: [[7, 0]]}, True),
    ("negative mode", {1: 2, 3: [[-1, 0]]}, True),
    ("mode as bool", {1: 2, 3: [[True, 0, FP]]}, True),
    ("mode as text", {1: 2, 3: [["1", 0, FP]]}, True),
    ("fingerprint missing", {1: 2, 3: [[1, 0]]}, True),
    ("fingerprint too short", {1: 2, 3: [[1, 0, FP[:-1]]]}, True),
    ("fingerprint as text", {1: 2, 3: [[1, 0, "x" * FINGERPRINT_SIZE]]}, True),
    ("too many elements", {1: 2, 3: [[0, 5, b"\x01", b"\x01"]]}, True),
    ("ids not whole", {1: 2, 3: [[2, 0, bytes(ID_SIZE + 1), b"\x07", []]]}, True),
    ("duplicate ids", {1: 2, 3: [[2, 0, bytes(2 * ID_SIZE), b"\x07\x07", []]]}, True),
    ("id list without flags", {1: 2, 3: [[2, 0, bytes(ID_SIZE)]]}, True),
    ("a flag missing", {1: 2, 3: [[2, 0, bytes(ID_SIZE), b"", []]]}, True),
    ("a reserved flag bit", {1: 2, 3: [[2, 0, bytes(ID_SIZE), b"\x0f", []]]}, True),
    ("a ghost of class 1", {1: 2, 3: [[2, 0, bytes(ID_SIZE), b"\x04", [5]]]}, True),
    ("a held id without its time", {1: 2, 3: [[2, 0, bytes(ID_SIZE), b"\x01", []]]}, True),
    ("a time for a giveable id", {1: 2, 3: [[2, 0, bytes(ID_SIZE), b"\x07", [5]]]}, True),
    ("a time outside the range", {1: 2, 3: [[2, 6, bytes(ID_SIZE), b"\x01", [9]]]}, True),
    ("a time as text", {1: 2, 3: [[2, 0, bytes(ID_SIZE), b"\x01", ["5"]]]}, True),
    ("known sent to the initiator", {3: [[4, 0, bytes(ID_SIZE), b"\x01", [5]]]}, False),
    ("known of a giveable id", {1: 2, 3: [[4, 0, bytes(ID_SIZE), b"\x03", []]]}, True),
    ("negative dt", {1: 2, 3: [[0, -1]]}, True),
    ("equal bounds", {1: 2, 3: [[0, 5], [0, 1]]}, True),
    ("decreasing bounds", {1: 2, 3: [[0, 5, b"\x05"], [0, 1]]}, True),
    ("decreasing prefixes", {1: 2, 3: [[0, 5, b"\x05"], [0, 1, b"\x04"]]}, True),
    ("range after infinity", {1: 2, 3: [[1, 0, FP], [0, 5]]}, True),
    ("two infinities", {1: 2, 3: [[0, 0], [1, 0, FP]]}, True),
    ("prefix on infinity", {1: 2, 3: [[0, 0, b"\x01"]]}, True),
    ("empty prefix", {1: 2, 3: [[0, 5, b""]]}, True),
    ("prefix ending in zero", {1: 2, 3: [[0, 5, b"\x01\x00"]]}, True),
    ("prefix too long", {1: 2, 3: [[0, 5, b"\x01" * (ID_SIZE + 1)]]}, True),
    ("timestamp overflow", {1: 2, 3: [[0, 2**63], [0, 2**63]]}, True),
    ("bound below since", {1: 2, 2: 100, 3: [[0, 50]]}, True),
    ("bound equal to since", {1: 2, 2: 100, 3: [[0, 101]]}, True),
    ("id-diff sent to the responder", {1: 2, 3: [[3, 0, b"", b"", b"", []]]}, True),
    ("more sent by the initiator", {1: 2, 4: 1}, True),
    ("more not 1", {4: 2}, False),
    ("float", {1: 1.0}, True),
]


@pytest.mark.parametrize(("what", "body", "to_responder"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_messages_are_refused(what: str, body: object, to_responder: bool) -> None:
    r = Reconciler(SortedItems(SAMPLE), initiator=False) if to_responder else opened_initiator()
    before = state(r)
    with pytest.raises(WireError):
        r.receive(pack(body))
    assert state(r) == before


@pytest.mark.parametrize(
    "data",
    [
        b"",
        pack({1: 2}) + b"\x00",  # trailing bytes
        pack({1: 2})[:-1],  # truncated
        b"\x81\x03\xdd\xff\xff\xff\xff",  # ranges claiming 4 G elements
        b"\x81\x03\x91" + b"\x91" * 10_000,  # nesting bomb
        b"\xd4\x00\x00",  # ext type
    ],
)
def test_broken_encodings_are_refused(data: bytes) -> None:
    with pytest.raises(WireError):
        Reconciler(SortedItems(SAMPLE), initiator=False).receive(data)


def test_size_and_range_count_limits() -> None:
    config = ReconcileConfig(max_message=8192, max_ranges=100, frame_limit=4096)
    skips = [[0, 2]] * 101  # bounds at timestamps 1, 2, ..., 101
    with pytest.raises(WireError):
        Reconciler(SortedItems(), initiator=False, config=config).receive(pack({1: 2, 3: skips}))
    Reconciler(SortedItems(), initiator=False, config=config).receive(pack({1: 2, 3: skips[:100]}))
    big = pack({1: 2, 3: [[2, 0, bytes(range(256)) * 40, b"", []]]})
    with pytest.raises(WireError, match="exceeds"):
        Reconciler(SortedItems(), initiator=False, config=config).receive(big)


def test_id_diff_must_match_the_initiators_ids() -> None:
    mine = random_items(random.Random(5), 5)  # fewer than the threshold: the opening is a list
    opening = Message.decode(Reconciler(SortedItems(mine), initiator=True).initiate())
    listed = tuple(i for _, i in sorted(mine))
    assert opening.ranges == (IdListRange(INFINITY, listed, bytes([CLASS_FLAG | GIVES_LIVE]) * 5),)
    for bitmap, why in [(b"", "does not match"), (b"\x00\x00", "does not match"),
                        (b"\x20", "unused bits")]:
        r = opened_initiator(mine)
        with pytest.raises(ReconcileError, match=why):
            r.receive(Message((IdDiffRange(INFINITY, bitmap, ()),)).encode())
        assert state(r) == state(opened_initiator(mine))
    r = opened_initiator(mine)
    theirs = b"\x77" * ID_SIZE
    live = bytes([CLASS_FLAG | GIVES_LIVE])
    assert r.receive(Message((IdDiffRange(INFINITY, b"\x05", (theirs,), live),)).encode()) is None
    assert r.have_ids == {mine_id for _, mine_id in sorted(mine)[0:3:2]}
    assert r.need_ids == {theirs}


def test_round_cap_is_enforced_and_keeps_what_was_learnt() -> None:
    rnd = random.Random(9)
    common = random_items(rnd, 3000)
    a, b = common + random_items(rnd, 40), common + random_items(rnd, 40)
    capped = ReconcileConfig(max_rounds=1)
    i = Reconciler(SortedItems(a), initiator=True, config=capped)
    r = Reconciler(SortedItems(b), initiator=False)
    msg = i.receive(respond(r, i.initiate()))
    assert msg is not None
    with pytest.raises(ReconcileError, match="rounds"):
        i.receive(respond(r, msg))
    assert i.have_ids <= ids(a) - ids(b) and i.need_ids <= ids(b) - ids(a)
    r = Reconciler(SortedItems(b), initiator=False, config=capped)
    i = Reconciler(SortedItems(a), initiator=True)
    msg = i.receive(respond(r, i.initiate()))
    assert msg is not None
    with pytest.raises(ReconcileError, match="rounds"):
        r.receive(msg)


def test_nothing_is_accepted_after_the_end() -> None:
    s = sync(SortedItems(SAMPLE), SortedItems(SAMPLE[1:]))
    with pytest.raises(ReconcileError, match="finished"):
        s.initiator.receive(s.frames[-1])


def covered(frame: bytes, start: Bound, kinds: tuple[type, ...] = (SkipRange,)
            ) -> list[tuple[Bound, Bound]]:
    """Spans of the ranges of a frame that are not of `kinds` (by default: not skips)."""
    out, lower = [], start
    for rng in Message.decode(frame).ranges:
        if not isinstance(rng, kinds):
            out.append((lower, rng.upper))
        lower = rng.upper
    return out


def test_a_range_cutting_into_deferred_work_is_refused_one_covering_it_supersedes_it() -> None:
    rnd = random.Random(4)
    small = ReconcileConfig(frame_limit=ReconcileConfig.smallest_frame(16, 32))
    i = Reconciler(SortedItems(random_items(rnd, 4000)), initiator=True, config=small)
    r = Reconciler(SortedItems(random_items(rnd, 4000)), initiator=False)
    reply = respond(r, i.initiate())
    answer = i.receive(reply)
    assert answer is not None
    answered = covered(answer, (0, b""))
    received = [  # fingerprints the initiator has not answered: it deferred them
        (lo, hi) for lo, hi in covered(reply, (0, b""), (SkipRange, IdListRange))
        if not any(a_lo < hi and lo < a_hi for a_lo, a_hi in answered)
    ]
    assert received, "the small frame should have deferred some ranges"
    (lo, hi), mid = received[0], ((received[0][0][0] + received[0][1][0]) // 2, b"")
    assert lo < mid < hi
    before = state(i)
    cutting = Message((FingerprintRange(mid, FP),)).encode()
    with pytest.raises(ReconcileError, match="deferred"):
        i.receive(cutting)
    assert state(i) == before
    assert i.receive(Message((FingerprintRange(INFINITY, FP),)).encode()) is not None


def test_api_misuse_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError):
        Reconciler(SortedItems(), initiator=False).initiate()
    r = Reconciler(SortedItems(), initiator=True)
    with pytest.raises(RuntimeError):
        r.receive(b"\x80")
    r.initiate()
    with pytest.raises(RuntimeError):
        r.initiate()
    with pytest.raises(ValueError):
        Reconciler(SortedItems(), initiator=False, since=5)
    with pytest.raises(ValueError):
        Reconciler(SortedItems(), initiator=True, since=-1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"branching": 1},
        {"branching": 257, "idlist_threshold": 300},
        {"branching": 16, "idlist_threshold": 8},
        {"frame_limit": 100},
        {"frame_limit": 20_000},  # above max_message
        {"max_ranges": 0},
        {"max_rounds": 0},
        {"max_deferred": -1},
    ],
)
def test_invalid_configs_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        ReconcileConfig(**kwargs)


# ---------------------------------------------------------------------------------------------
# Messages and item sets


@st.composite
def messages(draw: st.DrawFn) -> Message:
    opening = draw(st.booleans())
    since = draw(st.integers(0, 2**40)) if opening else 0
    stamps = sorted(draw(st.lists(st.integers(since, 2**41), max_size=12)))
    ranges: list[Range] = []
    last: Bound = (since, b"")
    for ts in stamps:
        prefix = draw(st.binary(max_size=ID_SIZE).filter(lambda p: not p or p[-1] != 0))
        bound = (ts, prefix)
        if bound <= last:
            continue
        last = bound
        ranges.append(draw(range_payloads(bound)))
    if draw(st.booleans()):
        ranges.append(draw(range_payloads(INFINITY)))
    return Message(tuple(ranges), opening, since, draw(st.booleans()) and not opening)


def range_payloads(upper: Bound) -> st.SearchStrategy[Range]:
    id_tuples = st.lists(st.binary(min_size=ID_SIZE, max_size=ID_SIZE), max_size=4, unique=True)
    return st.one_of(
        st.just(SkipRange(upper)),
        st.binary(min_size=FINGERPRINT_SIZE, max_size=FINGERPRINT_SIZE).map(
            lambda fp: FingerprintRange(upper, fp)
        ),
        id_tuples.map(lambda xs: IdListRange(upper, tuple(xs), b"\x07" * len(xs))),
        st.tuples(st.binary(max_size=3), id_tuples).map(
            lambda t: IdDiffRange(upper, t[0], tuple(t[1]), b"\x06" * len(t[1]))
        ),
    )


@given(messages())
def test_messages_round_trip_canonically(msg: Message) -> None:
    data = msg.encode()
    assert Message.decode(data) == msg
    assert Message.decode(data).encode() == data


@given(universes(max_size=100), universes(max_size=40), st.data())
def test_updated_item_sets_equal_fresh_builds(
    base: list[Item], extra: list[Item], data: st.DataObject
) -> None:
    known = {item_id for _, item_id in base}
    extra = [item for item in extra if item[1] not in known]
    removed = data.draw(st.lists(st.sampled_from(base), max_size=10)) if base else []
    updated = SortedItems(base).updated(add=extra, remove=removed)
    expected = SortedItems([item for item in base if item not in removed] + extra)
    assert len(updated) == len(expected)
    assert list(updated.items(0, len(updated))) == list(expected.items(0, len(expected)))
    lo = data.draw(st.integers(0, len(expected)))
    hi = data.draw(st.integers(lo, len(expected)))
    assert updated.fingerprint(lo, hi) == expected.fingerprint(lo, hi)
    assert updated.fingerprint(0, len(updated)) == expected.fingerprint(0, len(expected))
    hashes = sum(item_hash(i) for _, i in expected.items(lo, hi))
    assert expected.fingerprint(lo, hi) == fingerprint_of(hashes, hi - lo)


def test_sorted_items_orders_bisects_and_refuses_bad_items() -> None:
    x, y, z = (5, b"\x02" * ID_SIZE), (5, b"\x01" * ID_SIZE), (1, b"\x09" * ID_SIZE)
    s = SortedItems([x, y, z, x])
    assert list(s.items(0, 3)) == [z, y, x]
    assert s.bisect((5, b"")) == 1
    assert s.bisect((5, b"\x02")) == 2
    assert s.bisect(INFINITY) == 3
    assert s.fingerprint(1, 1) == fingerprint_of(0, 0)
    for bad in [(-1, x[1]), (MAX_TIMESTAMP + 1, x[1]), (True, x[1]), (1, b"short"), (1, "s" * 16)]:
        with pytest.raises(ValueError):
            SortedItems([bad])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        SortedItems([x, (6, x[1])])
    with pytest.raises(ValueError):
        s.updated(add=[(6, x[1])])
    assert list(s.updated(remove=[(7, x[1])]).items(0, 3)) == [z, y, x]
    assert list(s.updated(add=[x, y]).items(0, 3)) == [z, y, x]


def test_later_bounds_must_stay_above_since() -> None:
    r = Reconciler(SortedItems(SAMPLE), initiator=False)
    r.receive(pack({1: 2, 2: 100, 3: [[1, 0, FP]]}))
    before = state(r)
    with pytest.raises(WireError, match="increasing"):
        r.receive(pack({3: [[0, 51]]}))  # timestamp 50 < since
    assert state(r) == before
    r.receive(pack({3: [[0, 102]]}))
    assert r.rounds == 2 and r.since == 100


def test_replies_stay_within_the_frame_limit_when_work_is_folded() -> None:
    """An id-diff answer of every size, followed by work that no longer fits and cannot be
    deferred (max_deferred=0): the folded remainder must still fit in the frame."""
    rnd = random.Random(8)
    listed = [(EPOCH + i, rnd.randbytes(ID_SIZE)) for i in range(400)]
    later = [(EPOCH + 1000 + i, rnd.randbytes(ID_SIZE)) for i in range(100)]
    items = SortedItems(listed + later)
    unknown = tuple(rnd.randbytes(ID_SIZE) for _ in range(64))  # widen what may be diffed
    config = ReconcileConfig(max_deferred=0)
    kinds = set()
    for lacking in range(0, 300):
        theirs = tuple(item_id for _, item_id in listed[lacking:]) + unknown
        msg = Message(
            (IdListRange((EPOCH + 400, b""), theirs, b"\x07" * len(theirs)),
             FingerprintRange(INFINITY, FP)), opening=True
        ).encode()
        reply = respond(Reconciler(items, initiator=False, config=config), msg)
        assert len(reply) <= config.frame_limit
        kinds.add(tuple(type(rng).__name__ for rng in Message.decode(reply).ranges))
    # Both the id-diff and the streamed answer occurred, each followed by the folded rest.
    assert ("IdDiffRange", "FingerprintRange") in kinds
    assert ("IdListRange", "FingerprintRange") in kinds


def test_an_item_gone_during_the_session_is_listed_as_held_never_as_an_invalid_ghost() -> None:
    """A class-1 item whose message left the store mid-session (expiry) is described as a
    ghost by its holder; the id list still carries a flag the peer accepts (HELD)."""
    from meshnode.routing.reconcile import GHOST, HELD, offer_of

    mine = random_items(random.Random(9), 5)
    r = Reconciler(SortedItems(mine), initiator=True, describe=lambda _id, _cls: GHOST)
    opening = Message.decode(r.initiate())
    (listed,) = opening.ranges
    assert isinstance(listed, IdListRange)
    assert [offer_of(f) for f in listed.flags] == [HELD] * 5
    assert Reconciler(SortedItems(), initiator=False).receive(opening.encode())
