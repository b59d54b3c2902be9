"""A peer on the UDP link layer driven by hand: an honest handshake from a real socket, and
an off-path attacker that forges the source address of its datagrams (a raw socket: root).

Both speak the datagrams of `meshnode.transport.udpwire` and talk to real daemons on
loopback; nothing here is a fake of the daemon.
"""

from __future__ import annotations

import os
import socket
import struct
import time

from meshnode.transport.udpwire import (
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
    decode,
    encode,
)

Addr = tuple[str, int]


class LinkClient:
    """One link's worth of the protocol from `host` (any 127/8 address) to `target`."""

    def __init__(self, target: Addr, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.local: bytes = os.urandom(8)
        self.peer: bytes | None = None
        self.seq = 0
        self.frame_seq = 0
        self.received: list[Datagram] = []

    @property
    def address(self) -> Addr:
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    def send(self, payload: Payload, cid: bytes | None = None) -> None:
        target = cid if cid is not None else (self.peer or NO_CID)
        self.sock.sendto(encode(Datagram(target, payload)), self.target)

    def receive(self, timeout: float) -> Datagram | None:
        """The next datagram for us within `timeout` seconds, or None."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65_536)
            except TimeoutError:
                return None
            try:
                d = decode(data)
            except DatagramError:
                continue
            self.received.append(d)
            return d
        return None

    def handshake(self, timeout: float = 5.0) -> bool:
        """PROBE → CHALLENGE → CONNECT → ACCEPT, resending every 0.2 s; True once up."""
        self.local, self.peer = os.urandom(8), None
        deadline = time.monotonic() + timeout
        cookie: bytes | None = None
        while time.monotonic() < deadline:
            if cookie is None:
                self.send(Probe(self.local), NO_CID)
            else:
                self.send(Connect(self.local, cookie), NO_CID)
            reply = self.receive(0.2)
            if reply is None or reply.cid != self.local:
                continue
            if isinstance(reply.payload, Challenge):
                cookie = reply.payload.cookie
            elif isinstance(reply.payload, Accept):
                self.peer = reply.payload.responder
                return True
        return False

    def keepalive(self) -> None:
        self.send(Ack(0, 0, 64))

    def frames(self, frames: list[bytes]) -> None:
        """Each frame whole in one fragment, one DATA datagram each."""
        for frame in frames:
            header = bytes((0x30,)) + (self.frame_seq & 0xFFFF).to_bytes(2, "big")
            self.send(Data(self.seq, (header + frame,)))
            self.seq += 1
            self.frame_seq += 1

    def close(self) -> None:
        """CLOSE the link if it is up, and release the socket."""
        if self.peer is not None:
            self.send(Close())
        self.sock.close()


class Spoofer:
    """Sends UDP datagrams with any source address: what an off-path attacker can do."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)

    def send(self, data: bytes, source: Addr, target: Addr) -> None:
        udp = struct.pack("!HHHH", source[1], target[1], 8 + len(data), 0) + data
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64,
                         socket.IPPROTO_UDP, 0, socket.inet_aton(source[0]),
                         socket.inet_aton(target[0]))
        self.sock.sendto(ip + udp, (target[0], 0))

    def close(self) -> None:
        self.sock.close()
