"""A DM dropped on its receipt is kept as a purged ghost (docs/protocol.md §10.2, "Purged DMs").

Driven through `Node`s on in-process links (meshnode.testing.Mesh). A relay that dropped its
copy when the recipient's receipt came (and the recipient itself) lists the DM as class 1
until the receipt fades, so a holder still spraying copies of the DM agrees with it on that id
and hands it no copy it would only drop; the holder learns of the delivery from the receipt
instead. Without the purged ghost the holder saw a peer lacking the DM and gave it half its
copies (22 % of DM hand-overs in a replay of a town's day went to such relays).
"""

from __future__ import annotations

from meshnode.events import DmDelivered, DmReceived
from meshnode.routing.forwarding import FADE_AFTER
from meshnode.testing import Mesh

NOW = 1_790_000_000


def delivered_through_relay() -> tuple[Mesh, bytes]:
    """Anna sends Cas a DM; Bram takes half of her copies and hands Cas the DM, whose receipt
    then drops Bram's copy. Anna still holds her half and has not heard of the delivery."""
    mesh = Mesh()
    for name in ("anna", "bram", "cas"):
        mesh.add(name, NOW)
    verdict, outs = mesh.nodes["anna"].send_dm(mesh.nodes["cas"].identity.public, "hoi", NOW)
    mesh.local("anna", outs, NOW)
    mesh.connect("anna", "bram", NOW + 1)
    mesh.disconnect("anna", "bram", NOW + 2)
    mesh.connect("bram", "cas", NOW + 3)
    mesh.disconnect("bram", "cas", NOW + 4)
    assert len(mesh.of("cas", DmReceived)) == 1
    assert not mesh.nodes["bram"].store.has(verdict.msg_id)
    assert mesh.nodes["anna"].store.has(verdict.msg_id) and not mesh.of("anna", DmDelivered)
    return mesh, verdict.msg_id


def test_a_relay_that_dropped_a_dm_on_its_receipt_is_not_handed_it_again() -> None:
    mesh, dm_id = delivered_through_relay()
    anna, bram = mesh.nodes["anna"], mesh.nodes["bram"]
    relayed, duplicates = anna.stats.relayed, bram.stats.duplicates
    mesh.connect("anna", "bram", NOW + 600)
    mesh.disconnect("anna", "bram", NOW + 601)
    assert bram.stats.duplicates == duplicates  # no copy came to be dropped
    assert anna.stats.relayed == relayed
    # ... and Anna learnt of the delivery from Bram's receipt, which dropped her copies.
    assert mesh.of("anna", DmDelivered) and not anna.store.has(dm_id)


def test_the_recipient_is_not_handed_a_dm_it_already_opened() -> None:
    mesh, dm_id = delivered_through_relay()
    cas = mesh.nodes["cas"]
    duplicates = cas.stats.duplicates
    mesh.connect("anna", "cas", NOW + 600)
    mesh.disconnect("anna", "cas", NOW + 601)
    assert cas.stats.duplicates == duplicates
    assert len(mesh.of("cas", DmReceived)) == 1
    assert mesh.of("anna", DmDelivered) and not mesh.nodes["anna"].store.has(dm_id)


def test_once_the_receipt_fades_the_relay_agrees_with_a_ghost_of_the_dm() -> None:
    """After the fade the purged ghost is an ordinary one (class 0), so it does not differ at
    every contact from the nodes that know the DM only as a ghost or a dead copy."""
    mesh, dm_id = delivered_through_relay()
    mesh.connect("anna", "bram", NOW + 600)  # Anna's copies go: she keeps a purged ghost too
    mesh.disconnect("anna", "bram", NOW + 601)
    mesh.add("dora", NOW)
    later = NOW + FADE_AFTER + 60
    mesh.advance(later)
    mesh.connect("anna", "dora", later)  # Dora learns the DM only as a ghost
    mesh.disconnect("anna", "dora", later + 1)
    mesh.connect("bram", "dora", later + 2)
    mesh.disconnect("bram", "dora", later + 3)
    recons = mesh.frame_count["Recon"]
    mesh.connect("bram", "dora", later + 600)
    mesh.disconnect("bram", "dora", later + 601)
    assert mesh.frame_count["Recon"] == recons  # equal sets: nothing to reconcile
    assert not mesh.nodes["dora"].store.has(dm_id)
