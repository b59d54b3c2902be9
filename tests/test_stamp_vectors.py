"""The proof-of-work stamp vectors (tests/vectors/stamps.json, quoted in docs/protocol.md §15),
byte for byte: each stamp's digest and worth, each stamped post's encoding, the verdict of a
node that requires stamps, and the malformed stamps every node refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from meshnode.codec import WireError
from meshnode.crypto.signing import create_post
from meshnode.crypto.stamp import STAMP_BITS, STAMP_DOMAIN, mint_stamp, stamp_digest, stamp_worth
from meshnode.events import Refusal, Rejected
from meshnode.node import NodeConfig
from meshnode.wire import Routing, decode_body, decode_message, encode_message
from tests.attacks.peers import Bench
from tests.vectors.make_stamp_vectors import BEGIN, END, markdown
from tests.vectors.make_vectors import person

ROOT = Path(__file__).parent.parent

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "stamps.json").read_text())


def test_the_vectors_use_this_implementations_domain_and_work() -> None:
    assert bytes.fromhex(VECTORS["domain"]) == STAMP_DOMAIN
    assert VECTORS["bits"] == STAMP_BITS


@pytest.mark.parametrize("case", VECTORS["stamps"], ids=lambda c: c["why"])
def test_each_stamp_hashes_and_is_worth_what_the_vector_says(case: dict[str, Any]) -> None:
    key, nonce = bytes.fromhex(case["key"]), bytes.fromhex(case["nonce"])
    assert stamp_digest(key, case["day"], nonce).hex() == case["digest"]
    assert stamp_worth(key, case["day"], nonce) == case["worth"]
    assert (case["worth"] >= STAMP_BITS) is case["accepted"]


def test_minting_finds_the_valid_vector_stamp_first() -> None:
    valid = VECTORS["stamps"][0]
    assert mint_stamp(bytes.fromhex(valid["key"]), valid["day"]).hex() == valid["nonce"]


@pytest.mark.parametrize("case", VECTORS["messages"], ids=lambda c: c["why"])
def test_each_post_encodes_byte_for_byte_and_gets_its_verdict(case: dict[str, Any]) -> None:
    stamp = None if case["stamp"] is None else bytes.fromhex(case["stamp"])
    msg = create_post(person(VECTORS["signer"]), case["channel"], case["text"], case["created"],
                      ttl=case["expires"] - case["created"], stamp=stamp)
    assert msg.body.hex() == case["body"] and msg.sig.hex() == case["sig"]
    assert msg.id.hex() == case["id"]
    assert encode_message(msg.with_routing(Routing(8, 1))).hex() == case["message"]
    bench = Bench.make(VECTORS["now"], config=NodeConfig(require_stamps=True))
    bench.link("peer", VECTORS["now"])
    verdicts = [o for o in bench.send("peer", bytes.fromhex(case["message"]), VECTORS["now"])
                if isinstance(o, Rejected)]
    held = bench.node.held.has(msg.id)
    if case["refusal"] is None:
        assert held and not verdicts
    else:
        assert not held
        assert [v.refusal for v in verdicts] == [Refusal(case["refusal"])]


@pytest.mark.parametrize("case", VECTORS["malformed"], ids=lambda c: c["why"])
@pytest.mark.parametrize("require", [True, False], ids=["requiring", "not requiring"])
def test_a_malformed_stamp_is_refused_naming_the_field_by_every_node(
        case: dict[str, Any], require: bool) -> None:
    raw = bytes.fromhex(case["message"])
    msg = decode_message(raw)
    with pytest.raises(WireError) as caught:
        decode_body(msg.kind, msg.body)
    assert caught.value.field == case["field"]
    bench = Bench.make(VECTORS["now"], config=NodeConfig(require_stamps=require))
    bench.link("peer", VECTORS["now"])
    bench.link("watcher", VECTORS["now"], nonce=b"\x00" * 8)
    refusals = [o.refusal for o in bench.send("peer", raw, VECTORS["now"])
                if isinstance(o, Rejected)]
    assert refusals == [Refusal.INVALID]
    assert not bench.node.held.has(msg.id)
    assert all(msg.body not in data for data in bench.msgs_to("watcher"))


def test_the_protocol_document_quotes_the_vectors() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    assert text.split(BEGIN)[1].split(END)[0].strip() == markdown(VECTORS)
