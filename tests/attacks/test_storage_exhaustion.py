"""Filling storage and flooding (docs/design.md §3, spam and flooding): one author, one peer,
and many fresh identities (Sybil) against one node.

Attacker: a modified node or app that generates valid, signed messages as fast as it can, under
one key or under a fresh key per message. Defences: a per-author quota by creation time
(`AuthorQuota`), token buckets per peer and for all network posts together (`TokenBucket`,
`Node._accept`), and a byte-bounded store whose eviction takes expired messages first, then
lowest priority and oldest, and never a pinned (valid) alert, certificate or revocation
(`meshnode.store.base.plan_eviction`). What they do not give: see docs/security.md (a Sybil
flood can still push honest posts and DMs out of a relay's store).
"""

from __future__ import annotations

import dataclasses

from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.crypto.authority import Reason, create_revocation
from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import seal_dm
from meshnode.crypto.signing import create_announce, create_post, sign_body
from meshnode.events import Rejected
from meshnode.node import NodeConfig
from meshnode.routing.limits import Rate
from meshnode.testing import Mesh
from meshnode.wire import DAY, Kind, ReceiptBody, encode_message
from tests.attacks.peers import NOW, Bench
from tests.crypto.chain import make_chain, nl_alert

TARGET = Identity.generate().public


def rejected(bench: Bench, prefix: str) -> int:
    return sum(isinstance(o, Rejected) and o.reason.startswith(prefix) for o in bench.outputs)


def test_one_author_is_held_to_its_hourly_quota_wherever_the_flood_arrives() -> None:
    bench = Bench.make()
    bench.link("a")
    bench.link("b")
    quota = NodeConfig().author_posts_per_hour
    spammer = Identity.generate()
    for i in range(5 * quota):
        bench.send("ab"[i % 2], create_post(spammer, "wijk", f"koop nu {i}", NOW - i))
    assert bench.node.store.usage().count == quota
    assert rejected(bench, "quota") == 4 * quota
    # Another author is not affected.
    bench.send("a", create_post(Identity.generate(), "wijk", "echt nieuws", NOW))
    assert bench.node.store.usage().count == quota + 1


def test_one_peer_is_held_to_its_token_bucket_and_others_are_not() -> None:
    rate = Rate(10.0, 100.0)
    bench = Bench.make(config=NodeConfig(peer_rate=rate))
    bench.link("flood")
    bench.link("honest")
    # To many recipients: DMs to one recipient have a quota of their own (per hour).
    dms = [seal_dm(Identity.generate(), Identity.generate().public, f"{i}", NOW)
           for i in range(400)]
    for msg in dms[:250]:
        bench.send("flood", msg, NOW)
    # `link` spent 0 tokens on messages; the Hello costs 10.
    burst = int(rate.burst) - 10
    assert bench.node.store.usage().count == burst
    for msg in dms[250:350]:
        bench.send("flood", msg, NOW + 5)
    assert bench.node.store.usage().count == burst + int(5 * rate.per_second)
    assert rejected(bench, "rate: peer") == 350 - burst - int(5 * rate.per_second)
    for msg in dms[350:]:
        bench.send("honest", msg, NOW + 5)
    assert all(bench.node.store.has(m.id) for m in dms[350:])


def test_sybil_posts_share_one_bucket_for_the_whole_network() -> None:
    """Fresh identities escape the per-author quota, not the node's budget for all posts."""
    posts = Rate(5.0, 50.0)
    bench = Bench.make(config=NodeConfig(post_rate=posts))
    for peer in ("s1", "s2", "s3"):
        bench.link(peer)
    for i in range(120):
        bench.send(f"s{1 + i % 3}", create_post(Identity.generate(), "wijk", f"{i}", NOW), NOW)
    assert bench.node.store.usage().count == int(posts.burst)
    assert rejected(bench, "rate: posts") == 120 - int(posts.burst)


def test_a_sybil_flood_stays_in_the_store_bound_and_never_evicts_authority_messages() -> None:
    chain = make_chain()
    capacity = 60_000
    fast = Rate(1e6, 1e6)
    bench = Bench.make(trust=chain.trust, capacity=capacity,
                       config=NodeConfig(peer_rate=fast, post_rate=fast))
    alert = chain.alert()
    revoke = create_revocation(chain.root, [4242], NOW)
    for msg in (chain.cert_msg, revoke, alert):
        bench.node.inject(encode_message(msg), NOW)
    honest_posts = [create_post(Identity.generate(), "wijk", f"post {i}", NOW - 100 + i)
                    for i in range(10)]
    honest_dms = [seal_dm(Identity.generate(), TARGET, f"dm {i}", NOW - 50 + i)
                  for i in range(10)]
    bench.link("sybil")
    for msg in [*honest_posts, *honest_dms]:
        bench.send("sybil", msg)
    store = bench.node.store
    first_dm_lost_with_posts_left = False
    for i in range(120):
        ack = ed25519.Ed25519PrivateKey.generate()
        flood = [
            create_post(Identity.generate(), "wijk", "x" * 900, NOW),
            create_announce(Identity.generate(), f"Sybil {i}", NOW),
            seal_dm(Identity.generate(), TARGET, "y" * 2_000, NOW),
            sign_body(ReceiptBody(bytes(16), ack.public_key().public_bytes_raw(), NOW,
                                  NOW + DAY), ack),
        ]
        for msg in flood:
            bench.send("sybil", msg, NOW + 1)
            assert store.usage().used_bytes <= capacity
            dms_lost = any(not store.has(m.id) for m in honest_dms)
            posts_left = any(store.has(m.id) for m in honest_posts)
            first_dm_lost_with_posts_left |= dms_lost and posts_left
    assert not first_dm_lost_with_posts_left  # lowest priority goes first
    assert not any(store.has(m.id) for m in honest_posts)
    for msg in (chain.cert_msg, revoke, alert):
        assert store.has(msg.id)
    # The node still serves an honest neighbour that arrives after the flood.
    mesh = Mesh(trust=chain.trust)
    mesh.nodes["x"] = bench.node
    bench.node.link_down("sybil", NOW + 2)
    mesh.add("late", NOW + 2)
    mesh.connect("x", "late", NOW + 2)
    assert mesh.nodes["late"].store.has(alert.id)
    assert store.usage().by_kind[int(Kind.ALERT)] == 1




def test_a_stolen_issuer_key_cannot_flush_other_alerts_and_a_revocation_ends_its_flood() -> None:
    """Attacker with a compromised issuer key: a stream of valid, ever newer alerts.

    Defence: valid alerts are pinned in the store, so newer alerts never evict older ones (a
    full store refuses the newcomer instead); the root's revocation withdraws every alert of
    the stolen certificate at once and frees the space.
    """
    region = make_chain()
    stolen = dataclasses.replace(
        region.with_cert(serial=66, issuer_id="nl-vr18", senders=("alert@vr18.example",)),
        issuer=region.issuer)
    fast = Rate(1e6, 1e6)
    capacity = 60_000
    bench = Bench.make(trust=region.trust, capacity=capacity,
                       config=NodeConfig(peer_rate=fast, post_rate=fast))
    genuine = region.alert(seq=1)
    bench.node.inject(encode_message(genuine), NOW)
    bench.link("thief")
    store = bench.node.store
    for i in range(40):
        flood = nl_alert(identifier=f"nep-{i}", sender="alert@vr18.example", sent=NOW + i)
        bench.send("thief", stolen.alert(flood, seq=1 + i), NOW + 60 + i)
        assert store.usage().used_bytes <= capacity
        assert store.has(genuine.id)
    assert rejected(bench, "store") > 0
    revoke = create_revocation(region.root, [66], NOW + 200)
    bench.node.inject(encode_message(revoke), NOW + 200)
    assert store.usage().by_kind == {int(Kind.ALERT): 1, int(Kind.REVOKE): 1}
    # The flood goes on with the stolen key, and every alert is refused for the revocation.
    for i in range(40, 43):
        flood = nl_alert(identifier=f"nep-{i}", sender="alert@vr18.example", sent=NOW + 190)
        late = stolen.alert(flood, seq=1 + i)
        out = bench.send("thief", late, NOW + 200 + i)
        assert [o.rejection.reason for o in out if isinstance(o, Rejected)
                and o.rejection is not None] == [Reason.REVOKED]
        assert not store.has(late.id)
    update = region.alert(nl_alert(identifier="next", sent=NOW + 201), seq=2)
    bench.node.inject(encode_message(update), NOW + 201)
    assert store.has(update.id)
