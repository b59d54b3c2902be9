"""Fuzz targets: one per decoder of untrusted input, shared by atheris and the fallback fuzzer.

A target's `run(data)` decodes `data` the way meshnode does and may raise only the target's
documented error types (`errors`); anything else, including a failed `assert` on a property
(canonical re-encoding, bounds, node invariants), is a crash. `seeds()` returns valid inputs
to mutate from. Targets that take a sequence of units (fragments, datagrams, node frames)
read `data` as records: a 2-byte big-endian length, then that many bytes (see `records`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily at run time, so that atheris instruments them first
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from meshnode.crypto.identity import Identity
    from meshnode.wire import Message

__all__ = ["TARGETS", "Target", "join_records", "records"]


def records(data: bytes) -> list[bytes]:
    """Split `data` into length-prefixed records; a short last record takes what is left."""
    out, pos = [], 0
    while pos < len(data):
        size = int.from_bytes(data[pos:pos + 2], "big")
        out.append(data[pos + 2:pos + 2 + size])
        pos += 2 + size
    return out


def join_records(parts: Iterable[bytes]) -> bytes:
    return b"".join(len(p).to_bytes(2, "big") + p for p in parts)


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    errors: tuple[type[BaseException], ...]
    seeds: Callable[[], list[bytes]]
    doc: str

    def check(self, data: bytes) -> None:
        """Run on `data`; only a crash (an unexpected exception) propagates."""
        with contextlib.suppress(*self.errors):
            self.run(data)


_NOW = 1_790_000_000


@cache
def _scratch() -> Path:
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    return Path(tempfile.mkdtemp(prefix="meshnode-fuzz-", dir=base))


def _file(name: str, data: bytes, mode: int = 0o600) -> Path:
    path = _scratch() / name
    path.write_bytes(data)
    path.chmod(mode)
    return path


# --- wire messages and sync frames -----------------------------------------------------------

def _wire(data: bytes) -> None:
    from meshnode import wire

    msg = wire.decode_message(data)
    if msg.kind in (wire.Kind.POST, wire.Kind.DM, wire.Kind.RECEIPT, wire.Kind.ANNOUNCE):
        body = wire.decode_body(msg.kind, msg.body)
        assert wire.encode_body(body) == msg.body, "a body decoded that is not canonical"


@cache
def _messages() -> list[bytes]:
    from fuzz.session import authority_messages, record
    from meshnode.routing.frames import Msg, decode_frame

    out = list(authority_messages())
    for frame in record().frames:
        decoded = decode_frame(frame)
        if isinstance(decoded, Msg):
            out.append(decoded.data)
    return out


def _frames(data: bytes) -> None:
    from meshnode.routing.frames import decode_frame, encode_frame

    frame = decode_frame(data)
    assert encode_frame(frame) == data


def _frame_seeds() -> list[bytes]:
    from fuzz.session import record
    from meshnode.routing.frames import Hello, Want, encode_frame

    hello = Hello(nonce=bytes(range(8)), tags=(b"t" * 16,), trust_ids=(bytes(16),),
                  alerts=(("nl-vr17", (1, 2, 3)),), prophet=((b"t" * 16, 5_000),))
    return [*record().frames, encode_frame(hello), encode_frame(Want((bytes(16), b"\x01" * 16)))]


def _reconcile(data: bytes) -> None:
    from meshnode.routing.reconcile import Message, Reconciler, SortedItems

    parts = records(data)
    if not parts:
        return
    msg = Message.decode(parts[0])
    assert Message.decode(msg.encode()) == msg
    items = SortedItems((_NOW - i, bytes([i]) * 16) for i in range(1, 40))
    responder = Reconciler(items, initiator=False)
    for part in parts:
        reply = responder.receive(part)
        assert reply is not None, "a responder always answers"
        Message.decode(reply)


def _reconcile_seeds() -> list[bytes]:
    from fuzz.session import record
    from meshnode.routing.frames import Recon, decode_frame
    from meshnode.routing.reconcile import Reconciler, SortedItems

    out = []
    for frame in record().frames:
        decoded = decode_frame(frame)
        if isinstance(decoded, Recon):
            out.append(join_records([decoded.data]))
    # A longer exchange against the target's own item set, so later rounds are reachable.
    mine = SortedItems((_NOW - i, bytes([i]) * 16) for i in range(1, 40) if i % 3)
    theirs = SortedItems((_NOW - i, bytes([i]) * 16) for i in range(1, 40) if i % 5)
    initiator, responder = Reconciler(mine, initiator=True), Reconciler(theirs, initiator=False)
    sent = [initiator.initiate()]
    while len(sent) < 20:
        reply = responder.receive(sent[-1])
        assert reply is not None
        nxt = initiator.receive(reply)
        if nxt is None:
            break
        sent.append(nxt)
    out.append(join_records(sent))
    return out


# --- alerts and authority --------------------------------------------------------------------

def _compact(data: bytes) -> None:
    from meshnode.alerts.compact import decode_alert, encode_alert

    alert = decode_alert(data)
    assert encode_alert(alert) == data


def _compact_seeds() -> list[bytes]:
    from meshnode.alerts.compact import encode_alert
    from meshnode.alerts.examples import example_nl_alert

    return [encode_alert(example_nl_alert(_NOW)),
            encode_alert(example_nl_alert(_NOW, tz_minutes=-300, lifetime=60))]


def _authority(data: bytes) -> None:
    from meshnode.codec import WireError
    from meshnode.crypto import authority

    for decode in (authority.decode_cert, authority.decode_alert_body,
                   authority.decode_revocation):
        with contextlib.suppress(WireError):
            decode(data)


def _authority_seeds() -> list[bytes]:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from fuzz.session import authority_messages
    from meshnode.crypto.authority import create_revocation
    from meshnode.wire import decode_message

    root = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    revoke = create_revocation(root, [3, 17], _NOW, "key lost")
    return [decode_message(m).body for m in authority_messages()] + [revoke.body]


def _verify(data: bytes) -> None:
    from fuzz.session import authority as example
    from meshnode import wire
    from meshnode.crypto import authority

    msg = wire.decode_message(data)
    trust = example().trust
    results = (authority.verify_alert(msg, trust, _NOW), authority.verify_cert(msg, trust, _NOW),
               authority.verify_revocation(msg, trust), authority.apply_rotation(trust, msg, _NOW))
    assert all(result is not None for result in results)


def _verify_seeds() -> list[bytes]:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from fuzz.session import authority as example
    from fuzz.session import authority_messages
    from meshnode.crypto.authority import create_revocation
    from meshnode.wire import encode_message

    root = example().root
    rotation_key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    from meshnode.crypto.authority import rotate_root

    return [*authority_messages(),
            encode_message(create_revocation(root, [17], _NOW)),
            encode_message(rotate_root(root, rotation_key, "next root", 2, _NOW, _NOW + 10**6))]


def _capxml(data: bytes) -> None:
    from meshnode.alerts.capxml import import_cap

    import_cap(data)
    import_cap(data, trim=True)


def _capxml_seeds() -> list[bytes]:
    folder = Path(__file__).resolve().parent.parent / "tests" / "data" / "cap"
    return [p.read_bytes() for p in sorted(folder.glob("*")) if p.suffix in (".cap", ".xml")]


@cache
def _dm_parties() -> tuple[Identity, Identity, Ed25519PrivateKey]:
    import hashlib

    from cryptography.hazmat.primitives.asymmetric import ed25519

    from meshnode.crypto.identity import Identity

    def ident(name: bytes) -> Identity:
        return Identity.from_seeds(hashlib.sha256(name).digest(),
                                   hashlib.sha256(name + b" dh").digest())

    ack = ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"ack").digest())
    return ident(b"sender"), ident(b"recipient"), ack


def _sealed(plaintext: bytes | None) -> tuple[Message, list[bytes]]:
    """A DM to the recipient with a genuine envelope and HPKE encryption around `plaintext`
    (None: the genuine plaintext); also returns the plaintext that was sealed."""
    from cryptography.hazmat.primitives.asymmetric import x25519
    from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

    from meshnode.crypto.sealing import seal_dm

    sender, recipient, ack = _dm_parties()
    suite = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)
    sealed: list[bytes] = []

    def encrypt(plain: bytes, key: x25519.X25519PublicKey, info: bytes) -> bytes:
        sealed.append(plain if plaintext is None else _whole_blocks(plaintext))
        return suite.encrypt(sealed[-1], key, info=info)

    msg = seal_dm(sender, recipient.public, "Are you OK?", _NOW, ack=ack, encrypt=encrypt)
    return msg, sealed


def _whole_blocks(plaintext: bytes) -> bytes:
    """`plaintext` cut or zero-filled to a length the DM envelope allows (whole pad blocks,
    3..67 of them), so that the hostile bytes reach the recipient's decoder."""
    from meshnode.wire import DM_PAD_BLOCK, DM_PLAINTEXT_MAX, DM_PLAINTEXT_MIN

    cut = plaintext[:DM_PLAINTEXT_MAX]
    cut += bytes(-len(cut) % DM_PAD_BLOCK)
    return cut + bytes(max(0, DM_PLAINTEXT_MIN - len(cut)))


def _sealing(data: bytes) -> None:
    from meshnode.crypto.sealing import open_dm

    sender, recipient, _ = _dm_parties()
    msg, _ = _sealed(data)
    opened = open_dm(recipient, msg)
    assert opened.sender.sign_key == sender.public.sign_key


def _sealing_seeds() -> list[bytes]:
    return _sealed(None)[1]


# --- transports ------------------------------------------------------------------------------

def _framing(data: bytes) -> None:
    from meshnode.transport.framing import Reassembler

    if not data:
        return
    ordered = bool(data[0] & 1)
    reassembler = Reassembler(max_frame=2_000, max_pending_frames=4, max_pending_bytes=4_000,
                              timeout=5, ordered=ordered)
    for i, fragment in enumerate(records(data[1:])):
        try:
            for frame in reassembler.feed(fragment, i * 0.5):
                assert len(frame) <= 2_000
        except _framing_error():
            pass
        assert reassembler.pending_frames <= 4
        assert 0 <= reassembler.pending_bytes <= 4_000


def _framing_error() -> type[Exception]:
    from meshnode.transport.framing import FramingError

    return FramingError


def _framing_seeds() -> list[bytes]:
    from meshnode.transport.framing import Fragmenter

    out = []
    for mtu, first_seq in ((20, 0), (23, 0xFFFE), (64, 9)):
        fragmenter = Fragmenter(mtu, max_frame=2_000, first_seq=first_seq)
        frames = [bytes(range(256))[:size] for size in (5, 100, 250)]
        frags = [f for frame in frames for f in fragmenter.fragments(frame)]
        out.append(b"\x00" + join_records(frags))
        out.append(b"\x01" + join_records(frags[::-1]))
    return out


def _udp(data: bytes) -> None:
    from meshnode.transport import udpwire
    from meshnode.transport.arq import ArqReceiver, ArqSender

    sender, receiver = ArqSender(window=8), ArqReceiver(window=16)
    for i in range(6):
        sender.push((bytes([i]),), i * 0.01)
    delivered = 0
    for i, part in enumerate(records(data)):
        try:
            dgram = udpwire.decode(part)
        except udpwire.DatagramError:
            continue
        again = udpwire.encode(dgram)
        if isinstance(dgram.payload, udpwire.Data):
            delivered += len(receiver.receive(dgram.payload.seq, dgram.payload.fragments))
        elif isinstance(dgram.payload, udpwire.Ack):
            ack = dgram.payload
            sender.on_ack(ack.next, ack.bitmap, 1.0 + i, ack.limit)
            sender.due(1.0 + i)
        assert again == part, "a datagram decoded that does not re-encode to itself"
        assert sender.in_flight <= sender.window
        assert receiver.next == receiver.stats.delivered == delivered


def _udp_seeds() -> list[bytes]:
    from meshnode.transport import udpwire

    a, b = b"A" * 8, b"B" * 8
    d, none = udpwire.Datagram, udpwire.NO_CID
    return [join_records([udpwire.encode(x) for x in (
        d(none, udpwire.Probe(a)), d(a, udpwire.Challenge(bytes(16))),
        d(none, udpwire.Connect(a, bytes(16))), d(a, udpwire.Accept(b)),
        d(b, udpwire.Data(1, (b"\x30\x00\x01xyz",))),
        d(b, udpwire.Data(0, (b"\x30\x00\x00abc", b"\x30\x00\x01de"))),
        d(a, udpwire.Ack(2, 0b101, 40)), d(a, udpwire.Ack(6, 0, 2**64 - 1)),
        d(b, udpwire.Close()))])]


def _ble(data: bytes) -> None:
    from meshnode.codec import WireError
    from meshnode.transport.ble_profile import (
        decode_info,
        encode_info,
        parse_service_data,
        service_data,
    )

    with contextlib.suppress(WireError):
        assert service_data(parse_service_data(data)) == data
    info = decode_info(data)
    assert info.max_frame > 0 and len(encode_info(info)) <= len(data)


def _ble_seeds() -> list[bytes]:
    from meshnode.transport.ble_profile import Info, encode_info, service_data

    return [service_data(bytes(range(8))), encode_info(Info()), encode_info(Info(max_frame=512))]


# --- local API and files ---------------------------------------------------------------------

def _api(data: bytes) -> None:
    from meshnode.daemon import api

    with contextlib.suppress(api.ApiError):
        api.decode_reply(data)
    request_id, request = api.decode_request(data)
    assert api.decode_request(api.encode_request(request, request_id)) == (request_id, request)


def _api_seeds() -> list[bytes]:
    from meshnode.daemon import api

    requests: list[api.Request] = [
        api.Hello(), api.Post("wijk-noord", "Water at the gym"), api.SendDm("Bram", "OK?"),
        api.Inbox(limit=10, since=5), api.Inject(b"\x95\x01\x01"),
        api.ContactAdd("Bram", sign_key=bytes(32), dh_key=bytes(range(32))),
        api.Subscribe(("post_received", "dm_received")),
    ]
    out = [api.encode_request(r, i) for i, r in enumerate(requests)]
    out.append(api.encode_request(api.Status(), "abc"))
    out.append(api.encode_response(3, {"posts": [{"text": "x", "n": 1}]}))
    out.append(api.encode_error(4, api.ErrorCode.BAD_REQUEST, "no"))
    return out


def _keyfile(data: bytes) -> None:
    from meshnode.crypto.keyfile import load_identity

    load_identity(_file("key", data))


def _keyfile_seeds() -> list[bytes]:
    from meshnode.crypto.identity import Identity
    from meshnode.crypto.keyfile import save_identity

    path = _scratch() / "seed.key"
    identity = Identity.from_seeds(bytes(range(32)), bytes(range(1, 33)))
    out = []
    for passphrase in (None, "correct horse"):
        save_identity(identity, path, passphrase=passphrase, overwrite=True)
        out.append(path.read_bytes())
    return out


def _trustfile(data: bytes) -> None:
    from meshnode.crypto.trustfile import read_public_key

    name, key = read_public_key(_file("root.toml", data, 0o644), role="root")
    assert len(key) == 32 and isinstance(name, str)


def _trustfile_seeds() -> list[bytes]:
    from meshnode.crypto.trustfile import write_public_key

    path = _scratch() / "seed.toml"
    path.unlink(missing_ok=True)
    write_public_key(path, role="root", name="Rijksoverheid (test)", key=bytes(range(32)))
    return [path.read_bytes()]


def _config(data: bytes) -> None:
    from meshnode.daemon.config import load_config

    load_config(_file("meshnode.toml", data, 0o644))


def _config_seeds() -> list[bytes]:
    from meshnode.daemon.config import default_config_text

    return [default_config_text().encode(),
            default_config_text(name="Hub", listen="0.0.0.0:4242",
                                peers=("10.0.0.2:4242", "[::1]:4243")).encode()]


# --- the node --------------------------------------------------------------------------------

def _node(data: bytes) -> None:
    from fuzz.session import Replay

    replay = Replay()
    for frame in records(data)[:64]:
        replay.feed(frame)


def _node_seeds() -> list[bytes]:
    from fuzz.session import record

    frames = list(record().frames)
    return [join_records(frames), join_records(frames[:4] + frames[4:][::-1])]


def _errors(*names: str) -> tuple[type[BaseException], ...]:
    """Error types by dotted name, imported lazily (so atheris can instrument first)."""
    import importlib

    out = []
    for name in names:
        module, _, attr = name.rpartition(".")
        out.append(getattr(importlib.import_module(module), attr))
    return tuple(out)


def _target(name: str, run: Callable[[bytes], None], errors: tuple[str, ...],
            seeds: Callable[[], list[bytes]], doc: str) -> Target:
    return Target(name, run, _errors(*errors), seeds, doc)


WIRE = "meshnode.codec.WireError"

TARGETS: dict[str, Callable[[], Target]] = {
    "wire": lambda: _target("wire", _wire, (WIRE,), _messages,
                            "wire.decode_message + decode_body"),
    "frames": lambda: _target("frames", _frames, (WIRE,), _frame_seeds,
                              "routing.frames.decode_frame"),
    "reconcile": lambda: _target("reconcile", _reconcile, (WIRE,), _reconcile_seeds,
                                 "reconcile.Message.decode + a responder session"),
    "compact": lambda: _target("compact", _compact, (WIRE,), _compact_seeds,
                               "alerts.compact.decode_alert"),
    "authority": lambda: _target("authority", _authority, (), _authority_seeds,
                                 "authority.decode_cert/decode_alert_body/decode_revocation"),
    "verify": lambda: _target("verify", _verify, (WIRE,), _verify_seeds,
                              "authority.verify_* on any decodable message"),
    "sealing": lambda: _target("sealing", _sealing, ("meshnode.crypto.sealing.OpenError",),
                               _sealing_seeds, "crypto.sealing.open_dm: any plaintext, sealed"),
    "capxml": lambda: _target("capxml", _capxml, ("meshnode.alerts.capxml.CapError",),
                              _capxml_seeds, "alerts.capxml.import_cap"),
    "framing": lambda: _target("framing", _framing, (), _framing_seeds,
                               "transport.framing.Reassembler.feed (fragment sequences)"),
    "udp": lambda: _target("udp", _udp, (), _udp_seeds,
                           "transport.udpwire.decode + arq sender/receiver"),
    "ble": lambda: _target("ble", _ble, (WIRE,), _ble_seeds,
                           "ble_profile.parse_service_data + decode_info"),
    "api": lambda: _target("api", _api, ("meshnode.daemon.api.ApiError",), _api_seeds,
                           "api.decode_request + decode_reply"),
    "keyfile": lambda: _target("keyfile", _keyfile, ("meshnode.crypto.keyfile.KeyFileError",),
                               _keyfile_seeds, "crypto.keyfile.load_identity"),
    "trustfile": lambda: _target("trustfile", _trustfile,
                                 ("meshnode.crypto.trustfile.TrustFileError",),
                                 _trustfile_seeds, "crypto.trustfile.read_public_key"),
    "config": lambda: _target("config", _config, ("meshnode.daemon.config.ConfigError",),
                              _config_seeds, "config.load_config"),
    "node": lambda: _target("node", _node, (), _node_seeds,
                            "Node.receive: frame sequences from a peer, invariants checked"),
}
