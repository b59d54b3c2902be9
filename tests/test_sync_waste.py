"""Sync v2 spends no airtime on a difference it cannot act on (docs/protocol.md §10.2).

Driven through `Node`s on in-process links (meshnode.testing.Mesh): a holder of a copy that
cannot travel is never asked for it, nothing is pushed to a node that already holds a copy of
the same use, a dead copy is upgraded by a live one, and posts still reach exactly the nodes a
hop-limited epidemic reaches.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from meshnode import wire
from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post
from meshnode.events import PostReceived
from meshnode.node import Node, NodeConfig
from meshnode.routing.frames import Msg, encode_frame
from meshnode.store.sqlite import SqliteStore
from meshnode.testing import Mesh

NOW = 1_790_000_000


def spent_post(hops: int = 0) -> wire.Message:
    return create_post(Identity.generate(), "wijk", "al ver gereisd", NOW).with_routing(
        wire.Routing(hops, 1))


def hops_of(node: Node, msg_id: bytes) -> int | None:
    stored = node.store.get(msg_id)
    if stored is None:
        return None
    return wire.decode_message(stored.raw).routing.hops_left


def meet(mesh: Mesh, a: str, b: str, t: int) -> None:
    mesh.connect(a, b, t)
    mesh.disconnect(a, b, t + 30)


def wasted(mesh: Mesh) -> tuple[int, int, int]:
    """Wants answered with nothing, queued messages refused, duplicates that upgraded nothing,
    summed over the mesh."""
    stats = [node.stats for node in mesh.nodes.values()]
    return (sum(s.want_refused for s in stats), sum(s.unoffered for s in stats),
            sum(s.duplicates - s.upgraded for s in stats))


def test_holders_of_a_spent_post_are_never_asked_for_it_as_its_id_spreads() -> None:
    """The ghost a peer records spreads with its sync set: nodes that never met the holder
    agree with it too, so no Want for the post is ever sent and later contacts are quiet."""
    mesh = Mesh()
    for name in "ABCD":
        mesh.add(name, NOW)
    spent = spent_post()
    mesh.nodes["A"].inject(wire.encode_message(spent), NOW)
    t = NOW
    for a, b in (("A", "B"), ("B", "C"), ("C", "D"), ("D", "A"), ("A", "C"), ("B", "D")):
        meet(mesh, a, b, t)
        t += 60
    assert mesh.frame_count["Want"] == 0 and mesh.frame_count["Msg"] == 0
    assert wasted(mesh) == (0, 0, 0)
    assert [n for n in "BCD" if mesh.nodes[n].store.has(spent.id)] == []
    mesh.connect("D", "A", t)
    session = mesh.nodes["A"].session("D")
    assert session is not None and session.quiet  # the same set: no reconciliation at all


def test_a_ghost_never_hides_a_copy_that_can_travel() -> None:
    """B knows the post only as a ghost (from a dead copy); a live holder still gives it to B,
    and B passes it on."""
    mesh = Mesh()
    for name in "DBLC":
        mesh.add(name, NOW)
    live = spent_post(hops=5)
    mesh.nodes["D"].inject(wire.encode_message(dataclasses.replace(live, routing=wire.Routing(
        0, 1))), NOW)
    mesh.nodes["L"].inject(wire.encode_message(live), NOW)
    meet(mesh, "D", "B", NOW)
    assert not mesh.nodes["B"].store.has(live.id)
    meet(mesh, "L", "B", NOW + 60)
    meet(mesh, "B", "C", NOW + 120)
    assert hops_of(mesh.nodes["B"], live.id) == 4 and hops_of(mesh.nodes["C"], live.id) == 3
    assert wasted(mesh) == (0, 0, 0)


def test_a_dead_copy_is_upgraded_once_and_then_the_holders_agree() -> None:
    """A holder with no hops left meets one that can give a copy with hops to spare: one Msg
    raises its copy's hops; the next contact between them sends nothing."""
    mesh = Mesh()
    dead, live = mesh.add("D", NOW), mesh.add("L", NOW)
    post = spent_post(hops=5)
    dead.inject(wire.encode_message(post.with_routing(wire.Routing(0, 1))), NOW)
    live.inject(wire.encode_message(post), NOW)
    meet(mesh, "D", "L", NOW)
    assert hops_of(dead, post.id) == 4 and dead.stats.upgraded == 1
    assert mesh.frame_count["Msg"] == 1
    mesh.connect("D", "L", NOW + 60)
    assert mesh.frame_count["Msg"] == 1 and mesh.frame_count["Want"] <= 1
    session = dead.session("L")
    assert session is not None and session.quiet
    assert wasted(mesh) == (0, 0, 0)


def test_an_upgraded_copy_is_passed_on_with_the_hops_it_gained() -> None:
    """What a node says it can give of a post follows the copy it holds now: once a live
    duplicate upgrades its dead copy, the next node it meets gets the post from it."""
    mesh = Mesh()
    dead, live, _ = mesh.add("D", NOW), mesh.add("L", NOW), mesh.add("C", NOW)
    post = spent_post(hops=5)
    dead.inject(wire.encode_message(post.with_routing(wire.Routing(0, 1))), NOW)
    live.inject(wire.encode_message(post), NOW)
    meet(mesh, "D", "C", NOW)  # D lists its dead copy: C only learns its id
    assert not mesh.nodes["C"].store.has(post.id)
    meet(mesh, "D", "L", NOW + 60)
    assert hops_of(dead, post.id) == 4
    meet(mesh, "D", "C", NOW + 120)
    assert hops_of(mesh.nodes["C"], post.id) == 3
    assert wasted(mesh) == (0, 0, 0)


def test_an_upgrade_rewrites_only_the_routing_of_the_copy_we_hold() -> None:
    """A duplicate with more hops but a forged signature raises our copy's hops; the bytes we
    keep and relay are still the ones we verified (only the unsigned routing changed)."""
    mesh = Mesh()
    node, peer = mesh.add("N", NOW), mesh.add("P", NOW)
    post = spent_post(hops=0)
    node.inject(wire.encode_message(post), NOW)
    mesh.connect("N", "P", NOW)
    forged = wire.Message(post.kind, post.body, bytes(64), wire.Routing(6, 1))
    node.receive("P", encode_frame(Msg(wire.encode_message(forged))), NOW + 1)
    kept = wire.decode_message(node.store.get(post.id).raw)  # type: ignore[union-attr]
    assert kept.sig == post.sig and kept.routing.hops_left == 6
    assert peer.stats.accepted["post"] == 0


def test_ghosts_survive_a_restart(tmp_path: Path) -> None:
    """A node restarted on its SQLite store still knows its ghosts: the sync after the restart
    is quiet, not a new round of the same difference."""
    mesh = Mesh()
    mesh.add("A", NOW)
    path = tmp_path / "b.db"
    b = Node(Identity.generate(), SqliteStore(path, 1 << 20), mesh.trust, NOW,
             NodeConfig(seed=7))
    mesh.nodes["B"] = b
    mesh.nodes["A"].inject(wire.encode_message(spent_post()), NOW)
    meet(mesh, "A", "B", NOW)
    b.store.close()
    mesh.nodes["B"] = Node(b.identity, SqliteStore(path, 1 << 20), mesh.trust, NOW + 100,
                           NodeConfig(seed=8))
    mesh.connect("A", "B", NOW + 120)
    session = mesh.nodes["B"].session("A")
    assert session is not None and session.quiet
    mesh.nodes["B"].store.close()


def scoped_oracle(source: int, seq: list[tuple[int, int]], post_hops: int) -> dict[int, int]:
    """The hops each node's copy of a post ends with under a hop-limited epidemic in which a
    dead copy (0 hops) is raised by the first live copy offered to it (§10.2)."""
    best = {source: post_hops}  # a post made here is clamped to the scope too
    for a, b in seq:
        new = dict(best)
        for x, y in ((a, b), (b, a)):
            if best.get(x, 0) >= 1:
                give = min(best[x] - 1, post_hops)
                if y not in best or (best[y] == 0 and give > 0):
                    new[y] = give
        best = new
    return best


contacts = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)).filter(lambda p: p[0] != p[1]),
                    max_size=25)


@settings(max_examples=30, deadline=None)
@given(contacts, st.integers(0, 5), st.integers(1, 3))
def test_scoped_posts_reach_exactly_the_hop_limited_oracle_without_waste(
        seq: list[tuple[int, int]], source: int, post_hops: int) -> None:
    """Delivery is not bought back by the saving: every node ends with exactly the copy the
    hop-limited epidemic gives it, and no Want is refused, no queued message refused, no
    duplicate sent that upgraded nothing."""
    mesh = Mesh()
    for i in range(6):
        mesh.add(str(i), NOW, NodeConfig(seed=i, post_hops=post_hops))
    verdict, outs = mesh.nodes[str(source)].post("wijk", "hallo", NOW)
    mesh.local(str(source), outs, NOW)
    assert verdict.msg_id is not None
    for k, (a, b) in enumerate(seq):
        meet(mesh, str(a), str(b), NOW + 60 * (k + 1))
    expected = scoped_oracle(source, seq, post_hops)
    held = {i: hops_of(mesh.nodes[str(i)], verdict.msg_id) for i in range(6)}
    assert {i: h for i, h in held.items() if h is not None} == expected
    assert all(len(mesh.of(str(i), PostReceived)) == (i in expected)
               for i in range(6) if i != source)
    assert wasted(mesh) == (0, 0, 0)
