"""Flooded items fade to class 0 `FADE_AFTER` after their `created` (docs/protocol.md §10.2,
"Class"): before that, holders at different hops differ and a ghost holder is served; after
it, every holder agrees, so contacts between holders reconcile nothing and only a node that
lacks the id entirely still gets a copy.

Driven through `Node`s on in-process links (meshnode.testing.Mesh), with the time given to
every call, as a driver gives it.
"""

from __future__ import annotations

from meshnode import wire
from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post
from meshnode.node import Node
from meshnode.routing.forwarding import FADE_AFTER
from meshnode.testing import Mesh

NOW = 1_790_000_000
FADED = NOW + FADE_AFTER


def post_at(hops: int) -> wire.Message:
    return create_post(Identity.generate(), "wijk", "water bij de kerk", NOW).with_routing(
        wire.Routing(hops, 1))


def hops_of(node: Node, msg_id: bytes) -> int | None:
    stored = node.store.get(msg_id)
    return None if stored is None else wire.decode_message(stored.raw).routing.hops_left


def meet(mesh: Mesh, a: str, b: str, t: int) -> None:
    mesh.connect(a, b, t)
    mesh.disconnect(a, b, t + 30)


def holders(mesh: Mesh, post: wire.Message, hops: dict[str, int]) -> None:
    for name, h in hops.items():
        mesh.add(name, NOW).inject(wire.encode_message(post.with_routing(wire.Routing(h, 1))),
                                   NOW)


def quiet(mesh: Mesh, a: str, b: str) -> bool:
    """Whether the open session between `a` and `b` found their sets equal by Hello digest."""
    session = mesh.nodes[a].session(b)
    assert session is not None
    return session.quiet


def test_fresh_holders_at_different_hops_differ_and_a_ghost_holder_is_served() -> None:
    mesh = Mesh()
    post = post_at(1)
    holders(mesh, post, {"D": 0, "L": 1})
    mesh.add("G", NOW)
    mesh.connect("D", "L", NOW)
    assert not quiet(mesh, "D", "L")  # class 0 against class 1 while fresh
    mesh.disconnect("D", "L", NOW + 30)
    meet(mesh, "G", "D", NOW + 60)  # G learns only the id from the dead copy: a ghost
    assert not mesh.nodes["G"].store.has(post.id)
    meet(mesh, "G", "L", NOW + 120)
    assert hops_of(mesh.nodes["G"], post.id) == 0


def test_after_the_fade_holders_at_different_hops_agree_and_send_nothing() -> None:
    mesh = Mesh()
    post = post_at(1)
    holders(mesh, post, {"D": 0, "L": 1})
    meet(mesh, "D", "L", NOW)  # both sets are built (and cached) while the post is fresh
    recons = mesh.frame_count["Recon"]
    assert recons > 0
    mesh.connect("D", "L", FADED)
    assert quiet(mesh, "D", "L") and quiet(mesh, "L", "D")
    assert mesh.frame_count["Recon"] == recons
    assert mesh.frame_count["Want"] == 0 and mesh.frame_count["Msg"] == 0


def test_after_the_fade_a_dead_copy_is_not_upgraded_and_nothing_is_wasted() -> None:
    mesh = Mesh()
    post = post_at(5)
    holders(mesh, post, {"D": 0, "L": 5})
    for i in range(3):
        meet(mesh, "D", "L", FADED + 60 * i)
    assert hops_of(mesh.nodes["D"], post.id) == 0
    assert mesh.frame_count["Want"] == 0 and mesh.frame_count["Msg"] == 0
    assert mesh.frame_count["Recon"] == 0  # every contact: equal digests, no reconciliation


def test_after_the_fade_a_node_lacking_the_post_still_gets_it_a_ghost_holder_does_not() -> None:
    mesh = Mesh()
    post = post_at(2)
    holders(mesh, post, {"D": 0, "L": 2})
    mesh.add("G", NOW)
    mesh.add("N", NOW)
    meet(mesh, "G", "D", NOW)  # a ghost, recorded while the post was fresh
    meet(mesh, "N", "L", FADED)
    assert hops_of(mesh.nodes["N"], post.id) == 1  # no item at all: served as before
    meet(mesh, "G", "L", FADED + 60)
    assert not mesh.nodes["G"].store.has(post.id)  # the price of fading (§10.2, "Ghosts")


def test_after_the_fade_a_peer_that_does_not_fade_is_not_asked_for_an_upgrade() -> None:
    """A peer whose item has not faded (here: its clock two hours behind, which is what a node
    that does not fade looks like from outside) still flags its copy GIVES_LIVE; the faded
    holder of a dead copy MUST NOT `Want` it (§10.2, "What the difference asks for"). A copy
    pushed anyway raises the hops and the item stays of class 0 ("Routing upgrade")."""
    mesh = Mesh()
    post = post_at(5)
    holders(mesh, post, {"D": 0, "L": 5, "M": 0})
    mesh.offsets["L"] = -FADE_AFTER  # from now on L reads the post as fresh
    for i in range(6):  # each session draws new nonces: D initiates some of them
        meet(mesh, "D", "L", FADED + 60 * i)
    assert mesh.frame_count["Recon"] > 0  # they differ: class 0 against L's class 1
    assert mesh.frame_count["Want"] == 0
    assert hops_of(mesh.nodes["D"], post.id) == 4  # L, initiating, pushed it as an upgrade
    mesh.connect("D", "M", FADED + 600)
    assert quiet(mesh, "D", "M")  # D's item agrees with another faded dead copy
