"""The protocol core, driven over in-process links (meshnode.testing).

Store-carry-forward where no end-to-end path ever exists at one time, receipts purging copies,
alerts through their chain, epidemic delivery against the oracle, and hostile peers.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import weakref
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshnode import wire
from meshnode.crypto.authority import create_revocation, root_label
from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post
from meshnode.events import (
    AlertReceived,
    AlertRemoved,
    Close,
    DmCarried,
    DmDelivered,
    DmReceived,
    PostReceived,
    Refusal,
    Rejected,
    Send,
    SyncFinished,
)
from meshnode.node import Node, NodeConfig
from meshnode.routing.frames import Hello, Msg, Recon, Want, decode_frame, encode_frame
from meshnode.store.memory import MemoryStore
from meshnode.store.sqlite import SqliteStore
from meshnode.testing import Mesh
from tests.crypto.chain import make_chain, nl_alert

NOW = 1_790_000_000


def texts(mesh: Mesh, name: str) -> list[str]:
    return [e.post.text for e in mesh.of(name, PostReceived)]  # type: ignore[attr-defined]


def test_store_carry_forward_along_a_chain_that_never_exists_at_once() -> None:
    chain = make_chain()
    mesh = Mesh(trust=chain.trust)
    for name in "ABCD":
        mesh.add(name, NOW)
    a, d = mesh.nodes["A"], mesh.nodes["D"]
    mesh.local("A", a.post("wijk-noord", "Water at the gym", NOW)[1], NOW)
    verdict, outs = a.send_dm(d.identity.public, "Are you OK?", NOW)
    dm_id = verdict.msg_id
    mesh.local("A", outs, NOW)
    mesh.local("A", a.inject(wire.encode_message(chain.alert()), NOW), NOW)

    t = NOW
    for x, y in (("A", "B"), ("B", "C"), ("C", "D")):
        t += 600
        mesh.connect(x, y, t)
        mesh.disconnect(x, y, t + 60)

    assert texts(mesh, "D") == ["Water at the gym"]
    [dm] = mesh.of("D", DmReceived)
    assert dm.text == "Are you OK?" and dm.sender == a.identity.public  # type: ignore[attr-defined]
    [alert] = mesh.of("D", AlertReceived)
    assert alert.verified.cert.issuer_id == "nl-vr17"  # type: ignore[attr-defined]
    # Relays carried the DM without being able to read it.
    assert not mesh.of("B", DmReceived) and not mesh.of("C", DmReceived)
    assert mesh.nodes["B"].store.has(dm_id)
    # C handed the DM to D and got D's receipt back over the same contact: copy purged.
    assert not mesh.nodes["C"].store.has(dm_id)

    # The receipt travels back along the same path and purges every copy.
    for x, y in (("C", "D"), ("B", "C"), ("A", "B")):
        t += 600
        mesh.connect(x, y, t)
        mesh.disconnect(x, y, t + 60)
    assert [e.dm_id for e in mesh.of("A", DmDelivered)] == [dm_id]  # type: ignore[attr-defined]
    for name in "ABC":
        assert not mesh.nodes[name].store.has(dm_id), name
    assert mesh.of("A", DmCarried)


def test_a_purged_dm_is_not_accepted_again() -> None:
    mesh = Mesh()
    for name in "ABC":
        mesh.add(name, NOW)
    verdict, outs = mesh.nodes["A"].send_dm(mesh.nodes["C"].identity.public, "hoi", NOW)
    dm_id = verdict.msg_id
    mesh.local("A", outs, NOW)
    mesh.connect("A", "B", NOW + 1)  # B carries a copy; A keeps one
    mesh.disconnect("A", "B", NOW + 2)
    mesh.connect("B", "C", NOW + 3)  # delivered; B's copy purged by the receipt
    mesh.disconnect("B", "C", NOW + 4)
    assert not mesh.nodes["B"].store.has(dm_id)
    mesh.connect("A", "B", NOW + 5)  # A still has its copy until the receipt reaches it
    assert not mesh.nodes["B"].store.has(dm_id)
    assert not mesh.nodes["A"].store.has(dm_id)
    assert len(mesh.of("C", DmReceived)) == 1


def test_spray_and_wait_hands_out_at_most_l_copies() -> None:
    mesh = Mesh()
    config = NodeConfig(spray_copies=4)
    names = [f"n{i}" for i in range(12)]
    for i, name in enumerate(names):
        mesh.add(name, NOW, dataclasses.replace(config, seed=i))
    target = Identity.generate()
    verdict, outs = mesh.nodes["n0"].send_dm(target.public, "x", NOW)
    dm_id = verdict.msg_id
    mesh.local("n0", outs, NOW)
    t = NOW
    for i in range(1, 12):  # n0 meets everyone, then everyone meets everyone
        t += 10
        mesh.connect("n0", names[i], t)
        mesh.disconnect("n0", names[i], t + 1)
    for i in range(1, 12):
        for j in range(i + 1, 12):
            t += 10
            mesh.connect(names[i], names[j], t)
            mesh.disconnect(names[i], names[j], t + 1)
    holders = [n for n in names if mesh.nodes[n].store.has(dm_id)]
    assert len(holders) == 4


def test_alert_update_and_cancel_supersede_and_revocation_removes() -> None:
    chain = make_chain()
    mesh = Mesh(trust=chain.trust)
    mesh.add("hub", NOW, NodeConfig(location=(518_800_000, 43_000_000)))
    mesh.add("phone", NOW)
    hub = mesh.nodes["hub"]
    first = chain.alert(seq=1)
    mesh.local("hub", hub.inject(wire.encode_message(first), NOW), NOW)
    [received] = mesh.of("hub", AlertReceived)
    assert received.covers_here is True  # type: ignore[attr-defined]
    original = nl_alert()
    from meshnode.alerts.model import MsgType, Reference
    ref = Reference(original.sender, original.identifier, original.sent)
    update = chain.alert(nl_alert(identifier="upd-1", msg_type=MsgType.UPDATE,
                                  references=(ref,)), seq=2)
    mesh.local("hub", hub.inject(wire.encode_message(update), NOW + 60), NOW + 60)
    assert not hub.store.has(first.id) and hub.store.has(update.id)
    assert [e.msg_id for e in mesh.of("hub", AlertRemoved)] == [first.id]  # type: ignore[attr-defined]
    # The superseded original arriving again (replayed by someone) is refused: the hub
    # remembers its id as seen.
    verdict, out = hub.inject(wire.encode_message(first), NOW + 70)
    assert verdict.refusal is Refusal.DUPLICATE
    assert not hub.store.has(first.id)
    assert not any(isinstance(o, AlertReceived) for o in out)
    mesh.connect("hub", "phone", NOW + 100)
    phone = mesh.nodes["phone"]
    assert phone.store.has(update.id) and not phone.store.has(first.id)
    # The phone never saw the original: it refuses it because it holds the update.
    verdict, out = phone.inject(wire.encode_message(first), NOW + 110)
    assert verdict.refusal is Refusal.SUPERSEDED, verdict
    assert not phone.store.has(first.id)
    assert not any(isinstance(o, AlertReceived) for o in out)
    revoke = create_revocation(chain.root, [chain.cert.serial], NOW + 200)
    mesh.local("hub", hub.inject(wire.encode_message(revoke), NOW + 200), NOW + 200)
    assert phone.store.has(revoke.id)  # pushed over the open link
    assert not phone.store.has(update.id) and not hub.store.has(update.id)


def test_forged_and_foreign_alerts_are_not_stored_or_relayed() -> None:
    chain, stranger = make_chain(), make_chain()
    mesh = Mesh(trust=chain.trust)
    mesh.add("A", NOW)
    mesh.add("B", NOW)
    a = mesh.nodes["A"]
    foreign = stranger.alert()
    out = a.inject(wire.encode_message(foreign), NOW).outputs
    [reason] = [o.reason for o in out if isinstance(o, Rejected)]  # type: ignore[attr-defined]
    # The root named as `meshnode trust list` shows it, with where to look.
    assert reason.startswith(
        f"alert unknown root: {root_label(stranger.cert.root_id)} is not pinned here")
    forged = dataclasses.replace(chain.alert(), sig=bytes(64))
    a.inject(wire.encode_message(forged), NOW)
    mesh.connect("A", "B", NOW + 1)
    assert a.store.usage().count == 0 and mesh.nodes["B"].store.usage().count == 0


def test_nodes_restart_from_their_store() -> None:
    """A node built on an existing store knows its alerts, sequence numbers and revocations."""
    chain = make_chain()
    store = MemoryStore(1 << 20)
    node = Node(Identity.generate(), store, chain.trust, NOW)
    node.inject(wire.encode_message(chain.alert(seq=7)), NOW)
    again = Node(node.identity, store, chain.trust, NOW + 10)
    replay = chain.alert(nl_alert(identifier="other"), seq=7)
    out = again.inject(wire.encode_message(replay), NOW + 10).outputs
    assert any(isinstance(o, Rejected) and "sequence number already used" in o.reason
               for o in out)


# --- epidemic delivery against the oracle ---------------------------------------------------

contacts = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)).filter(lambda p: p[0] != p[1]),
                    max_size=25)


def reachable(source: int, seq: list[tuple[int, int]]) -> set[int]:
    """Nodes with a time-respecting path from `source` over contacts in this order."""
    reached = {source}
    for a, b in seq:
        if a in reached or b in reached:
            reached |= {a, b}
    return reached


@settings(max_examples=40, deadline=None)
@given(contacts, st.integers(0, 5))
def test_epidemic_reaches_exactly_the_oracle_set(seq: list[tuple[int, int]], source: int) -> None:
    mesh = Mesh()
    for i in range(6):
        mesh.add(str(i), NOW)
    verdict, outs = mesh.nodes[str(source)].post("wijk", "news", NOW)
    post_id = verdict.msg_id
    mesh.local(str(source), outs, NOW)
    t = NOW
    for a, b in seq:
        t += 5
        mesh.connect(str(a), str(b), t)
        mesh.disconnect(str(a), str(b), t + 1)
    holders = {i for i in range(6) if mesh.nodes[str(i)].store.has(post_id)}
    assert holders == reachable(source, seq)


@settings(max_examples=25, deadline=None)
@given(contacts, st.integers(0, 5), st.integers(50, 2_000))
def test_limited_bandwidth_never_delivers_more(seq: list[tuple[int, int]], source: int,
                                               budget: int) -> None:
    mesh = Mesh()
    for i in range(6):
        mesh.add(str(i), NOW)
    verdict, outs = mesh.nodes[str(source)].post("wijk", "news", NOW)
    post_id = verdict.msg_id
    mesh.local(str(source), outs, NOW)
    t = NOW
    for a, b in seq:
        t += 5
        mesh.connect(str(a), str(b), t, budget=budget)
        mesh.disconnect(str(a), str(b), t + 1)
    holders = {i for i in range(6) if mesh.nodes[str(i)].store.has(post_id)}
    assert holders <= reachable(source, seq)


# --- sync cost ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def posts() -> list[wire.Message]:
    # Many authors, each within the per-author hourly quota.
    authors = [Identity.generate() for _ in range(1_000)]
    return [create_post(authors[i % 1_000], "wijk", f"post {i}", NOW - 3_000 + i % 3_000)
            for i in range(11_000)]


def sync_bytes(base: list[wire.Message], only_a: list[wire.Message],
               only_b: list[wire.Message]) -> tuple[int, int]:
    """(control bytes: hello, reconciliation, wants, done; messages moved) for one sync."""
    mesh = Mesh()
    for name, extra in (("A", only_a), ("B", only_b)):
        node = mesh.add(name, NOW)
        for m in [*base, *extra]:
            node.inject(wire.encode_message(m), NOW)
    mesh.connect("A", "B", NOW)
    control = sum(v for k, v in mesh.frame_bytes.items() if k != "Msg")
    return control, mesh.frame_count["Msg"]


def test_sync_cost_grows_with_the_difference_not_the_store(posts: list[wire.Message]) -> None:
    base = posts[:10_000]
    extra = posts[10_000:]
    results = {}
    for d in (0, 10, 100, 1_000):
        control, moved = sync_bytes(base, extra[: d // 2], extra[d // 2 : d])
        results[d] = control
        assert moved == d
    # Identical stores of 10,000: a few hundred bytes, not 10,000 ids.
    assert results[0] < 1_000
    for d in (10, 100, 1_000):
        assert results[d] <= 8 * d * 16 + 2_000, (d, results[d])


# --- hostile peers --------------------------------------------------------------------------


def greeted(node: Node, link: str, now: int) -> None:
    node.link_up(link, now)
    node.receive(link, encode_frame(Hello(nonce=b"\xff" * 8)), now)


def test_garbage_frames_are_counted_then_the_link_is_closed() -> None:
    mesh = Mesh()
    node = mesh.add("A", NOW)
    greeted(node, "evil", NOW)
    outputs = []
    for i in range(25):
        outputs += node.receive("evil", bytes([0x93, i]) + b"\xc1" * i, NOW)
    assert sum(isinstance(o, Rejected) for o in outputs) == 21
    closes = [o for o in outputs if isinstance(o, Close)]
    assert closes == [Close("evil", "too many malformed frames")]
    assert "evil" not in node.links()
    # Oversized frames are refused by size before parsing.
    greeted(node, "big", NOW)
    out = node.receive("big", b"\x92\x04\xc6" + (1 << 20).to_bytes(4, "big") + bytes(100), NOW)
    assert any(isinstance(o, Rejected) and "malformed frame" in o.reason for o in out)


def test_replayed_messages_cost_nothing_twice() -> None:
    mesh = Mesh()
    node = mesh.add("A", NOW)
    greeted(node, "peer", NOW)
    msg = create_post(Identity.generate(), "wijk", "hallo", NOW)
    frame = encode_frame(Msg(wire.encode_message(msg)))
    for _ in range(50):
        node.receive("peer", frame, NOW)
    assert node.store.usage().count == 1
    assert node.stats.duplicates == 49


def test_one_author_flooding_is_held_to_its_quota() -> None:
    mesh = Mesh()
    node = mesh.add("A", NOW)
    greeted(node, "peer", NOW)
    spammer = Identity.generate()
    for i in range(500):
        msg = create_post(spammer, "wijk", f"spam {i}", NOW - i)
        node.receive("peer", encode_frame(Msg(wire.encode_message(msg))), NOW)
    assert node.store.usage().count == NodeConfig().author_posts_per_hour
    assert node.stats.rejected["quota"] == 500 - NodeConfig().author_posts_per_hour


def test_sybil_flood_fills_only_the_store_bound_and_alerts_survive() -> None:
    chain = make_chain()
    mesh = Mesh(trust=chain.trust)
    capacity = 200_000
    node = mesh.add("A", NOW, capacity=capacity)
    alert = chain.alert()
    node.inject(wire.encode_message(alert), NOW)
    greeted(node, "sybil", NOW)
    for i in range(1_500):
        msg = create_post(Identity.generate(), "wijk", "x" * 600, NOW - i)
        node.receive("sybil", encode_frame(Msg(wire.encode_message(msg))), NOW + i // 100)
    usage = node.store.usage()
    assert usage.used_bytes <= capacity
    assert node.store.has(alert.id)
    # An honest peer is still served afterwards.
    honest = mesh.add("B", NOW)
    mesh.nodes["A"].link_down("sybil", NOW + 20)
    mesh.connect("A", "B", NOW + 20)
    assert honest.store.has(alert.id)


def test_forged_want_and_unknown_ids_are_harmless() -> None:
    mesh = Mesh()
    node = mesh.add("A", NOW)
    greeted(node, "peer", NOW)
    out = node.receive("peer", encode_frame(Want(tuple(bytes([i]) * 16 for i in range(200)))),
                       NOW)
    assert not any(isinstance(o, Send) and o.data[1:2] == b"\x04" for o in out)


def test_sync_finishes_on_both_sides() -> None:
    mesh = Mesh()
    mesh.add("A", NOW)
    mesh.add("B", NOW)
    mesh.local("A", mesh.nodes["A"].post("wijk", "hallo", NOW)[1], NOW)
    mesh.connect("A", "B", NOW)
    assert len(mesh.of("A", SyncFinished)) == len(mesh.of("B", SyncFinished)) == 1
    # A long-lived link re-syncs on tick after the interval.
    mesh.local("A", mesh.nodes["A"].handle_timer(NOW + 1_000), NOW + 1_000)
    assert len(mesh.of("A", SyncFinished)) == len(mesh.of("B", SyncFinished)) == 2


def test_nodes_seeded_alike_still_agree_on_one_initiator() -> None:
    """Equal seeds give equal Hello nonces; the session must start anyway, on both contacts."""
    mesh = Mesh()
    a = mesh.add("A", NOW, NodeConfig(seed=5))
    b = mesh.add("B", NOW, NodeConfig(seed=5))
    mesh.local("A", a.post("wijk", "van A", NOW)[1], NOW)
    mesh.local("B", b.post("wijk", "van B", NOW)[1], NOW)
    mesh.connect("A", "B", NOW)
    assert texts(mesh, "A") == ["van A", "van B"] and texts(mesh, "B") == ["van B", "van A"]
    assert len(mesh.of("A", SyncFinished)) == len(mesh.of("B", SyncFinished)) == 1
    mesh.local("A", a.handle_timer(NOW + 1_000), NOW + 1_000)  # the re-sync draws equal nonces too
    assert len(mesh.of("A", SyncFinished)) == len(mesh.of("B", SyncFinished)) == 2


def test_equal_sets_skip_reconciliation_and_news_since_the_hello_still_crosses() -> None:
    mesh = Mesh()
    a = mesh.add("A", NOW)
    b = mesh.add("B", NOW)
    mesh.local("A", a.post("wijk", "oud", NOW)[1], NOW)
    mesh.connect("A", "B", NOW)
    mesh.disconnect("A", "B", NOW + 1)
    recons, dones = mesh.frame_count["Recon"], mesh.frame_count["Done"]
    assert recons > 0 and dones == 2
    # Next contact: both hold the same set, so the Hellos settle it.
    mesh.connect("A", "B", NOW + 10)
    assert (mesh.frame_count["Recon"], mesh.frame_count["Done"]) == (recons, dones)
    assert len(mesh.of("A", SyncFinished)) == len(mesh.of("B", SyncFinished)) == 2
    mesh.disconnect("A", "B", NOW + 11)
    # A takes in a post after sending its Hello, before B's arrives: it must still cross.
    mesh.links[("A", "B")] = mesh.links[("B", "A")] = None
    hello_a, hello_b = a.link_up("B", NOW + 20), b.link_up("A", NOW + 20)
    _, outs = a.post("wijk", "nieuw", NOW + 20)
    mesh.local("A", hello_a + outs, NOW + 20)
    mesh.local("B", hello_b, NOW + 20)
    assert texts(mesh, "B") == ["oud", "nieuw"]
    assert (mesh.frame_count["Recon"], mesh.frame_count["Done"]) == (recons, dones)


def test_frames_never_name_the_node() -> None:
    """First and repeat contacts look alike: no frame carries the node's id or keys."""
    mesh = Mesh()
    node = mesh.add("A", NOW)
    mesh.add("B", NOW)
    mesh.local("A", node.post("wijk", "hallo", NOW)[1], NOW)
    mesh.connect("A", "B", NOW)
    mesh.disconnect("A", "B", NOW + 1)
    hellos = [o.data for o in node.link_up("C", NOW + 2) if isinstance(o, Send)]
    assert hellos
    for data in hellos:
        for secret in (node.identity.node_id, node.identity.public.sign_key,
                       node.identity.public.dh_key):
            assert secret not in data


def test_a_contact_cut_mid_sync_loses_nothing_and_the_next_one_resumes() -> None:
    mesh = Mesh()
    a = mesh.add("A", NOW)
    mesh.add("B", NOW)
    authors = [Identity.generate() for _ in range(20)]
    for i in range(200):
        a.inject(wire.encode_message(create_post(authors[i % 20], "wijk", f"p{i}", NOW - i)),
                 NOW)
    mesh.connect("A", "B", NOW, budget=20_000)  # cut after ~20 kB
    got = mesh.nodes["B"].store.usage().count
    assert 0 < got < 200
    before = dict(mesh.frame_bytes)
    mesh.connect("A", "B", NOW + 60)
    assert mesh.nodes["B"].store.usage().count == 200
    second = {k: v - before.get(k, 0) for k, v in mesh.frame_bytes.items()}
    # The second contact only moves what is missing, plus a small reconciliation.
    assert mesh.frame_count["Msg"] == 200
    assert second.get("Recon", 0) + second.get("Want", 0) < 200 * 16 * 4


def test_node_on_sqlite_keeps_what_it_accepted(tmp_path: Path) -> None:
    chain = make_chain()
    path = tmp_path / "node.db"
    identity = Identity.generate()
    store = SqliteStore(path, 1 << 20)
    node = Node(identity, store, chain.trust, NOW)
    verdict, _ = node.post("wijk", "hallo", NOW)
    post_id = verdict.msg_id
    node.inject(wire.encode_message(chain.alert(seq=3)), NOW)
    store.close()
    reopened = SqliteStore(path, 1 << 20)
    again = Node(identity, reopened, chain.trust, NOW + 5)
    assert reopened.has(post_id)
    out = again.inject(wire.encode_message(chain.alert(nl_alert(identifier="x"), seq=3)),
                       NOW + 5).outputs
    assert any(isinstance(o, Rejected) and "already used" in o.reason for o in out)
    assert reopened.integrity_check() == []
    reopened.close()


@pytest.mark.parametrize("post_hops", [1, 2, 3])
def test_post_hops_scope_posts_to_that_many_contacts_from_the_author(post_hops: int) -> None:
    """Every node clamps a post's hop budget to its `post_hops`, so along a line of nodes a
    post reaches exactly `post_hops` contacts away from its author, and no further."""
    mesh = Mesh()
    names = ["n0", "n1", "n2", "n3", "n4"]
    for i, name in enumerate(names):
        mesh.add(name, NOW, NodeConfig(seed=i, post_hops=post_hops))
    mesh.local("n0", mesh.nodes["n0"].post("wijk", "hallo", NOW)[1], NOW)
    for i, (a, b) in enumerate(itertools.pairwise(names)):
        mesh.connect(a, b, NOW + 10 * i)
        mesh.disconnect(a, b, NOW + 10 * i + 5)
    reached = [n for n in names[1:] if mesh.of(n, PostReceived)]
    assert reached == names[1 : post_hops + 1]


def two_posters_greeting() -> tuple[Mesh, Send, Send]:
    """A and B, each holding a post of its own, just linked: their Hellos not yet delivered
    (the test decides what arrives, when)."""
    mesh = Mesh()
    a, b = mesh.add("A", NOW), mesh.add("B", NOW)
    mesh.local("A", a.post("wijk", "van A", NOW)[1], NOW)
    mesh.local("B", b.post("wijk", "van B", NOW)[1], NOW)
    mesh.links[("A", "B")] = mesh.links[("B", "A")] = None
    (hello_a,), (hello_b,) = a.link_up("B", NOW), b.link_up("A", NOW)
    assert isinstance(hello_a, Send) and isinstance(hello_b, Send)
    return mesh, hello_a, hello_b


def test_frames_crossing_a_restarted_session_are_stale_not_malformed() -> None:
    """A session started over (a lost frame, a re-sync) sends a new Hello that can cross the
    peer's frames of the old session on the air: those are dropped as stale, not counted as
    protocol errors, and the new session still finishes on both sides."""
    mesh, hello_a, hello_b = two_posters_greeting()
    a, b = mesh.nodes["A"], mesh.nodes["B"]
    replies = {"B": b.receive("A", hello_a.data, NOW), "A": a.receive("B", hello_b.data, NOW)}
    first = "A" if replies["A"] else "B"  # the initiator answers the Hello with a Recon
    other = "B" if first == "A" else "A"
    (recon,) = replies[first]
    assert isinstance(recon, Send)
    restart = mesh.nodes[other].handle_timer(NOW + 60)  # its session timed out: a new Hello
    assert any(isinstance(o, Send) for o in restart)
    late = mesh.nodes[other].receive(first, recon.data, NOW + 60)
    assert not any(isinstance(o, Rejected) for o in late)
    assert mesh.nodes[other].status(NOW + 60)["stale_frames"] == 1
    mesh.local(other, restart + late, NOW + 60)
    mesh.local(first, mesh.nodes[first].ready(other, NOW + 60), NOW + 60)
    mesh.local(other, mesh.nodes[other].ready(first, NOW + 60), NOW + 60)
    assert texts(mesh, "A") == ["van A", "van B"] and texts(mesh, "B") == ["van B", "van A"]
    assert mesh.of("A", SyncFinished) and mesh.of("B", SyncFinished)
    assert not mesh.of("A", Rejected) and not mesh.of("B", Rejected)


def test_dm_bookkeeping_stays_within_the_store_bound_as_dms_are_evicted_and_expire() -> None:
    """A relay's per-DM copy counts go with the DMs (evicted from a full store, expired), so a
    long outage does not grow them without bound."""
    mesh = Mesh()
    a = mesh.add("A", NOW)
    relay = mesh.add("B", NOW, capacity=8_192)  # room for about a dozen DMs
    mesh.connect("A", "B", NOW)
    for i in range(300):
        stranger = Identity.generate().public
        mesh.local("A", a.send_dm(stranger, f"bericht {i}", NOW + i)[1], NOW + i)
    status = relay.status(NOW + 300)
    assert status["accepted"]["dm"] == 300  # type: ignore[index]
    assert 0 < status["stored"] < 20  # type: ignore[operator]
    assert status["dm_bookkeeping"] <= status["stored"] + 64  # type: ignore[operator]
    later = NOW + 30 * 86_400  # every DM has expired
    relay.handle_timer(later)
    assert relay.status(later)["stored"] == 0
    assert relay.status(later)["dm_bookkeeping"] <= 64  # type: ignore[operator]


def test_a_lost_hello_restarts_the_session_at_the_first_frame_not_the_timeout() -> None:
    """On a lossy link the initiator's Hello may never arrive while its Recon does: the
    responder starts over at once (no protocol error), and the exchange completes."""
    mesh, hello_a, hello_b = two_posters_greeting()
    ha, hb = decode_frame(hello_a.data), decode_frame(hello_b.data)
    assert isinstance(ha, Hello) and isinstance(hb, Hello)
    first, other = ("A", "B") if (ha.nonce, ha.tags) > (hb.nonce, hb.tags) else ("B", "A")
    # The initiator's Hello is lost; the other one's arrives and is answered with a Recon.
    hello = hello_a if other == "A" else hello_b
    (recon,) = mesh.nodes[first].receive(other, hello.data, NOW)
    assert isinstance(recon, Send) and isinstance(decode_frame(recon.data), Recon)
    answer = mesh.nodes[other].receive(first, recon.data, NOW + 1)
    assert not any(isinstance(o, Rejected) for o in answer)
    assert [type(decode_frame(o.data)) for o in answer if isinstance(o, Send)] == [Hello]
    mesh.local(other, answer, NOW + 1)
    mesh.local(first, mesh.nodes[first].ready(other, NOW + 1), NOW + 1)
    assert texts(mesh, "A") == ["van A", "van B"] and texts(mesh, "B") == ["van B", "van A"]
    assert mesh.of("A", SyncFinished) and mesh.of("B", SyncFinished)
    assert not mesh.of("A", Rejected) and not mesh.of("B", Rejected)


@pytest.mark.parametrize("seeds", [(1, 2), (2, 1), (3, 4), (4, 3)])
def test_a_spent_post_is_never_asked_for_and_the_next_sync_is_quiet(
        seeds: tuple[int, int]) -> None:
    """§10.2: a post its holder cannot send (no hops left) is listed as held, not offered; the
    peer records it as known instead of asking, whichever side initiates, and their sets then
    agree, so the next contact spends nothing on it."""
    mesh = Mesh()
    holder = mesh.add("A", NOW, NodeConfig(seed=seeds[0]))
    lacker = mesh.add("B", NOW, NodeConfig(seed=seeds[1]))
    spent = create_post(Identity.generate(), "wijk", "al ver gereisd", NOW)
    holder.inject(wire.encode_message(spent.with_routing(wire.Routing(0, 1))), NOW)
    mesh.connect("A", "B", NOW)
    assert holder.store.has(spent.id) and not lacker.store.has(spent.id)
    assert holder.stats.wanted == holder.stats.want_refused == holder.stats.unoffered == 0
    assert mesh.frame_count["Want"] == mesh.frame_count["Msg"] == 0
    assert holder.stats.sessions == lacker.stats.sessions == 1
    mesh.disconnect("A", "B", NOW + 60)
    mesh.connect("A", "B", NOW + 120)
    again = holder.session("B")
    assert again is not None and again.quiet
    assert holder.stats.wanted == 0 and mesh.frame_count["Want"] == 0


def test_a_recon_in_a_quiet_session_is_stale_not_malformed() -> None:
    """A Recon can only belong to an earlier session once the sets were found equal (a restart
    crossing it on the air): counted as stale, never towards closing the link."""
    mesh = Mesh()
    a = mesh.add("A", NOW)
    mesh.add("B", NOW)
    mesh.connect("A", "B", NOW)  # both empty: a quiet session
    session = a.session("B")
    assert session is not None and session.quiet
    old = encode_frame(Recon(b"\x81\x01\x01"))
    out = a.receive("B", old, NOW + 1)
    assert a.stats.stale_frames == 1 and not a.stats.rejected
    assert not [o for o in out if isinstance(o, Rejected)]


def test_a_post_taken_in_between_the_hellos_of_a_quiet_session_still_goes_out() -> None:
    """Both Hellos carry the same set, so nothing is reconciled; what we stored after our
    Hello went out is news to the peer all the same, and is pushed at once."""
    mesh = Mesh()
    a = mesh.add("A", NOW)
    b = mesh.add("B", NOW)
    a.link_up("B", NOW)
    hellos = [o for o in b.link_up("A", NOW) if isinstance(o, Send)]
    posted = a.post("wijk", "tussen de hellos door", NOW)
    assert posted.verdict.msg_id is not None
    out = [o for h in hellos for o in a.receive("B", h.data, NOW + 1)]
    out += a.ready("B", NOW + 1)  # the link sent our Hello: the next burst may go
    session = a.session("B")
    assert session is not None and session.quiet
    pushed = [decode_frame(o.data) for o in out if isinstance(o, Send)]
    assert [wire.decode_message(f.data).id for f in pushed if isinstance(f, Msg)] == [
        posted.verdict.msg_id]


def test_own_dm_records_end_with_the_receipt_or_once_no_receipt_can_come() -> None:
    """What a sender keeps to recognise its receipts is bounded: gone when the receipt is in,
    or when the DM and any receipt for it must have expired."""
    mesh = Mesh()
    a, b, c = mesh.add("A", NOW), mesh.add("B", NOW), mesh.add("C", NOW)
    delivered = a.send_dm(b.identity.public, "hoi", NOW)
    mesh.local("A", delivered, NOW)
    lost = a.send_dm(c.identity.public, "ben je er?", NOW)
    mesh.local("A", lost, NOW)
    assert len(a.store.meta_keys("sent-dm:")) == 2
    mesh.connect("A", "B", NOW + 1)
    assert [e.dm_id for e in mesh.of("A", DmDelivered)] == [delivered.verdict.msg_id]
    assert a.store.meta_keys("sent-dm:") == ["sent-dm:" + lost.verdict.msg_id.hex()]
    mesh.disconnect("A", "B", NOW + 2)
    stored = a.store.get(lost.verdict.msg_id)
    assert stored is not None
    deadline = stored.expires + wire.MAX_TTL[wire.Kind.RECEIPT]
    mesh.advance(deadline - 1, start=NOW + 2)
    assert len(a.store.meta_keys("sent-dm:")) == 1  # a receipt could still come
    mesh.advance(deadline + 400)
    assert a.store.meta_keys("sent-dm:") == [] and a.get_timer() > deadline + 400


def test_an_ended_session_is_freed_at_once_without_the_cyclic_collector() -> None:
    """A session (and the snapshot of the reconciled set its reconciler holds) is freed as soon
    as its link goes down: no reference cycle leaves it to Python's cyclic collector, which
    would let every ended session's snapshot pile up between collections (72 h soak)."""
    mesh = Mesh()
    a = mesh.add("A", NOW)
    mesh.add("B", NOW)
    a.post("wijk", "water bij de kerk", NOW)
    gc.collect()
    gc.disable()
    try:
        mesh.connect("A", "B", NOW)
        ended = weakref.ref(a.session("B"))  # type: ignore[arg-type]
        assert ended() is not None
        mesh.disconnect("A", "B", NOW + 60)
        assert a.session("B") is None
        assert ended() is None
    finally:
        gc.enable()
