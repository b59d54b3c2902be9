"""The published UDP link vectors (tests/vectors/link_v2.json, quoted in docs/protocol.md §13):
every datagram byte for byte, every refused datagram refused naming its field, and the
recorded exchange replayed against the rules of §13."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from meshnode.transport.ble_profile import (
    PeerToken,
    advert_size,
    advertising_data,
    decode_info,
    parse_service_data,
    parse_token_value,
    uuid_advert_size,
)
from meshnode.transport.ble_token import advert_token, epoch_of
from meshnode.transport.framing import Reassembler
from meshnode.transport.udpwire import (
    NO_CID,
    DatagramError,
    cookie_input,
    decode,
    encode,
    make_cookie,
)
from tests.vectors.make_link_vectors import (
    BEGIN,
    BLE_BEGIN,
    BLE_END,
    END,
    ble_markdown,
    build,
    datagram,
    json_text,
    markdown,
)

ROOT = Path(__file__).parent.parent
DATA = json.loads((ROOT / "tests" / "vectors" / "link_v2.json").read_text())
EXCHANGE: list[dict[str, Any]] = DATA["exchange"]


@pytest.mark.parametrize("vector", DATA["datagrams"], ids=lambda v: v["name"])
def test_each_datagram_encodes_from_its_fields_byte_for_byte(vector: dict[str, Any]) -> None:
    assert encode(datagram(vector)).hex() == vector["hex"]
    assert decode(bytes.fromhex(vector["hex"])) == datagram(vector)


@pytest.mark.parametrize("vector", DATA["refused"], ids=lambda v: v["name"])
def test_each_refused_datagram_is_refused_naming_the_field(vector: dict[str, str]) -> None:
    with pytest.raises(DatagramError) as info:
        decode(bytes.fromhex(vector["hex"]))
    assert info.value.field == vector["field"]


@pytest.mark.parametrize("case", DATA["cookies"]["cases"], ids=lambda c: c["name"])
def test_each_cookie_vector_is_the_mac_of_its_documented_input(case: dict[str, Any]) -> None:
    c = DATA["cookies"]
    secret, initiator = bytes.fromhex(c["secret"]), bytes.fromhex(c["initiator"])
    data = cookie_input(c["period"], case["host"], case["port"], initiator)
    assert data.hex() == case["input"]
    assert len(data) == (22 if case["host"].removeprefix("::ffff:").count(".") == 3 else 34)
    assert make_cookie(secret, c["period"], case["host"], case["port"], initiator).hex() == \
        case["cookie"]
    assert hmac.new(secret, data, hashlib.sha256).hexdigest()[:32] == case["cookie"]


def test_an_ipv4_mapped_source_gets_the_ipv4_cookie_and_ipv6_ones_differ() -> None:
    by_host = {c["host"]: c["cookie"] for c in DATA["cookies"]["cases"]}
    assert by_host["::ffff:192.168.1.20"] == by_host["192.168.1.20"]
    assert len(set(by_host.values())) == len(by_host) - 1
    [challenge] = [d for d in DATA["datagrams"] if d["name"] == "challenge_ipv6"]
    assert challenge["cookie"] == by_host["fd00::20"]


def test_the_recorded_exchange_decodes_and_reencodes_exactly() -> None:
    for entry in EXCHANGE:
        assert encode(datagram(entry)).hex() == entry["hex"]
        assert decode(bytes.fromhex(entry["hex"])) == datagram(entry)


def test_the_recorded_challenge_carries_the_recommended_cookie() -> None:
    rec = DATA["recording"]
    host, port = rec["initiator_address"]
    probe, challenge = EXCHANGE[:2]
    assert challenge["cookie"] == make_cookie(bytes.fromhex(rec["responder_secret"]),
                                              rec["period"], host, port,
                                              bytes.fromhex(probe["initiator"])).hex()


def test_regenerating_the_vectors_writes_the_stored_file_byte_for_byte() -> None:
    """make_link_vectors.py is reproducible: the recorded link too (seeded entropy, a virtual
    clock, a relay at a fixed address), so a regeneration changes the file only when the
    link's behaviour changed."""
    stored = (ROOT / "tests" / "vectors" / "link_v2.json").read_text()
    assert json_text(build()) == stored


def test_the_recorded_exchange_follows_the_handshake() -> None:
    kinds = [(e["from"], e["type"]) for e in EXCHANGE[:4]]
    assert kinds == [("A", "PROBE"), ("B", "CHALLENGE"), ("A", "CONNECT"), ("B", "ACCEPT")]
    probe, challenge, connect, accept = EXCHANGE[:4]
    ci, cr = probe["initiator"], accept["responder"]
    assert probe["cid"] == connect["cid"] == NO_CID.hex()
    assert challenge["cid"] == accept["cid"] == connect["initiator"] == ci
    assert connect["cookie"] == challenge["cookie"] and ci != cr
    for entry in EXCHANGE[4:]:
        assert entry["cid"] == (cr if entry["from"] == "A" else ci), entry
    assert EXCHANGE[-1]["from"] == "A" and EXCHANGE[-1]["type"] == "CLOSE"


def _reassemble(fragments: list[bytes]) -> list[bytes]:
    reassembler = Reassembler(ordered=True)
    return [frame for fragment in fragments for frame in reassembler.feed(fragment, 0.0)]


def test_the_recorded_exchange_delivers_the_frames_and_acknowledges_them() -> None:
    frames: dict[str, list[bytes]] = {"A": [], "B": []}
    sent = {"A": 0, "B": 0}
    for entry in EXCHANGE:
        side = entry["from"]
        if entry["type"] == "DATA":
            assert entry["seq"] == sent[side]  # numbered from 0, +1 (no loss on loopback)
            sent[side] += 1
            frames[side] += [bytes.fromhex(f) for f in entry["fragments"]]
        if entry["type"] == "ACK":
            other = "B" if side == "A" else "A"
            assert entry["next"] <= sent[other] < entry["limit"] + 1
    reassembled = {side: _reassemble(fragments) for side, fragments in frames.items()}
    assert reassembled["A"] == [b"first frame", bytes(i % 251 for i in range(1500)), b"third"]
    assert reassembled["B"] == [b"a reply"]
    # One datagram carried the end of the long frame and the whole third frame.
    assert any(len(e.get("fragments", [])) > 1 for e in EXCHANGE)


def test_the_ble_vectors_hold_byte_for_byte() -> None:
    ble = DATA["ble"]
    secret, h = bytes.fromhex(ble["secret"]), bytes.fromhex
    assert epoch_of(ble["unix_time"]) == ble["epoch"]
    token = advert_token(secret, ble["epoch"])
    assert token.hex() == ble["token"]
    service_data_advert, uuid_advert = h(ble["advert_service_data"]), h(ble["advert_uuid"])
    assert service_data_advert == advertising_data("service-data", token)
    assert uuid_advert == advertising_data("uuid", token)
    assert len(service_data_advert) == advert_size() and len(uuid_advert) == uuid_advert_size()
    assert parse_service_data(service_data_advert[-9:]) == token
    assert token not in uuid_advert
    assert parse_token_value(h(ble["token_value"])) == PeerToken(token, central=True)
    assert parse_token_value(h(ble["token_value_central_limited"])) == PeerToken(
        token, central=False)
    assert decode_info(h(ble["info"])).max_frame == 8_256


def test_the_protocol_document_quotes_the_vectors() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    quoted = text.split(BEGIN)[1].split(END)[0].strip()
    assert quoted == markdown(DATA)
    assert text.split(BLE_BEGIN)[1].split(BLE_END)[0].strip() == ble_markdown(DATA["ble"])
