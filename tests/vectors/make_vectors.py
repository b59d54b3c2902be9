"""Write the protocol test vectors (tests/vectors/*.json) from fixed keys and times.

Run once when the wire format changes: `python tests/vectors/make_vectors.py`. The JSON files
are the source of truth that docs/protocol.md quotes and tests/test_vectors.py checks. DM
ciphertexts are randomised by HPKE, so the DM vector fixes one sealing; implementations check
that they open it and that they encode the plaintext and envelope byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import cryptography.hazmat.primitives.hpke as hpke

from meshnode import wire
from meshnode.codec import pack
from meshnode.crypto import sealing
from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_announce, create_post
from meshnode.wire import DmBody, Message, ReceiptBody, Routing

HERE = Path(__file__).parent
CREATED = 1_790_000_000  # 2026-09-21T14:13:20Z


def seed(label: str) -> bytes:
    return hashlib.sha256(b"meshnode test vector " + label.encode()).digest()


def person(name: str) -> Identity:
    return Identity.from_seeds(seed(name + " sign"), seed(name + " dh"))


def hexify(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    return value


def envelope(msg: Message) -> dict[str, Any]:
    return {
        "routing": {"hops_left": msg.routing.hops_left, "copies": msg.routing.copies},
        "body": msg.body.hex(),
        "signed_bytes": msg.signed_bytes.hex(),
        "sig": msg.sig.hex(),
        "id": msg.id.hex(),
        "message": wire.encode_message(msg).hex(),
    }


def fields_of(body: wire.Body) -> dict[str, object]:
    return {name: hexify(getattr(body, name)) for name in body.__dataclass_fields__}


def main() -> None:
    anna, bram = person("anna"), person("bram")
    keys = {
        "anna_sign_seed": seed("anna sign").hex(), "anna_dh_seed": seed("anna dh").hex(),
        "bram_sign_seed": seed("bram sign").hex(), "bram_dh_seed": seed("bram dh").hex(),
    }
    vectors: dict[str, dict[str, Any]] = {}

    post = create_post(anna, "wijk-noord", "Drinkwater bij de sporthal / water at the gym",
                       CREATED, ttl=86_400).with_routing(Routing(8, 1))
    vectors["post"] = {"signer": "anna",
                       "fields": fields_of(wire.decode_body(post.kind, post.body)),
                       **envelope(post)}

    reply = create_post(anna, "wijk-noord", "ok", CREATED + 60, ttl=3_600, reply_to=post.id)
    vectors["post_reply"] = {"signer": "anna",
                             "fields": fields_of(wire.decode_body(reply.kind, reply.body)),
                             **envelope(reply)}

    card = create_announce(bram, "Bram", CREATED, ttl=30 * 86_400)
    vectors["announce"] = {"signer": "bram",
                           "fields": fields_of(wire.decode_body(card.kind, card.body)),
                           **envelope(card)}

    dm = sealing.seal_dm(anna, bram.public, "Zijn jullie in orde? / Are you OK?", CREATED,
                         ttl=86_400).with_routing(Routing(8, 4))
    opened = sealing.open_dm(bram, dm)
    outer = wire.decode_body(dm.kind, dm.body)
    assert isinstance(outer, DmBody)
    inner = {1: anna.public.sign_key, 2: anna.public.dh_key, 3: opened.text, 4: opened.ack_seed}
    plaintext = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256,
                           hpke.AEAD.CHACHA20_POLY1305).decrypt(
        outer.sealed, bram.agreement,
        info=sealing.HPKE_INFO_DOMAIN + pack([outer.tag, outer.created, outer.expires,
                                                   outer.ack_key]))
    vectors["dm"] = {
        "signer": "one-time ack key (seed in the plaintext)",
        "sender": "anna", "recipient": "bram",
        "fields": fields_of(outer),
        "inner": {"sign_key": inner[1].hex(), "dh_key": inner[2].hex(), "text": inner[3],
                  "ack_seed": inner[4].hex()},
        "hpke_info": (sealing.HPKE_INFO_DOMAIN + pack(
            [outer.tag, outer.created, outer.expires, outer.ack_key])).hex(),
        "plaintext": plaintext.hex(),
        **envelope(dm),
    }

    receipt = sealing.create_receipt(opened, CREATED + 120, ttl=86_400)
    vectors["receipt"] = {"signer": "the DM's one-time ack key",
                          "fields": fields_of(wire.decode_body(receipt.kind, receipt.body)),
                          **envelope(receipt)}
    assert isinstance(wire.decode_body(receipt.kind, receipt.body), ReceiptBody)

    out = {"keys": keys, "vectors": vectors, "invalid": invalid_vectors(anna)}
    (HERE / "v1.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


def invalid_vectors(anna: Identity) -> list[dict[str, str]]:
    """Inputs every implementation must refuse, with the field our decoder names."""
    good = create_post(anna, "wijk-noord", "hallo", CREATED, ttl=3_600)
    body = wire.decode_body(good.kind, good.body)
    assert isinstance(body, wire.PostBody)
    cases: list[tuple[str, str, bytes]] = []

    def msg(version: int, kind: int, body_bytes: bytes, sig: bytes, routing: object) -> bytes:
        return pack([version, kind, body_bytes, sig, routing])

    ok_routing = {1: 8, 2: 1}
    cases.append(("unknown version", "message.version",
                  msg(2, 1, good.body, good.sig, ok_routing)))
    cases.append(("unknown kind", "message.kind", msg(1, 42, good.body, good.sig, ok_routing)))
    cases.append(("signature of 63 bytes", "message.sig",
                  msg(1, 1, good.body, good.sig[:63], ok_routing)))
    cases.append(("negative hops", "message.routing.hops_left",
                  msg(1, 1, good.body, good.sig, {1: -1, 2: 1})))
    cases.append(("trailing byte", "message", wire.encode_message(good) + b"\x00"))
    cases.append(("timestamp extension", "message",
                  b"\x95\x01\x01\xd6\xff" + bytes(4) + pack([good.sig, ok_routing])[1:]))
    raw_fields = {1: body.author, 2: body.channel, 3: body.created, 4: body.expires,
                  5: "hallo", 9: 1}
    cases.append(("unknown body field", "post", msg(1, 1, pack(raw_fields), good.sig,
                                                     ok_routing)))
    del raw_fields[9]
    raw_fields[4] = body.created
    cases.append(("expires not after created", "post.expires",
                  msg(1, 1, pack(raw_fields), good.sig, ok_routing)))
    return [{"why": why, "field": field, "hex": data.hex()} for why, field, data in cases]




def markdown() -> str:
    """The vectors section of docs/protocol.md, from v1.json."""
    data = json.loads((HERE / "v1.json").read_text())
    out = ["Keys (32-byte seeds: Ed25519 private key seeds and X25519 private keys):", "", "```"]
    out += [f"{k} = {v}" for k, v in data["keys"].items()]
    out.append("```")
    for name, v in data["vectors"].items():
        out += ["", f"#### `{name}`", "", "Fields:", "", "```"]
        out += [f"{k} = {json.dumps(val, ensure_ascii=False)}" for k, val in v["fields"].items()]
        if "inner" in v:
            out += [f"inner.{k} = {json.dumps(val, ensure_ascii=False)}"
                    for k, val in v["inner"].items()]
        out += [f"routing = {v['routing']}", "```", ""]
        for part in ("body", "sig", "id", "message"):
            out += [f"`{part}`:", "", "```", *wrap(v[part]), "```", ""]
        if "plaintext" in v:
            out += ["`hpke_info`:", "", "```", *wrap(v["hpke_info"]), "```", "",
                    "`plaintext` (after HPKE open):", "", "```", *wrap(v["plaintext"]), "```", ""]
    out += ["", "#### Inputs that must be refused", "",
            "| why | field named | message (hex) |", "|---|---|---|"]
    out += [f"| {c['why']} | `{c['field']}` | `{c['hex'][:48]}…` (full in v1.json) |"
            for c in data["invalid"]]
    return "\n".join(out)


def wrap(hex_text: str, width: int = 96) -> list[str]:
    return [hex_text[i : i + width] for i in range(0, len(hex_text), width)]


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--markdown"]:
        print(markdown())
    else:
        main()
