"""Requirement 12: unsigned mutable fields (hops left, spray copies) are clamped on receipt.

Attacker: a relay that rewrites the routing header of messages it passes on, to make a DM
spray over the whole mesh, a post travel forever or a receipt flood the city. Defence:
`decode_message` clamps to the protocol maxima and the intake to the node's own `max_hops`,
`post_hops`, `receipt_hops` and `spray_copies`; every hand-over then lowers hops by one and
splits the (clamped) copies.
"""

from __future__ import annotations

import msgpack
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import seal_dm
from meshnode.crypto.signing import create_post, sign_body
from meshnode.node import NodeConfig
from meshnode.routing.frames import Hello, Msg, encode_frame
from meshnode.testing import Mesh
from meshnode.wire import Message, ReceiptBody, decode_message, encode_message
from tests.attacks.peers import NOW, RESPONDER_NONCE, Bench

HUGE = 2**32 - 1
TARGET = Identity.generate()


def inflated(msg: Message) -> bytes:
    """The message with the largest routing header the wire format lets a relay write."""
    data = msgpack.packb([1, int(msg.kind), msg.body, msg.sig, {1: HUGE, 2: HUGE}],
                         use_bin_type=True)
    assert isinstance(data, bytes)
    return data


def test_inflated_copies_are_cut_to_the_nodes_own_spray_budget() -> None:
    config = NodeConfig(spray_copies=4, hop_limit=6, max_hops=10)
    mesh = Mesh()
    node = mesh.add("x", NOW, config)
    node.link_up("relay", NOW)
    node.receive("relay", encode_frame(Hello(nonce=RESPONDER_NONCE)), NOW)
    dm = seal_dm(Identity.generate(), Identity.generate().public, "help", NOW)
    node.receive("relay", encode_frame(Msg(inflated(dm))), NOW)
    assert node.store.has(dm.id)
    node.link_down("relay", NOW)
    given = []
    for i in range(40):  # the node meets 40 fresh peers, none of them the recipient
        peer = f"p{i}"
        mesh.add(peer, NOW)
        mesh.connect("x", peer, NOW + i)
        mesh.disconnect("x", peer, NOW + i)
        held = mesh.nodes[peer].store.get(dm.id)
        if held is not None:
            given.append(decode_message(held.raw).routing)
    # Binary spray from at most `spray_copies`: the node hands out at most that many copies
    # in all (it keeps one), and every copy leaves with hops below its own maximum.
    assert 1 <= sum(r.copies for r in given) <= config.spray_copies - 1
    assert all(r.hops_left <= config.max_hops - 1 for r in given)


def test_inflated_hops_are_cut_to_the_nodes_maximum() -> None:
    config = NodeConfig(max_hops=5)
    bench = Bench.make(config=config)
    bench.link("relay")
    bench.link("next")
    post = create_post(Identity.generate(), "wijk", "hallo", NOW)
    bench.send("relay", inflated(post))
    [out] = bench.msgs_to("next")
    assert decode_message(out).routing.hops_left == config.max_hops - 1
    assert decode_message(out).id == post.id  # the signed part is untouched


def test_inflated_receipt_hops_are_cut_to_the_receipt_scope() -> None:
    bench = Bench.make()
    bench.link("relay")
    bench.link("next")
    ack = ed25519.Ed25519PrivateKey.generate()
    key = ack.public_key().public_bytes_raw()
    receipt = sign_body(ReceiptBody(bytes(16), key, NOW, NOW + 86_400), ack)
    bench.send("relay", inflated(receipt))
    [out] = bench.msgs_to("next")
    assert decode_message(out).routing.hops_left == NodeConfig().receipt_hops - 1


def test_a_message_out_of_hops_goes_no_further() -> None:
    bench = Bench.make()
    bench.link("relay")
    bench.link("next")
    post = create_post(Identity.generate(), "wijk", "hallo", NOW)
    bench.send("relay", msgpack.packb([1, 1, post.body, post.sig, {1: 0, 2: 1}],
                                      use_bin_type=True))
    assert bench.node.store.has(post.id)  # kept and shown here
    assert bench.msgs_to("next") == []  # but not passed on
    bench.link("later", NOW + 10)
    assert bench.msgs_to("later") == []


def test_encoded_messages_never_carry_more_than_the_protocol_maxima() -> None:
    post = create_post(Identity.generate(), "wijk", "hallo", NOW)
    routing = decode_message(inflated(post)).routing
    assert (routing.hops_left, routing.copies) == (32, 64)
    assert decode_message(encode_message(decode_message(inflated(post)))).routing == routing


@settings(max_examples=60, deadline=None)
@given(hops=st.integers(0, HUGE), copies=st.integers(1, HUGE))
def test_any_routing_header_leaves_within_the_nodes_budget(hops: int, copies: int) -> None:
    config = NodeConfig(spray_copies=8, max_hops=12)
    bench = Bench.make(config=config)
    bench.link("relay")
    bench.link("next")
    dm = seal_dm(Identity.generate(), TARGET.public, "x", NOW)
    data = msgpack.packb([1, int(dm.kind), dm.body, dm.sig, {1: hops, 2: copies}],
                         use_bin_type=True)
    bench.send("relay", data)
    for out in bench.msgs_to("next"):
        routing = decode_message(out).routing
        assert routing.hops_left == min(hops, config.max_hops) - 1
        assert routing.copies <= config.spray_copies // 2
    stuck = min(hops, config.max_hops) == 0 or min(copies, config.spray_copies) == 1
    assert (bench.msgs_to("next") == []) == stuck

