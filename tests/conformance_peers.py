"""Deliberately broken meshnode daemons, each run as a real process, for the conformance tests.

``python tests/conformance_peers.py MODE DATA_DIR`` serves DATA_DIR (prepared by
`LocalNode.setup`) with a `Node` subclass that breaks one rule on the wire and is otherwise
meshnode itself:

* ``no-hello``: never sends a Hello (every Hello the node hands out is dropped);
* ``mis-sign``: every message it sends in a Msg frame carries a signature with one bit flipped;
* ``forgetful``: it silently drops every received post whose id starts with a byte below 26
  (about one in ten), so its store never holds what it reconciled and asked for.

Test-only: the subclasses change only what leaves through the public driving interface.
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio

from meshnode.codec import WireError
from meshnode.crypto.keyfile import load_identity
from meshnode.daemon.config import CONFIG_FILE, load_config
from meshnode.daemon.daemon import Daemon
from meshnode.daemon.paths import IDENTITY_FILE
from meshnode.events import LinkId, Output, Send
from meshnode.node import Node
from meshnode.routing.frames import Hello, Msg, decode_frame, encode_frame
from meshnode.wire import Kind, Message, decode_message, encode_message


class _Rewriting(Node):
    """A node whose every outgoing frame passes through `rewrite` (None: not sent)."""

    def rewrite(self, frame: bytes) -> bytes | None:
        return frame

    def _out(self, outputs: list[Output]) -> list[Output]:
        out: list[Output] = []
        for o in outputs:
            if isinstance(o, Send):
                data = self.rewrite(o.data)
                if data is None:
                    continue
                o = Send(o.link, data)
            out.append(o)
        return out

    def link_up(self, link: LinkId, now: int) -> list[Output]:
        return self._out(super().link_up(link, now))

    def receive(self, link: LinkId, data: bytes, now: int) -> list[Output]:
        return self._out(super().receive(link, data, now))

    def ready(self, link: LinkId, now: int) -> list[Output]:
        return self._out(super().ready(link, now))

    def handle_timer(self, now: int) -> list[Output]:
        return self._out(super().handle_timer(now))


class NoHello(_Rewriting):
    def rewrite(self, frame: bytes) -> bytes | None:
        return None if isinstance(decode_frame(frame), Hello) else frame


class MisSigning(_Rewriting):
    def rewrite(self, frame: bytes) -> bytes | None:
        decoded = decode_frame(frame)
        if not isinstance(decoded, Msg):
            return frame
        try:
            msg = decode_message(decoded.data)
        except WireError:
            return frame
        sig = bytes((msg.sig[0] ^ 0x01,)) + msg.sig[1:]
        bad = Message(msg.kind, msg.body, sig, msg.routing, msg.version)
        return encode_frame(Msg(encode_message(bad)))


class Forgetful(Node):
    def receive(self, link: LinkId, data: bytes, now: int) -> list[Output]:
        try:
            frame = decode_frame(data)
            forget = isinstance(frame, Msg) and _is_post(frame.data) and \
                decode_message(frame.data).id[0] < 26
        except WireError:
            forget = False
        return [] if forget else super().receive(link, data, now)


def _is_post(data: bytes) -> bool:
    return decode_message(data).kind == Kind.POST


MODES: dict[str, type[Node]] = {"no-hello": NoHello, "mis-sign": MisSigning,
                                "forgetful": Forgetful}


def main(mode: str, data_dir: Path) -> None:
    config = load_config(data_dir / CONFIG_FILE)
    identity = load_identity(data_dir / IDENTITY_FILE)
    daemon = Daemon(data_dir, config, identity, node_factory=MODES[mode])
    trio.run(daemon.run)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
