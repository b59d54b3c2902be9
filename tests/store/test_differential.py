"""MemoryStore and SqliteStore, driven by the same random operations, behave identically."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from meshnode.store import MemoryStore, PutResult, SqliteStore, StoredMessage

from .helpers import charged, contents, mid

ID_POOL = 14
SEEN_CAPACITY = 4
CAPACITY = charged(200, 200, 200)


@st.composite
def messages(draw: st.DrawFn) -> StoredMessage:
    n = draw(st.integers(0, ID_POOL - 1))
    created = draw(st.integers(0, 60))
    priority = draw(st.integers(1, 5))
    alert = priority == 4
    return StoredMessage(
        id=mid(n),
        kind=draw(st.integers(0, 3)),
        raw=bytes([n]) * draw(st.integers(1, 450)),
        priority=priority,
        created=created,
        expires=created + draw(st.integers(1, 120)),
        received=draw(st.integers(0, 100)),
        channel=draw(st.none() | st.sampled_from(["a", "b"])),
        tag=draw(st.none() | st.sampled_from([b"t1", b"t2"])),
        issuer=b"I" + bytes([n % 2]) if alert else None,
        seq=draw(st.integers(0, 9)) if alert else None,
        ref=draw(st.none() | st.sampled_from([mid(0), mid(1)])),
        pinned=alert and draw(st.booleans()),
    )


times = st.integers(0, 100)
ids = st.integers(0, ID_POOL - 1).map(mid)


class SameBehaviour(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="store-diff-"))
        self.mem = MemoryStore(CAPACITY, seen_capacity=SEEN_CAPACITY)
        self.sql = SqliteStore(self.dir / "s.db", CAPACITY, seen_capacity=SEEN_CAPACITY)

    @rule(msg=messages(), now=times)
    def put(self, msg: StoredMessage, now: int) -> None:
        count = self.mem.usage().count
        result = self.mem.put(msg, now)
        assert result == self.sql.put(msg, now)
        evicted = result is PutResult.ACCEPTED and self.mem.usage().count <= count
        event(f"put {result.value}{' with eviction' if evicted else ''}")

    @rule(batch=st.lists(messages(), max_size=5), now=times)
    def put_many(self, batch: list[StoredMessage], now: int) -> None:
        assert self.mem.put_many(batch, now) == self.sql.put_many(batch, now)

    @rule(msg_id=ids)
    def delete(self, msg_id: bytes) -> None:
        assert self.mem.delete(msg_id) == self.sql.delete(msg_id)

    @rule(now=times)
    def expire(self, now: int) -> None:
        assert self.mem.expire(now) == self.sql.expire(now)

    @rule(msg_id=ids, now=times)
    def mark_seen(self, msg_id: bytes, now: int) -> None:
        self.mem.mark_seen(msg_id, now)
        self.sql.mark_seen(msg_id, now)

    @rule(channel=st.sampled_from(["a", "b"]), limit=st.integers(0, 5))
    def by_channel(self, channel: str, limit: int) -> None:
        assert self.mem.by_channel(channel, limit) == self.sql.by_channel(channel, limit)

    @rule(since=times, kind=st.none() | st.integers(0, 3), limit=st.none() | st.integers(0, 5))
    def ids_since(self, since: int, kind: int | None, limit: int | None) -> None:
        assert self.mem.ids_since(since, kind=kind, limit=limit) == self.sql.ids_since(
            since, kind=kind, limit=limit
        )

    @invariant()
    def same_contents(self) -> None:
        assert contents(self.mem) == contents(self.sql)
        assert self.mem.usage() == self.sql.usage()
        assert self.mem.usage().used_bytes <= CAPACITY
        assert self.mem.count() == self.sql.count() == len(contents(self.sql))

    @invariant()
    def same_indexes(self) -> None:
        assert self.mem.issuer_seqs() == self.sql.issuer_seqs()
        for key in (b"I\x00", b"I\x01"):
            assert self.mem.alerts_by_issuer(key) == self.sql.alerts_by_issuer(key)
        for kind in range(4):
            assert self.mem.by_kind(kind) == self.sql.by_kind(kind)
        for tag in (b"t1", b"t2"):
            assert self.mem.by_tag(tag) == self.sql.by_tag(tag)
        for ref in (mid(0), mid(1)):
            assert self.mem.by_ref(ref) == self.sql.by_ref(ref)

    @invariant()
    def same_seen(self) -> None:
        assert self.mem.seen_count() == self.sql.seen_count() <= SEEN_CAPACITY
        for n in range(ID_POOL):
            assert self.mem.seen(mid(n)) == self.sql.seen(mid(n))

    def teardown(self) -> None:
        try:
            assert self.sql.integrity_check() == []
        finally:
            self.mem.close()
            self.sql.close()
            shutil.rmtree(self.dir, ignore_errors=True)


# Each example opens a SQLite file and runs up to 25 steps: half the profile's examples keeps
# the default run near 15 s while HYPOTHESIS_PROFILE=fuzz still scales it up.
SameBehaviour.TestCase.settings = settings(
    SameBehaviour.TestCase.settings,
    max_examples=max(1, settings().max_examples // 2),
    stateful_step_count=25,
    deadline=None,
)
test_same_behaviour = SameBehaviour.TestCase
