"""A root rotation the node followed stays followed: after its certificate expired and left the
store, and the node restarted from that store (a real SQLite file)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode import wire
from meshnode.alerts.examples import example_nl_alert
from meshnode.crypto.authority import rotate_root
from meshnode.crypto.identity import Identity, node_id
from meshnode.events import Refusal
from meshnode.node import Node
from meshnode.store.sqlite import SqliteStore
from tests.crypto.chain import DAY, NOW, Chain, make_chain

LATER = NOW + 3 * DAY  # the rotations below expired a day before


def _id(key: ed25519.Ed25519PrivateKey) -> bytes:
    return node_id(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                 serialization.PublicFormat.Raw))


def _alert_under(chain: Chain, root: ed25519.Ed25519PrivateKey, serial: int) -> bytes:
    """An alert sent LATER by an issuer that `root` certified LATER, numbered `serial`: the
    certificates share the issuer id, so a sequence number used twice would be refused as a
    replay whatever its root."""
    moved = dataclasses.replace(chain, root=root).with_cert(
        serial=serial, not_before=LATER - 60, not_after=LATER + DAY)
    alert = dataclasses.replace(example_nl_alert(LATER, lifetime=6 * 3600),
                                identifier=f"nl.vrr.{serial}")
    return wire.encode_message(moved.alert(alert, seq=serial))


def _restart_after_expiry(tmp_path: Path, chain: Chain, rotations: list[bytes]) -> Node:
    path = tmp_path / "node.db"
    identity = Identity.generate()
    store = SqliteStore(path, 1 << 20)
    node = Node(identity, store, chain.trust, NOW)
    for rotation in rotations:
        assert node.inject(rotation, NOW).verdict.accepted
    node.handle_timer(LATER)  # the rotation certificates expire and leave the store
    assert not any(store.has(wire.decode_message(r).id) for r in rotations)
    store.close()
    return Node(identity, SqliteStore(path, 1 << 20), chain.trust, LATER)


def test_the_new_root_is_still_trusted_after_its_rotation_expired_and_a_restart(
        tmp_path: Path) -> None:
    chain = make_chain()
    new = ed25519.Ed25519PrivateKey.generate()
    rotation = rotate_root(chain.root, new, "Root 2027", 1, NOW, NOW + 2 * DAY)
    node = _restart_after_expiry(tmp_path, chain, [wire.encode_message(rotation)])
    assert node.trust.root(_id(new)) is not None
    assert node.inject(_alert_under(chain, new, 19), LATER).verdict.accepted
    # The old root stays retired from the rotation on.
    verdict = node.inject(_alert_under(chain, chain.root, 20), LATER).verdict
    assert verdict.refusal is Refusal.ALERT and "was retired" in verdict.detail, verdict


def test_a_chain_of_rotations_is_followed_again_link_by_link(tmp_path: Path) -> None:
    chain = make_chain()
    second, third = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    rotations = [rotate_root(chain.root, second, "Root 2027", 1, NOW, NOW + 2 * DAY),
                 rotate_root(second, third, "Root 2028", 2, NOW, NOW + 2 * DAY)]
    # Both took effect at the same second: kept in any order, followed link by link.
    node = _restart_after_expiry(tmp_path, chain, [wire.encode_message(r) for r in rotations])
    assert node.trust.root(_id(third)) is not None
    assert node.inject(_alert_under(chain, third, 21), LATER).verdict.accepted
