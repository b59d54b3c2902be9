"""Fresh keys must pay: proof-of-work stamps for authors a node has never seen.

Attacker: a modified node posting, announcing or sending DMs under a fresh key each time
(Sybil), which per-author quotas cannot bind. Defence (`meshnode/intake.py`, with
`NodeConfig.require_stamps`): a post, announce or DM from the network whose signing key the
node has not accepted a message from must carry a stamp (docs/protocol.md §15) worth
`stamp_bits` for that key and the UTC day of its `created`, or it is refused
(`Refusal.STAMP`) before its signature is checked: not stored, not relayed, not remembered.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import seal_dm, stamped_ack
from meshnode.crypto.signing import create_announce, create_post
from meshnode.crypto.stamp import STAMP_BITS, StampExhausted, mint_stamp, stamp_day, stamp_worth
from meshnode.events import DmReceived, PostReceived, Refusal, Rejected
from meshnode.node import NodeConfig
from meshnode.store.memory import MemoryStore
from meshnode.wire import Message, Routing
from tests.attacks.peers import NOW, Bench

REQUIRE = NodeConfig(require_stamps=True)
DAY = stamp_day(NOW)


def _stamp(identity: Identity, day: int = DAY) -> bytes:
    return mint_stamp(identity.public.sign_key, day)


def _post(identity: Identity, stamp: bytes | None, text: str = "junk") -> Message:
    return create_post(identity, "wijk", text, NOW, stamp=stamp).with_routing(Routing(8, 1))


def _unstamped(kind: str) -> Message:
    sybil = Identity.generate()
    if kind == "post":
        return _post(sybil, None)
    if kind == "announce":
        return create_announce(sybil, "Sybil", NOW)
    return seal_dm(sybil, Identity.generate().public, "junk", NOW).with_routing(Routing(8, 8))


def _refusals(bench: Bench) -> list[Refusal]:
    return [o.refusal for o in bench.outputs if isinstance(o, Rejected)]


def _watched() -> Bench:
    """A node requiring stamps, linked to the attacker and to a watcher it relays to."""
    bench = Bench.make(config=REQUIRE)
    bench.link("watcher", nonce=b"\x00" * 8)
    bench.link("sybil")
    return bench


@pytest.mark.parametrize("kind", ["post", "announce", "dm"])
def test_a_new_key_without_a_stamp_is_refused_and_neither_stored_nor_relayed(kind: str) -> None:
    bench = _watched()
    junk = _unstamped(kind)
    bench.send("sybil", junk)
    assert _refusals(bench) == [Refusal.STAMP]
    assert not bench.node.held.has(junk.id) and not bench.node.store.seen(junk.id)
    assert all(junk.body not in data for data in bench.msgs_to("watcher"))
    assert bench.node.status(NOW)["rejected"] == {"stamp": 1}


def test_a_stamped_post_from_a_new_author_is_accepted_and_relayed() -> None:
    bench = _watched()
    author = Identity.generate()
    post = _post(author, _stamp(author))
    bench.send("sybil", post)
    assert _refusals(bench) == []
    assert bench.node.held.has(post.id)
    assert any(post.body in data for data in bench.msgs_to("watcher"))


def test_the_stamp_is_for_the_day_of_created_not_the_day_on_the_receivers_clock() -> None:
    """Created a minute before midnight UTC, received two minutes later: the stamp of the
    day of `created` is worth it, the receiver's new day's is not (§15)."""
    created = (DAY + 1) * 86_400 - 60
    received = created + 120
    assert stamp_day(created) == DAY and stamp_day(received) == DAY + 1
    refusals = []
    for day in (DAY, DAY + 1):
        author = Identity.generate()
        post = create_post(author, "wijk", "net voor middernacht", created,
                           stamp=_stamp(author, day)).with_routing(Routing(8, 1))
        bench = Bench.make(received, config=REQUIRE)
        bench.link("sybil", received)
        bench.send("sybil", post, received)
        refusals.append((bench.node.held.has(post.id), _refusals(bench)))
    assert refusals == [(True, []), (False, [Refusal.STAMP])]


def test_once_known_an_author_needs_no_stamp_even_after_a_restart() -> None:
    store = MemoryStore(4 << 20)
    bench = Bench.make(config=REQUIRE, store=store)
    bench.link("peer")
    author = Identity.generate()
    bench.send("peer", _post(author, _stamp(author), "first"))
    later = _post(author, None, "second")
    bench.send("peer", later)
    assert bench.node.held.has(later.id)
    again = Bench.make(config=REQUIRE, store=store)  # the same store, read at start
    again.link("peer")
    third = _post(author, None, "third")
    again.send("peer", third)
    assert again.node.held.has(third.id) and _refusals(again) == []


@pytest.mark.parametrize("why", ["another author", "another day", "too weak"])
def test_a_stamp_not_bound_to_the_author_and_day_is_refused(why: str) -> None:
    author, other = Identity.generate(), Identity.generate()
    if why == "another author":
        stamp = _stamp(other)
    elif why == "another day":
        stamp = _stamp(author, DAY - 1)
    else:
        stamp = mint_stamp(author.public.sign_key, DAY, STAMP_BITS - 4)
        while stamp_worth(author.public.sign_key, DAY, stamp) >= STAMP_BITS:
            stamp = (int.from_bytes(stamp, "big") + 1).to_bytes(8, "big")
    bench = _watched()
    post = _post(author, stamp)
    assert stamp_worth(author.public.sign_key, DAY, stamp) < STAMP_BITS
    bench.send("sybil", post)
    assert _refusals(bench) == [Refusal.STAMP]
    assert not bench.node.held.has(post.id)


def test_the_stamp_is_checked_before_the_signature() -> None:
    """A forged post without a stamp costs the node a hash, not a signature check."""
    bench = _watched()
    forged = _post(Identity.generate(), None)
    forged = Message(forged.kind, forged.body, bytes(64), forged.routing)
    bench.send("sybil", forged)
    assert _refusals(bench) == [Refusal.STAMP]


def test_nodes_that_stamp_their_own_reach_nodes_that_require_stamps() -> None:
    config = NodeConfig(require_stamps=True, stamp_own=True, seed=3)
    sender = Bench.make(config=config)
    receiver = Bench.make(config=config)
    receiver.link("sender")
    post = sender.node.post("wijk", "Stroom bij de bakker", NOW)
    dm = sender.node.send_dm(receiver.node.identity.public, "Alles goed?", NOW)
    for verdict in (post.verdict, dm.verdict):
        stored = sender.node.held.get(verdict.msg_id or b"")
        assert stored is not None
        receiver.send("sender", stored.raw)
    events = receiver.outputs
    assert _refusals(receiver) == []
    assert any(isinstance(e, PostReceived) for e in events)
    assert any(isinstance(e, DmReceived) and e.text == "Alles goed?" for e in events)


def test_a_driver_may_mint_off_the_node_and_hand_the_stamps_over() -> None:
    node = Bench.make(config=NodeConfig(stamp_own=True, seed=4)).node
    work = node.own_stamp_work(NOW)
    assert work is not None and work.key == node.identity.public.sign_key and work.day == DAY
    node.give_own_stamp(work, work.mint())
    assert node.own_stamp_work(NOW) is None
    with pytest.raises(ValueError, match="not a stamp"):
        node.give_own_stamp(work, bytes(8) if stamp_worth(work.key, DAY, bytes(8)) < 14
                            else b"\xff" * 8)
    ack = stamped_ack(b"\x07" * 32, DAY)
    result = node.send_dm(Identity.generate().public, "hoi", NOW, ack=ack)
    stored = node.held.get(result.verdict.msg_id or b"")
    assert stored is not None and ack.stamp in stored.raw
    ack_key = ed25519.Ed25519PrivateKey.from_private_bytes(ack.seed).public_key()
    assert ack_key.public_bytes_raw() in stored.raw


def test_minting_is_bounded_when_asked() -> None:
    with pytest.raises(StampExhausted):
        mint_stamp(b"\x01" * 32, DAY, 40, limit=1_000)
