"""What the hub believes, bridges and relays of what phones send (sans-IO, time passed in)."""

from __future__ import annotations

from dataclasses import replace

from meshnode.crypto.identity import Identity
from meshnode.transport.bitchat.codec import (
    BROADCAST,
    MsgType,
    Packet,
    decode_packet,
    encode_packet,
)
from meshnode.transport.bitchat.identity import BitchatIdentity
from meshnode.transport.bitchat.inbound import MESSAGE_MAX_AGE, Listener
from meshnode.transport.bitchat.payloads import Announcement, Fragment, encode_announcement
from meshnode.transport.bitchat.payloads import encode_fragment as frag

NOW = 1_790_000_000.0
NOW_MS = int(NOW * 1000)


def people() -> tuple[Listener, BitchatIdentity, BitchatIdentity]:
    hub = BitchatIdentity(Identity.generate(), "steunpunt")
    anna = BitchatIdentity(Identity.generate(), "anna")
    return Listener(hub.peer_id), hub, anna


def fragments(packet: Packet, size: int) -> list[bytes]:
    """`packet` fragmented as bitchat does: the unpadded bytes in FRAGMENT packets."""
    whole = encode_packet(packet, padded=False)
    chunks = [whole[i:i + size] for i in range(0, len(whole), size)]
    return [encode_packet(Packet(type=MsgType.FRAGMENT, ttl=packet.ttl,
                                 timestamp=packet.timestamp, sender=packet.sender,
                                 payload=frag(Fragment(b"F" * 8, i, len(chunks),
                                                       packet.type, c))))
            for i, c in enumerate(chunks)]


def test_public_message_of_an_announced_phone_is_bridged_and_relayed_with_ttl_minus_one(
) -> None:
    listener, _, anna = people()
    listener.handle(encode_packet(anna.announce(NOW_MS)), NOW)
    raw = encode_packet(anna.public_message("hallo buurt", NOW_MS))
    verdict = listener.handle(raw, NOW)
    assert verdict.text is not None and verdict.text.text == "hallo buurt"
    assert verdict.text.nickname == "anna"
    assert verdict.relay is not None
    assert verdict.relay[2] == raw[2] - 1 and verdict.relay[3:] == raw[3:]
    assert verdict.relay[:2] == raw[:2]


def test_a_packet_heard_twice_is_handled_once() -> None:
    listener, _, anna = people()
    listener.handle(encode_packet(anna.announce(NOW_MS)), NOW)
    raw = encode_packet(anna.public_message("hallo", NOW_MS))
    assert listener.handle(raw, NOW).text is not None
    again = listener.handle(raw[:2] + b"\x03" + raw[3:], NOW)  # relayed by another phone
    assert again.duplicate and again.text is None and again.relay is None


def test_messages_without_a_verified_announce_are_never_bridged() -> None:
    listener, _, anna = people()
    mallory = BitchatIdentity(Identity.generate(), "anna")
    verdict = listener.handle(encode_packet(anna.public_message("wie?", NOW_MS)), NOW)
    assert verdict.text is None  # nobody announced this sender
    listener.handle(encode_packet(anna.announce(NOW_MS)), NOW)
    # Mallory signs a message claiming to be anna's peer id: her key does not verify.
    forged = mallory.keys.sign(b"evacueer nu")  # a signature by another key
    fake = replace(anna.public_message("evacueer nu", NOW_MS + 1), signature=forged)
    assert listener.handle(encode_packet(fake), NOW).text is None


def test_announce_whose_sender_id_is_not_its_noise_key_hash_is_refused_and_not_relayed(
) -> None:
    listener, _, anna = people()
    mallory = BitchatIdentity(Identity.generate(), "mallory")
    # Mallory announces anna's peer id with her own keys, correctly signed by herself.
    payload = encode_announcement(Announcement("anna", mallory.noise_key, mallory.signing_key))
    lie = Packet(type=MsgType.ANNOUNCE, timestamp=NOW_MS, sender=anna.peer_id, payload=payload)
    lie = replace(lie, signature=mallory.keys.sign(encode_packet(replace(lie, ttl=0))))
    verdict = listener.handle(encode_packet(lie), NOW)
    assert verdict.refused is not None and "Noise key" in verdict.refused
    assert verdict.relay is None and anna.peer_id not in listener.peers


def test_announce_with_a_bad_signature_is_refused() -> None:
    listener, _, anna = people()
    good = anna.announce(NOW_MS)
    bad = replace(good, timestamp=good.timestamp + 1)  # signature no longer covers it
    assert listener.handle(encode_packet(bad), NOW).refused is not None
    assert listener.peers == {}


def test_stale_and_private_messages_are_not_bridged() -> None:
    listener, hub, anna = people()
    listener.handle(encode_packet(anna.announce(NOW_MS)), NOW)
    old_ms = int((NOW - MESSAGE_MAX_AGE - 1) * 1000)
    assert listener.handle(encode_packet(anna.public_message("gisteren", old_ms)), NOW).text \
        is None
    private = anna.sign(Packet(type=MsgType.MESSAGE, timestamp=NOW_MS + 5, sender=anna.peer_id,
                               recipient=hub.peer_id, payload=b"alleen voor jou"))
    assert listener.handle(encode_packet(private), NOW).text is None
    broadcast = anna.sign(Packet(type=MsgType.MESSAGE, timestamp=NOW_MS + 6,
                                 sender=anna.peer_id, recipient=BROADCAST, payload=b"iedereen"))
    assert listener.handle(encode_packet(broadcast), NOW).text is not None


def test_fragmented_message_is_reassembled_then_bridged() -> None:
    listener, _, anna = people()
    listener.handle(encode_packet(anna.announce(NOW_MS)), NOW)
    long = anna.public_message("stroom is terug in de Dorpsstraat " * 20, NOW_MS)
    parts = fragments(long, 200)
    assert len(parts) > 2
    verdicts = [listener.handle(p, NOW) for p in reversed(parts)]
    assert [v.text for v in verdicts[:-1]] == [None] * (len(parts) - 1)
    final = verdicts[-1].text
    assert final is not None and final.text == long.payload.decode()
    assert all(v.relay is not None for v in verdicts)  # each fragment relayed as it came
    assert listener.reassembler.pending == 0


def test_our_own_packets_echoed_back_are_ignored() -> None:
    listener, hub, _ = people()
    verdict = listener.handle(encode_packet(hub.public_message("van ons", NOW_MS)), NOW)
    assert verdict.duplicate and verdict.relay is None


def test_hostile_bytes_are_refused_and_counted() -> None:
    listener, _, anna = people()
    raw = bytearray(encode_packet(anna.announce(NOW_MS)))
    raw[11] |= 0x80  # an unknown flag
    verdict = listener.handle(bytes(raw), NOW)
    assert verdict.refused is not None and verdict.relay is None and listener.refused == 1
    assert decode_packet(encode_packet(anna.announce(NOW_MS))).type == MsgType.ANNOUNCE
