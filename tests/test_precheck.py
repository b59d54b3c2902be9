"""Checking frames ahead (rule 5 of the node's driving contract, `meshnode.precheck`): the
check is a pure function that any number of threads may run at once without touching the
node, and what it learned changes the node's cost, never an outcome — forgeries checked ahead
are refused, frames not checked ahead are verified by `receive` itself."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post
from meshnode.crypto.verify import MemoEntries, SignatureMemo
from meshnode.events import Refusal, Rejected
from meshnode.node import Node, NodeConfig
from meshnode.precheck import NOTHING_LEARNED
from meshnode.routing.frames import Done, Msg, encode_frame
from meshnode.store import SqliteStore
from meshnode.wire import Message, encode_message

NOW = 1_790_000_000
THREADS = 4


def _frames(count: int) -> tuple[list[bytes], list[bytes]]:
    """`count` genuine posts and `count` forgeries of them (the same body, a signature that
    fails), as Msg frames."""
    genuine, forged = [], []
    for i in range(count):
        post = create_post(Identity.generate(), "wijk", f"bericht {i}", NOW)
        genuine.append(encode_frame(Msg(encode_message(post))))
        fake = Message(post.kind, post.body, bytes([i % 250 + 1]) * 64)
        forged.append(encode_frame(Msg(encode_message(fake))))
    return genuine, forged


def _node(tmp_path: Path, memo: SignatureMemo, config: NodeConfig | None = None) -> Node:
    return Node(Identity.generate(), SqliteStore(tmp_path / "hub.db", 1 << 24), TrustStore(()),
                NOW, config or NodeConfig(seed=5), memo=memo)


def _check_on_threads(node: Node, frames: list[bytes]) -> list[MemoEntries]:
    check = node.frame_check()
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(check, frames))


def test_many_threads_checking_at_once_agree_with_one_and_leave_the_node_untouched(
        tmp_path: Path) -> None:
    memo = SignatureMemo()
    node = _node(tmp_path, memo)
    before = memo.entries()
    genuine, forged = _frames(30)
    frames = (genuine + forged + [encode_frame(Done()), b"\xc1 not a frame"]) * 3
    parallel = _check_on_threads(node, frames)
    alone = [node.frame_check()(frame) for frame in frames]
    assert parallel == alone
    assert memo.entries() == before  # the node's memo is written only by `take_checked`
    assert node.held.usage().count == 0  # and nothing is stored
    signed = parallel[:60]
    assert [e.results[0][1] for e in signed] == [True] * 30 + [False] * 30
    assert parallel[60:62] == [NOTHING_LEARNED, NOTHING_LEARNED]


def test_checks_taken_in_spare_the_node_the_work_and_forgeries_are_still_refused(
        tmp_path: Path) -> None:
    memo = SignatureMemo()
    node = _node(tmp_path, memo)
    genuine, forged = _frames(20)
    ahead = forged[:10] + genuine[:10]  # checked on other threads
    for entries in _check_on_threads(node, ahead):
        node.take_checked(entries)
    node.link_up("p", NOW)
    hits = memo.hits
    refused = []
    for frame in ahead + forged[10:] + genuine[10:]:  # the rest was never checked ahead
        refused += [r.refusal for r in node.receive("p", frame, NOW) if isinstance(r, Rejected)]
    assert memo.hits - hits == len(ahead)  # each checked signature found, not verified again
    assert refused == [Refusal.INVALID] * 20  # every forgery, checked ahead or not
    assert node.held.usage().count == 20  # every genuine post, checked ahead or not


def test_a_post_short_of_its_stamp_is_not_verified_ahead(tmp_path: Path) -> None:
    memo = SignatureMemo()
    node = _node(tmp_path, memo, NodeConfig(seed=5, require_stamps=True))
    genuine, _ = _frames(1)
    entries = node.frame_check()(genuine[0])
    assert entries.results == ()  # no signature paid for: the stamp decides first
    node.take_checked(entries)
    node.link_up("p", NOW)
    refused = [r.refusal for r in node.receive("p", genuine[0], NOW) if isinstance(r, Rejected)]
    assert refused == [Refusal.STAMP]
    assert node.held.usage().count == 0
