"""Fuzzing `Node.receive` with what a hostile peer can send: random bytes, random frames and
mutations of a real, recorded sync session (fuzz/session.py replays it to a fresh node).

After every frame (checked by `fuzz.session.Replay.feed`): nothing raises; the store holds only
messages that were genuinely signed; nothing is sent that the store does not hold; and a frame
that is invalid, or a message in it that is not genuine, leaves the store exactly as it was
and yields only `Rejected` (or `Close`) outputs.

`ci` profile by default; `HYPOTHESIS_PROFILE=fuzz` for the long run.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import example, given
from hypothesis import strategies as st

from fuzz.session import NOW, PEER, Replay, authority, authority_messages, record
from meshnode.alerts.examples import example_authority, example_nl_alert
from meshnode.codec import WireError
from meshnode.crypto.authority import create_revocation, sign_alert
from meshnode.events import AlertReceived, Close, DmReceived, PostReceived, Rejected
from meshnode.routing.frames import Msg, decode_frame, encode_frame
from meshnode.wire import Message, decode_message, encode_message
from tests.fuzzing import mutations
from tests.routing.test_frames_fuzz import frames


def genuine_frames() -> list[bytes]:
    return list(record().frames)


def test_the_recorded_session_replays_in_full() -> None:
    """The baseline the mutations start from: the replay accepts everything B offered."""
    replay = Replay()
    events = [o for f in genuine_frames() for o in replay.feed(f)]
    kinds = {type(e) for e in events}
    assert {PostReceived, DmReceived, AlertReceived} <= kinds
    assert not any(isinstance(e, Rejected) for e in events)
    offered = [decode_frame(f) for f in genuine_frames()]
    for frame in offered:
        if isinstance(frame, Msg):
            msg_id = decode_message(frame.data).id
            assert replay.node.store.has(msg_id) or replay.node.store.seen(msg_id)


def test_every_process_records_the_same_session() -> None:
    """Seeds written by one process (fuzz/run.py) must replay in another (the atheris run)."""
    code = ("import hashlib; from fuzz.session import record; r = record(); "
            "print(hashlib.sha256(b''.join(r.frames) + b''.join(sorted(r.genuine))).hexdigest())")
    root = Path(__file__).resolve().parent.parent
    digests = {subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                              text=True, check=True).stdout for _ in range(2)}
    here = hashlib.sha256(b"".join(record().frames) + b"".join(sorted(record().genuine)))
    assert digests == {here.hexdigest() + "\n"}


@given(st.lists(st.binary(max_size=300), max_size=12))
def test_random_bytes(frames_: list[bytes]) -> None:
    replay = Replay()
    for data in frames_:
        replay.feed(data)


@given(st.lists(frames, max_size=8))
def test_random_well_formed_frames(frames_: list[object]) -> None:
    replay = Replay()
    for frame in frames_:
        replay.feed(encode_frame(frame))  # type: ignore[arg-type]


@st.composite
def mutated_sessions(draw: st.DrawFn) -> list[bytes]:
    """The genuine session with frames mutated, dropped, repeated, reordered or injected."""
    session = genuine_frames()
    out = list(session)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["mutate", "mutate-msg", "drop", "repeat", "swap", "inject"]))
        i = draw(st.integers(0, len(out) - 1))
        if op == "mutate":
            out[i] = draw(mutations(out[i], session))
        elif op == "mutate-msg":
            # Mutate the wire message inside a Msg frame and re-wrap it in a valid frame, so
            # the mutation reaches the message decoder and the signature checks.
            msgs = [f.data for f in map(decode_frame, session) if isinstance(f, Msg)]
            payload = draw(mutations(draw(st.sampled_from(msgs)), msgs))
            if payload:
                out.insert(i, encode_frame(Msg(payload)))
        elif op == "drop" and len(out) > 1:
            del out[i]
        elif op == "repeat":
            out.insert(draw(st.integers(0, len(out))), out[i])
        elif op == "swap":
            j = draw(st.integers(0, len(out) - 1))
            out[i], out[j] = out[j], out[i]
        else:
            out.insert(i, encode_frame(draw(frames)))
    return out


@given(mutated_sessions())
def test_mutated_sessions(session: list[bytes]) -> None:
    replay = Replay()
    for data in session:
        replay.feed(data)


def test_a_forged_message_changes_nothing() -> None:
    """One bit of a genuine post's text flipped: rejected, not stored, not relayed."""
    msgs = [decode_frame(f) for f in genuine_frames()]
    post = next(m for m in msgs if isinstance(m, Msg) and decode_message(m.data).kind == 1)
    raw = decode_message(post.data)
    body = bytearray(raw.body)
    body[-1] ^= 1
    forged = encode_message(type(raw)(raw.kind, bytes(body), raw.sig, raw.routing, raw.version))
    replay = Replay()
    for f in genuine_frames()[:2]:
        replay.feed(f)
    outs = replay.feed(encode_frame(Msg(forged)))
    assert [type(o) for o in outs] == [Rejected]
    assert not replay.node.store.has(decode_message(forged).id)


@given(st.data())
def test_mutated_injected_messages(data: st.DataObject) -> None:
    """`inject` (the local API's message files) runs the same checks as `receive`."""
    cert, alert = authority_messages()
    raw = data.draw(mutations(data.draw(st.sampled_from([cert, alert])), [cert, alert]))
    replay = Replay()
    before = {m for _, m in replay.node.store.ids_since(0)}
    outs = replay.node.inject(raw, NOW).outputs
    after = {m for _, m in replay.node.store.ids_since(0)}
    try:
        genuine = decode_message(raw).id in (decode_message(cert).id, decode_message(alert).id)
    except WireError:
        genuine = False
    if not genuine:
        assert after == before
        assert all(isinstance(o, Rejected) for o in outs)
    assert after - before <= record().genuine


def unsigned_alert(cert_msg: Message, seq: int) -> bytes:
    """An alert carrying `cert_msg` but signed by a key of our own: anyone can make one."""
    anyone = ed25519.Ed25519PrivateKey.generate()
    return encode_message(sign_alert(anyone, cert_msg, example_nl_alert(NOW), seq))


def test_unauthenticated_alert_rejections_are_not_remembered() -> None:
    """Found by fuzzing: an alert refused for an unknown root or a revoked certificate (both
    decided before the alert's signature is checked) was remembered as seen, so anyone could
    fill the bounded seen memory, flushing what it protects (purged DMs, superseded alerts)."""
    stranger = example_authority(NOW, root_name="Not pinned here")
    replay = Replay()
    for i in range(20):
        outs = replay.feed(encode_frame(Msg(unsigned_alert(stranger.cert_msg, i + 1))))
        assert [type(o) for o in outs] == [Rejected] and "unknown root" in outs[0].reason
    revocation = create_revocation(authority().root, [authority().cert.serial], NOW)
    replay.node.inject(encode_message(revocation), NOW)
    seen = replay.node.store.seen_count()
    outs = replay.node.receive(PEER, encode_frame(Msg(unsigned_alert(authority().cert_msg, 99))),
                               NOW)
    assert [type(o) for o in outs] == [Rejected] and "revoked" in outs[0].reason
    assert replay.node.store.seen_count() == seen == 0


@pytest.mark.parametrize("bomb", [
    b"\x91" * 100_000,
    msgpack.packb([4, b"\x00" * 70_000], use_bin_type=True),
    b"\x92\x03\xc6\xff\xff\xff\xff",
    b"",
])
def test_bombs_are_rejected(bomb: bytes) -> None:
    replay = Replay()
    outs = replay.feed(bomb)
    assert [type(o) for o in outs] == [Rejected]


def test_a_peer_sending_only_garbage_is_disconnected_and_then_ignored() -> None:
    replay = Replay()
    outs = [o for _ in range(replay.node.config.max_frame_errors + 1)
            for o in replay.feed(b"\xc1")]
    assert isinstance(outs[-1], Close) and outs[-1].link == PEER
    assert replay.feed(genuine_frames()[0]) == []  # the link is gone


@given(st.binary(max_size=64))
@example(b"\x00")
def test_frames_on_an_unknown_link_are_ignored(data: bytes) -> None:
    replay = Replay()
    assert replay.node.receive("never-up", data, NOW) == []
