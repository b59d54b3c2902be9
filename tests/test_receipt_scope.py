"""Receipts follow their DM's copies instead of flooding the mesh (docs/protocol.md §4.4).

A receipt starts at the DM's recipient with `NodeConfig.receipt_hops`; wherever it removes a
held copy of its DM it goes on with that budget again. So it reaches every node that carried
the DM (they need it to drop their copies, the sender to learn of the delivery) and a few
contacts around each, and no further: stored messages per node no longer grow with the city.
"""

from __future__ import annotations

import itertools

from meshnode.events import DmDelivered, DmReceived
from meshnode.node import Node, NodeConfig
from meshnode.testing import Mesh
from meshnode.wire import Kind

NOW = 1_790_000_000
HOPS = NodeConfig().receipt_hops


def receipt_of(node: Node) -> bytes:
    [receipt] = node.store.by_kind(int(Kind.RECEIPT))
    return receipt.id


def walk(mesh: Mesh, names: list[str], t: int) -> int:
    """Contacts one after the other along `names`, each link closed before the next opens."""
    for x, y in itertools.pairwise(names):
        t += 600
        mesh.connect(x, y, t)
        mesh.disconnect(x, y, t + 60)
    return t


def test_a_receipt_travels_receipt_hops_contacts_from_its_recipient_and_no_further() -> None:
    mesh = Mesh()
    anna, bram = mesh.add("anna", NOW), mesh.add("bram", NOW)
    chain = [f"r{i}" for i in range(HOPS + 3)]  # bystanders that never see the DM
    for name in chain:
        mesh.add(name, NOW)
    mesh.local("anna", anna.send_dm(bram.identity.public, "hoi", NOW)[1], NOW)
    walk(mesh, ["anna", "bram"], NOW)
    assert mesh.of("bram", DmReceived) and mesh.of("anna", DmDelivered)
    receipt = receipt_of(bram)
    walk(mesh, ["bram", *chain], NOW + 1_000)
    held = [mesh.nodes[name].store.has(receipt) for name in chain]
    assert held == [True] * HOPS + [False] * (len(chain) - HOPS)


def test_where_a_receipt_removes_a_copy_of_its_dm_it_spreads_again() -> None:
    mesh = Mesh()
    anna, bram, carrier = mesh.add("anna", NOW), mesh.add("bram", NOW), mesh.add("carrier", NOW)
    before = [f"r{i}" for i in range(HOPS - 1)]  # the receipt reaches the carrier at 0 hops
    after = [f"s{i}" for i in range(HOPS + 2)]
    for name in before + after:
        mesh.add(name, NOW)
    dm_id = anna.send_dm(bram.identity.public, "hoi", NOW)
    mesh.local("anna", dm_id[1], NOW)
    t = walk(mesh, ["anna", "carrier"], NOW)  # the carrier takes copies of the DM
    assert carrier.store.has(dm_id[0].msg_id)
    t = walk(mesh, ["anna", "bram"], t)  # delivered
    receipt = receipt_of(bram)
    walk(mesh, ["bram", *before, "carrier", *after], t)
    assert not carrier.store.has(dm_id[0].msg_id)  # the receipt removed the carrier's copy
    assert all(mesh.nodes[name].store.has(receipt) for name in before)
    # ... and went on from the carrier with its full budget again.
    held = [mesh.nodes[name].store.has(receipt) for name in after]
    assert held == [True] * HOPS + [False] * (len(after) - HOPS)
