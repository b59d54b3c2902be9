"""A node's reconciled set follows what its store holds without reading the whole store again
(docs/protocol.md §10.2).

Driven through `Node`s on in-process links (meshnode.testing.Mesh). A DM purged by its receipt
leaves the set as a rebuild from the store would, but without one: `NodeStats.sync_rebuilds`
counts the rebuilds, which cost a read and a hash of every stored item and, where receipts
purge copies at most contacts (a replay of a city's contacts), were most of the set's cost.
"""

from __future__ import annotations

from meshnode.events import DmReceived
from meshnode.testing import Mesh

NOW = 1_790_000_000


def carried_dm() -> tuple[Mesh, bytes]:
    """A sends C a DM and B carries a copy of it; C has not met anyone yet."""
    mesh = Mesh()
    for name in "ABC":
        mesh.add(name, NOW)
    verdict, outs = mesh.nodes["A"].send_dm(mesh.nodes["C"].identity.public, "hoi", NOW)
    mesh.local("A", outs, NOW)
    mesh.connect("A", "B", NOW + 1)
    mesh.disconnect("A", "B", NOW + 2)
    assert mesh.nodes["B"].store.has(verdict.msg_id)
    return mesh, verdict.msg_id


def test_a_dm_purged_by_its_receipt_leaves_the_sync_set_without_a_rebuild() -> None:
    mesh, dm_id = carried_dm()
    relay = mesh.nodes["B"]
    rebuilds = relay.stats.sync_rebuilds
    mesh.connect("B", "C", NOW + 3)  # delivered; C's receipt purges B's copy
    mesh.disconnect("B", "C", NOW + 4)
    assert len(mesh.of("C", DmReceived)) == 1
    assert not relay.store.has(dm_id)
    mesh.connect("A", "B", NOW + 600)  # B's next Hello reads its set after the purge
    mesh.disconnect("A", "B", NOW + 601)
    assert relay.stats.sync_rebuilds == rebuilds


def test_after_the_purge_the_relay_and_the_recipient_hold_equal_sets() -> None:
    """B and C both hold just the receipt: their next contact finds equal sets and
    reconciles nothing (a set that still listed the purged DM would differ)."""
    mesh, dm_id = carried_dm()
    mesh.connect("B", "C", NOW + 3)
    mesh.disconnect("B", "C", NOW + 4)
    assert not mesh.nodes["B"].store.has(dm_id)
    assert mesh.nodes["B"].store.ids_since(0) == mesh.nodes["C"].store.ids_since(0)
    recons = mesh.frame_count["Recon"]
    mesh.connect("B", "C", NOW + 600)
    mesh.disconnect("B", "C", NOW + 601)
    assert mesh.frame_count["Recon"] == recons
