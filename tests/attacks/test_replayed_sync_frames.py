"""Replayed sync frames (requirements 5 and 11): a recorded session, played back to a node
that took part in it, changes nothing there and makes it relay nothing to anyone else.

Attacker: a strong radio that records a whole sync (BLE GATT traffic is not encrypted) and
plays it back later, to one of the two nodes or to another. Defence: messages are identified
by the hash of their signed bytes; `Node._accept` drops what the store holds or its seen-memory
remembers (DMs delivered or purged by receipts, superseded alerts) before any other work; the
sync frames carry no authority of their own (a replayed `Hello`, `Recon` or `Want` only makes
the node offer what it holds, to the replayer).
"""

from __future__ import annotations

from meshnode.events import Close, Rejected, Send, SyncFinished
from meshnode.node import Node
from meshnode.routing.frames import Msg, decode_frame
from meshnode.testing import Mesh
from meshnode.wire import encode_message
from tests.attacks.peers import NOW, Bench, recording
from tests.crypto.chain import make_chain


def snapshot(node: Node) -> tuple[object, ...]:
    usage = node.store.usage()
    ids = sorted(i for _, i in node.store.ids_since(0))
    return usage.count, usage.used_bytes, tuple(ids), dict(node.stats.accepted)


def test_a_recorded_session_replayed_changes_nothing_and_is_not_relayed() -> None:
    chain = make_chain()
    mesh = Mesh(trust=chain.trust)
    anna = recording(chain.trust)
    mesh.nodes["anna"] = anna
    bram = mesh.add("bram", NOW)
    mesh.add("carla", NOW)
    mesh.local("bram", bram.inject(encode_message(chain.alert()), NOW), NOW)
    for i in range(20):
        mesh.local("bram", bram.post("wijk", f"bericht {i}", NOW + i)[1], NOW + i)
    _, outs = bram.send_dm(anna.identity.public, "alles goed?", NOW + 30)
    mesh.local("bram", outs, NOW + 30)
    mesh.connect("anna", "bram", NOW + 60)
    mesh.disconnect("anna", "bram", NOW + 61)
    recorded = [data for link, data in anna.heard if link == "bram"]
    assert sum(isinstance(decode_frame(d), Msg) for d in recorded) >= 22
    mesh.connect("anna", "carla", NOW + 100)  # carla is up to date and stays linked
    before = snapshot(anna)
    events_before = len(mesh.events["anna"])

    bench = Bench(anna)
    anna.link_up("replayer", NOW + 200)
    for data in recorded:
        bench.frame("replayer", data, NOW + 200)
    after = snapshot(anna)
    assert after == before
    new = [e for e in bench.outputs if not isinstance(e, Send | Close)]
    assert not [e for e in new if not isinstance(e, Rejected | SyncFinished)]
    assert len(mesh.events["anna"]) == events_before
    # Nothing went to carla: the replay triggered no relaying.
    assert not [o for o in bench.outputs if isinstance(o, Send) and o.link == "carla"]
    # The DM was opened once, in the real session, and not again (no event above).
    assert sum(1 for e in mesh.events["anna"] if type(e).__name__ == "DmReceived") == 1
    assert anna.stats.duplicates >= 22


def test_a_replayed_dm_gets_no_second_receipt_anywhere() -> None:
    """Replaying a delivered DM to its recipient, or a purged one to a relay, is a no-op."""
    mesh = Mesh()
    anna, bram, relay = (mesh.add(n, NOW) for n in ("anna", "bram", "relay"))
    verdict, outs = anna.send_dm(bram.identity.public, "hoi", NOW)
    dm_id = verdict.msg_id
    mesh.local("anna", outs, NOW)
    raw = anna.store.get(dm_id)
    assert raw is not None
    mesh.connect("anna", "relay", NOW + 10)
    mesh.disconnect("anna", "relay", NOW + 11)
    mesh.connect("relay", "bram", NOW + 20)
    mesh.disconnect("relay", "bram", NOW + 21)
    assert not relay.store.has(dm_id)  # purged by Bram's receipt
    for node in (bram, relay):
        bench = Bench(node)
        bench.link("replayer", NOW + 30)
        before = snapshot(node)
        out = bench.send("replayer", raw.raw, NOW + 30)
        assert snapshot(node) == before
        assert not [o for o in out if not isinstance(o, Send)]
    assert sum(type(e).__name__ == "DmReceived" for e in mesh.events["bram"]) == 1
