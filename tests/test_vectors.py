"""The published test vectors (tests/vectors/v1.json, quoted in docs/protocol.md).

Encoding is checked byte for byte from the vector's fields and keys; decoding field by field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode import wire
from meshnode.codec import pack
from meshnode.crypto import sealing
from meshnode.crypto.identity import Identity, PublicIdentity
from meshnode.crypto.signing import sign_body, verify_message
from meshnode.wire import Message, Routing, WireError

ROOT = Path(__file__).parent.parent
DATA = json.loads((ROOT / "tests" / "vectors" / "v1.json").read_text())
KEYS = {k: bytes.fromhex(v) for k, v in DATA["keys"].items()}
SIGNED_KINDS = ["post", "post_reply", "announce"]
PROTOCOL_DOC = (ROOT / "docs" / "protocol.md").read_text()


def person(name: str) -> Identity:
    return Identity.from_seeds(KEYS[f"{name}_sign_seed"], KEYS[f"{name}_dh_seed"])


def body_from(kind: wire.Kind, fields: dict[str, Any]) -> wire.Body:
    cls = {wire.Kind.POST: wire.PostBody, wire.Kind.ANNOUNCE: wire.AnnounceBody,
           wire.Kind.DM: wire.DmBody, wire.Kind.RECEIPT: wire.ReceiptBody}[kind]
    values = {}
    for name, value in fields.items():
        is_bytes = cls.__dataclass_fields__[name].type in ("bytes", "bytes | None")
        values[name] = bytes.fromhex(value) if is_bytes and value is not None else value
    return cls(**values)  # type: ignore[no-any-return]


def kind_of(name: str) -> wire.Kind:
    return wire.Kind[name.split("_")[0].upper()]


@pytest.mark.parametrize("name", list(DATA["vectors"]))
def test_decoding_gives_the_fields(name: str) -> None:
    v = DATA["vectors"][name]
    msg = wire.decode_message(bytes.fromhex(v["message"]))
    assert msg.kind == kind_of(name)
    assert msg.body.hex() == v["body"]
    assert msg.sig.hex() == v["sig"]
    assert msg.id.hex() == v["id"]
    assert msg.signed_bytes.hex() == v["signed_bytes"]
    assert msg.routing == Routing(**v["routing"])
    assert verify_message(msg) == body_from(msg.kind, v["fields"])


@pytest.mark.parametrize("name", SIGNED_KINDS)
def test_encoding_from_fields_is_byte_for_byte(name: str) -> None:
    v = DATA["vectors"][name]
    body = body_from(kind_of(name), v["fields"])
    msg = sign_body(body, person(v["signer"]).signing, Routing(**v["routing"]))
    assert msg.body.hex() == v["body"]
    assert msg.sig.hex() == v["sig"]  # Ed25519 signatures are deterministic
    assert wire.encode_message(msg).hex() == v["message"]


def test_dm_vector_opens_and_re_encodes() -> None:
    v = DATA["vectors"]["dm"]
    anna, bram = person("anna"), person("bram")
    msg = wire.decode_message(bytes.fromhex(v["message"]))
    opened = sealing.open_dm(bram, msg)
    assert opened.text == v["inner"]["text"]
    assert opened.sender == PublicIdentity(anna.public.sign_key, anna.public.dh_key)
    assert opened.ack_seed.hex() == v["inner"]["ack_seed"]
    body = body_from(wire.Kind.DM, v["fields"])
    assert isinstance(body, wire.DmBody)
    assert body.tag == sealing.recipient_tag(bram.public.dh_key, body.created // wire.DAY)
    # The envelope, re-signed with the one-time key from the plaintext, is byte-identical.
    ack = ed25519.Ed25519PrivateKey.from_private_bytes(opened.ack_seed)
    again = sign_body(body, ack, Routing(**v["routing"]))
    assert wire.encode_message(again).hex() == v["message"]
    # The plaintext layout: fields 1-5, then zero padding to a multiple of 64 bytes.
    plain = bytes.fromhex(v["plaintext"])
    assert len(plain) % sealing.PAD_BLOCK == 0
    sig = anna.sign(sealing.INNER_SIG_DOMAIN + pack(
        [bram.public.dh_key, body.ack_key, body.created, body.expires, opened.text]))
    pad = len(plain) - len(pack({1: anna.public.sign_key, 2: anna.public.dh_key,
                                 3: opened.text, 4: opened.ack_seed, 5: sig, 6: b""}))
    assert plain == pack({1: anna.public.sign_key, 2: anna.public.dh_key, 3: opened.text,
                          4: opened.ack_seed, 5: sig, 6: bytes(pad)})


def test_receipt_vector_matches_the_dm() -> None:
    dm = wire.decode_message(bytes.fromhex(DATA["vectors"]["dm"]["message"]))
    receipt = wire.decode_message(bytes.fromhex(DATA["vectors"]["receipt"]["message"]))
    r, d = verify_message(receipt), verify_message(dm)
    assert isinstance(r, wire.ReceiptBody) and isinstance(d, wire.DmBody)
    assert sealing.receipt_matches(r, dm.id, d)
    ack = ed25519.Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex(DATA["vectors"]["dm"]["inner"]["ack_seed"]))
    assert sign_body(r, ack).sig == receipt.sig


@pytest.mark.parametrize("case", DATA["invalid"], ids=lambda c: c["why"])
def test_invalid_vectors_are_refused_naming_the_field(case: dict[str, str]) -> None:
    with pytest.raises(WireError) as err:
        msg = wire.decode_message(bytes.fromhex(case["hex"]))
        wire.decode_body(msg.kind, msg.body)
    assert err.value.field == case["field"]


@pytest.mark.parametrize("name", list(DATA["vectors"]))
def test_protocol_doc_quotes_every_vector(name: str) -> None:
    assert DATA["vectors"][name]["message"] in PROTOCOL_DOC.replace("\n", "")


def test_reply_vector_refers_to_the_post() -> None:
    post = Message(wire.Kind.POST, bytes.fromhex(DATA["vectors"]["post"]["body"]), bytes(64))
    assert DATA["vectors"]["post_reply"]["fields"]["reply_to"] == post.id.hex()
