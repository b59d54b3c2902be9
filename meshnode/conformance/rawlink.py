"""A hand-driven UDP link (docs/protocol.md §13) for the conformance runner's hostile checks.

Unlike `meshnode.transport.udp`, which always behaves, `RawLink` sends exactly the datagrams it
is told to, however wrong, and records every datagram the peer sends back, so that a check can
observe the peer's reaction from the wire: a CHALLENGE, an ACCEPT, an ACK and its `next`, a
CLOSE, or silence. Its own DATA it numbers and fragments like an honest peer (§11, §13.3), so
that a check can carry well-formed frames with hostile contents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import trio

from meshnode.transport.framing import Fragmenter
from meshnode.transport.udp import new_cid
from meshnode.transport.udpwire import (
    CHUNK_HEADER,
    DATA_HEADER,
    MAX_DATAGRAM,
    NO_CID,
    Accept,
    Ack,
    Challenge,
    Close,
    Connect,
    Data,
    Datagram,
    DatagramError,
    Payload,
    Probe,
    chunk_cost,
    decode,
    encode,
)

__all__ = ["HeardDatagram", "RawLink"]

_MTU = MAX_DATAGRAM - DATA_HEADER - CHUNK_HEADER  # §13.3: one chunk filling a DATA datagram


@dataclass(frozen=True, slots=True)
class HeardDatagram:
    """One datagram from the peer: its bytes, and its decoding (None if it did not decode)."""

    data: bytes
    datagram: Datagram | None


class RawLink:
    """One UDP socket bound to `source` (an IP address), talking to `target`."""

    def __init__(self, source: str, target: tuple[str, int]) -> None:
        self.target = target
        self.sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        self.source = source
        self.local = new_cid()  # our cid: the peer puts it in what it sends us
        self.peer: bytes | None = None  # the peer's cid once ACCEPT came
        self.accept: bytes | None = None  # the ACCEPT's bytes, to compare with a repeat
        self.seq = 0
        self._fragmenter = Fragmenter(_MTU, max_frame=(1 << 20) - 1,
                                      first_seq=int.from_bytes(os.urandom(2), "big"))
        self.heard: list[HeardDatagram] = []
        self.next = 0  # the largest `next` the peer's ACKs named: the seq it expects

    async def open(self) -> None:
        await self.sock.bind((self.source, 0))

    def close(self) -> None:
        self.sock.close()

    async def send_raw(self, data: bytes) -> None:
        await self.sock.sendto(data, self.target)

    async def send(self, payload: Payload, cid: bytes | None = None) -> None:
        target = cid if cid is not None else (self.peer or NO_CID)
        await self.send_raw(encode(Datagram(target, payload)))

    async def listen(self, seconds: float) -> list[HeardDatagram]:
        """Every datagram from the target within `seconds` (all of them, recorded too)."""
        got: list[HeardDatagram] = []
        with trio.move_on_after(seconds):
            while True:
                got.append(await self._next())
        return got

    async def wait_for(self, kind: type, seconds: float) -> HeardDatagram | None:
        """The first datagram of type `kind` within `seconds`, or None."""
        with trio.move_on_after(seconds):
            while True:
                heard = await self._next()
                if heard.datagram is not None and isinstance(heard.datagram.payload, kind):
                    return heard
        return None

    async def _next(self) -> HeardDatagram:
        while True:
            data, addr = await self.sock.recvfrom(65_536)
            if (str(addr[0]), int(addr[1])) != self.target:
                continue
            try:
                datagram: Datagram | None = decode(data)
            except DatagramError:
                datagram = None
            heard = HeardDatagram(bytes(data), datagram)
            if datagram is not None and isinstance(datagram.payload, Ack):
                self.next = max(self.next, datagram.payload.next)
            self.heard.append(heard)
            return heard

    async def challenge(self, seconds: float = 3.0) -> bytes | None:
        """PROBE (again every second) until a CHALLENGE for our cid; its cookie, or None."""
        with trio.move_on_after(seconds):
            while True:
                await self.send(Probe(self.local), NO_CID)
                heard = await self.wait_for(Challenge, 1.0)
                if heard is not None and heard.datagram is not None \
                        and heard.datagram.cid == self.local:
                    assert isinstance(heard.datagram.payload, Challenge)
                    return heard.datagram.payload.cookie
        return None

    async def connect(self, cookie: bytes, seconds: float = 3.0) -> bytes | None:
        """CONNECT with `cookie` until an ACCEPT for our cid: the peer's cid, or None."""
        with trio.move_on_after(seconds):
            while True:
                await self.send(Connect(self.local, cookie), NO_CID)
                heard = await self.wait_for(Accept, 1.0)
                if heard is not None and heard.datagram is not None \
                        and heard.datagram.cid == self.local:
                    assert isinstance(heard.datagram.payload, Accept)
                    self.peer, self.accept = heard.datagram.payload.responder, heard.data
                    return self.peer
        return None

    async def handshake(self) -> bool:
        cookie = await self.challenge()
        return cookie is not None and await self.connect(cookie) is not None

    def datagrams(self, frames: list[bytes]) -> list[bytes]:
        """The DATA datagrams (next seqs) carrying `frames`, packed as an honest sender would."""
        assert self.peer is not None
        out: list[bytes] = []
        chunk: list[bytes] = []
        size = DATA_HEADER
        for fragment in (f for frame in frames for f in self._fragmenter.fragments(frame)):
            if chunk and size + chunk_cost(fragment) > MAX_DATAGRAM:
                out.append(self._data(chunk))
                chunk, size = [], DATA_HEADER
            chunk.append(fragment)
            size += chunk_cost(fragment)
        if chunk:
            out.append(self._data(chunk))
        return out

    def _data(self, fragments: list[bytes]) -> bytes:
        assert self.peer is not None
        data = encode(Datagram(self.peer, Data(self.seq, tuple(fragments))))
        self.seq += 1
        return data

    async def send_frames(self, frames: list[bytes]) -> None:
        for datagram in self.datagrams(frames):
            await self.send_raw(datagram)

    async def acked(self, seq: int, seconds: float) -> bool:
        """Whether an ACK with `next` > `seq` comes within `seconds`."""
        with trio.move_on_after(seconds):
            while True:
                heard = await self.wait_for(Ack, seconds)
                if heard is None or heard.datagram is None:
                    return False
                payload = heard.datagram.payload
                assert isinstance(payload, Ack)
                if payload.next > seq:
                    return True
        return False

    async def closed(self, seconds: float) -> bool:
        """Whether a CLOSE for our cid comes within `seconds`."""
        with trio.move_on_after(seconds):
            while True:
                heard = await self.wait_for(Close, seconds)
                if heard is None:
                    return False
                if heard.datagram is not None and heard.datagram.cid == self.local:
                    return True
        return False
