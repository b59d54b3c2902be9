"""What the hub does with a bitchat packet it hears (sans-IO: the caller passes the time).

`Listener.handle(link, data, now)` parses strictly and returns a `Verdict`:

* anything malformed is refused (`refused` names why) and neither relayed nor believed;
* an announce is believed only if its signature verifies with the key it announces and its
  sender id is SHA-256 of its Noise key (bitchat's own rule); the peer is remembered
  (bounded, least recently heard dropped) with its nickname and signing key;
* a public message is passed on (`text`) only if it is a broadcast, fresh (bitchat's own 6-hour
  window), signed by the key its sender announced, and within bitchat's own per-sender and
  per-text rate limits (`ratelimit.PublicLimits`; `limited` counts the rest): one phone
  cannot flood a bridged meshnode channel;
* fragments are reassembled (bounded, `reassembly.Reassembler`) and the whole packet handled;
* `relay` is the packet's own bytes with TTL - 1, for a packet seen for the first time, not
  from us and with TTL left; the caller decides whether to send it (config `relay`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

from meshnode.transport.bitchat.codec import (
    BROADCAST,
    BitchatError,
    MsgType,
    Packet,
    decode_packet,
    relay_copy,
)
from meshnode.transport.bitchat.identity import peer_id_of, verify_packet
from meshnode.transport.bitchat.payloads import (
    decode_announcement,
    decode_fragment,
    decode_text,
)
from meshnode.transport.bitchat.ratelimit import PublicLimits
from meshnode.transport.bitchat.reassembly import Reassembler

__all__ = ["MESSAGE_MAX_AGE", "Listener", "Peer", "PublicText", "Verdict"]

MESSAGE_MAX_AGE = 6 * 3600.0  # bitchat's acceptance window for public messages
MAX_PEERS = 256
MAX_SEEN = 4_096


@dataclass(frozen=True, slots=True)
class Peer:
    nickname: str
    signing_key: bytes
    last_heard: float


@dataclass(frozen=True, slots=True)
class PublicText:
    sender: bytes
    nickname: str
    text: str
    timestamp_ms: int


@dataclass(slots=True)
class Verdict:
    packet: Packet | None = None
    relay: bytes | None = None
    text: PublicText | None = None
    refused: str | None = None
    duplicate: bool = False


@dataclass(slots=True)
class Listener:
    own_id: bytes
    reassembler: Reassembler = field(default_factory=Reassembler)
    peers: OrderedDict[bytes, Peer] = field(default_factory=OrderedDict)
    _seen: OrderedDict[bytes, None] = field(default_factory=OrderedDict)
    limits: PublicLimits = field(default_factory=PublicLimits)
    refused: int = 0
    limited: int = 0

    def handle(self, data: bytes, now: float) -> Verdict:
        try:
            return self._handle(data, now, outer=True)
        except BitchatError as exc:
            self.refused += 1
            return Verdict(refused=str(exc))

    def _handle(self, data: bytes, now: float, *, outer: bool) -> Verdict:
        packet = decode_packet(data)
        if packet.sender == self.own_id:
            return Verdict(packet, duplicate=True)  # our own, echoed back by a phone
        key = hashlib.sha256(bytes([packet.type]) + packet.sender
                             + packet.timestamp.to_bytes(8, "big") + packet.payload).digest()
        if key in self._seen:
            return Verdict(packet, duplicate=True)
        self._seen[key] = None
        if len(self._seen) > MAX_SEEN:
            self._seen.popitem(last=False)
        verdict = Verdict(packet, relay=relay_copy(data) if outer else None)
        if packet.type == MsgType.ANNOUNCE:
            self._announce(packet, now)
        elif packet.type == MsgType.MESSAGE:
            verdict.text = self._message(packet, now)
        elif packet.type == MsgType.FRAGMENT:
            whole = self.reassembler.add(packet.sender, decode_fragment(packet.payload), now)
            if whole is not None:
                inner = self._handle(whole[1], now, outer=False)
                verdict.text = inner.text
        return verdict

    def _announce(self, packet: Packet, now: float) -> None:
        a = decode_announcement(packet.payload)
        if peer_id_of(a.noise_key) != packet.sender:
            raise BitchatError("announce", "sender id is not derived from its Noise key")
        if not verify_packet(packet, a.signing_key):
            raise BitchatError("announce", "signature does not verify")
        self.peers[packet.sender] = Peer(a.nickname, a.signing_key, now)
        self.peers.move_to_end(packet.sender)
        if len(self.peers) > MAX_PEERS:
            self.peers.popitem(last=False)

    def _message(self, packet: Packet, now: float) -> PublicText | None:
        if packet.recipient not in (None, BROADCAST):
            return None  # private traffic: relayed at most, never read
        if packet.timestamp < (now - MESSAGE_MAX_AGE) * 1000:
            return None
        peer = self.peers.get(packet.sender)
        if peer is None or not verify_packet(packet, peer.signing_key):
            return None
        text = decode_text(packet.payload)
        if not self.limits.allow(packet.sender.hex(), text, now):
            self.limited += 1
            return None
        return PublicText(packet.sender, peer.nickname, text, packet.timestamp)
