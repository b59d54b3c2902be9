"""Run every conformance rule (`meshnode.conformance.rules`) against a UDP peer and report.

The run has three parts, in this order (the later ones end links for misbehaviour, and an
implementation may then refuse that source address for a while, §13.6):

1. the link handshake and datagram rules, from a hand-driven socket (`RawLink`);
2. whole sessions with meshnode's own `Node` (`ReferencePeer`): the first node holds 2,000
   posts, a third party's DM, a DM sealed to the peer's identity (when known), a valid alert
   from the test authority, and pushes alerts and a post that must be refused; a second
   exchange on the same link, with 25 posts more, reconciles two large, nearly equal stores;
   a third shows what the peer kept. Then a fresh node with an empty store must obtain from
   the peer every post it was given;
3. hostile frames (oversized, malformed) on links of their own, each from another loopback
   address when the target is on loopback.

Each check observes the peer only from the wire. A check whose precondition failed (no link,
no identity given) reports "not checked" with the reason, never "pass".
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import trio
from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.alerts.examples import ExampleAuthority, example_authority, example_nl_alert
from meshnode.alerts.model import Alert, Area
from meshnode.codec import WireError
from meshnode.conformance.peer import Heard, ReferencePeer
from meshnode.conformance.rawlink import RawLink
from meshnode.conformance.rules import RULES, Level, Rule, rule
from meshnode.crypto.identity import Identity, PublicIdentity
from meshnode.crypto.sealing import seal_dm
from meshnode.crypto.signing import create_post
from meshnode.events import DmDelivered, Refusal, Rejected, SyncFinished
from meshnode.routing.frames import Hello, Msg, Recon, Want, blind_digest, encode_frame
from meshnode.transport.udp import Endpoint, new_cid
from meshnode.transport.udpwire import (
    MAX_DATAGRAM,
    Accept,
    Ack,
    Challenge,
    Close,
    Connect,
    Data,
    Datagram,
    Probe,
    encode,
)
from meshnode.wire import (
    Kind,
    Message,
    ReceiptBody,
    Routing,
    decode_body,
    decode_message,
    encode_message,
)

__all__ = ["ISSUER_ID", "Options", "Outcome", "Report", "Status", "load_authority",
           "run_conformance"]

ISSUER_ID = "conformance"
_MUST_REFUSE_SEQS = {23: 900, 24: 901, 25: 902, 26: 903}


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"  # a SHOULD that failed
    SKIP = "not checked"


@dataclass(frozen=True, slots=True)
class Outcome:
    rule: Rule
    status: Status
    detail: str = ""


@dataclass
class Report:
    target: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(o.status is Status.FAIL for o in self.outcomes)

    def as_json(self) -> dict[str, Any]:
        return {"target": self.target, "passed": not self.failed,
                "counts": {s.value: sum(o.status is s for o in self.outcomes) for s in Status},
                "rules": [{"number": o.rule.number, "section": o.rule.section,
                           "level": o.rule.level.value, "claim": o.rule.claim,
                           "status": o.status.value, "detail": o.detail}
                          for o in self.outcomes]}

    def as_text(self) -> str:
        lines = [f"meshnode conformance against {self.target}", ""]
        for o in self.outcomes:
            lines.append(f"{o.rule.number:3}. [{o.status.value.upper():^11}] {o.rule.section:11}"
                         f" {o.rule.level.value:6} {o.rule.claim}")
            if o.detail:
                lines.append(f"{'':22}{o.detail}")
        counts = ", ".join(f"{sum(o.status is s for o in self.outcomes)} {s.value}"
                           for s in Status)
        lines += ["", f"{counts}: {'FAILED' if self.failed else 'conformant on every rule run'}"]
        return "\n".join(lines)


@dataclass(frozen=True)
class Options:
    """What to run against. `peer_identity`: the implementation's public keys, for the DM
    rule. `sources`: local addresses, the first for the session and one per hostile link.

    The timeouts bound how long the runner waits for something the peer owes it; a wait ends
    as soon as the thing comes (or, on the reference link, when the link goes down), so a
    conformant peer never costs them. Only a peer that stalls does, once per wait:
    `link_timeout` for the reference link to come up (rules 14, 32), `frame_timeout` for
    the peer's first frame on it and for its Hello in each new exchange (rules 15, 19, 31),
    `session_timeout` for an exchange to end (rules 17, 18, 30-32), `receipt_timeout` after
    the first exchange for the receipt of the runner's DM (rule 21)."""

    target: Endpoint
    authority: ExampleAuthority
    peer_identity: PublicIdentity | None = None
    posts: int = 2_000
    sources: tuple[str, ...] = ("127.0.0.1",)
    late_posts: int = 25  # new to the peer in the second exchange (rule 30)
    session_timeout: float = 60.0
    link_timeout: float = 12.0
    frame_timeout: float = 10.0
    receipt_timeout: float = 20.0


def load_authority(folder: os.PathLike[str] | str) -> ExampleAuthority:
    """The test authority kept in `folder`: its root key is made once (root.key, private,
    mode 0600) with its public file root.pub, the one to pin; a fresh certificate for the
    issuer `conformance`, valid now, is made on every run.

    Raises `ValueError` when root.key is not such a test key, e.g. a real authority's root
    made by `meshnode authority init-root`: the runner certifies a throwaway issuer with the
    root it is given, which no real root may ever do."""
    from pathlib import Path

    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    key_file = path / "root.key"
    if key_file.exists():
        raw = key_file.read_bytes()
        if len(raw) != 32:
            raise ValueError(
                f"{key_file} is not a conformance test root (a real authority's root key, "
                f"made by `meshnode authority init-root`?); the runner certifies a test "
                f"issuer with it, so give --authority a new folder and it makes its own")
        root = ed25519.Ed25519PrivateKey.from_private_bytes(raw)
    else:
        root = ed25519.Ed25519PrivateKey.generate()
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(root.private_bytes_raw())
    authority = example_authority(int(time.time()), root=root, issuer_id=ISSUER_ID,
                                  root_name="meshnode conformance root (test only)",
                                  issuer_name="meshnode conformance issuer")
    if not (path / "root.pub").exists():
        authority.write_root(path / "root.pub")
    return authority


def sources_for(target: Endpoint, given: str | None) -> tuple[str, ...]:
    """The session's address first, then one per hostile link: other loopback addresses
    when the target is on loopback (so a penalty of §13.6 on one does not hide the next)."""
    if given:
        return (given,)
    try:
        loopback = ipaddress.ip_address(target.host).is_loopback
    except ValueError:
        loopback = target.host == "localhost"
    if loopback:
        return tuple(f"127.0.0.{i}" for i in range(1, 6))
    return ("0.0.0.0",)


async def run_conformance(options: Options) -> Report:
    report = Report(str(options.target))
    checks = _Checks(options, report)
    await checks.link_rules()
    await checks.session_rules()
    await checks.hostile_frame_rules()
    checks.datagram_size_rule()
    reported = {o.rule.number for o in report.outcomes}
    checks.skip((r.number for r in RULES if r.number not in reported), "not reached")
    report.outcomes.sort(key=lambda o: o.rule.number)
    return report


def _flip(msg: Message) -> bytes:
    """`msg` with one bit of its signature flipped: the same id, a signature that fails."""
    sig = bytes((msg.sig[0] ^ 0x01,)) + msg.sig[1:]
    return encode_message(dataclasses.replace(msg, sig=sig))


class _Checks:
    def __init__(self, options: Options, report: Report) -> None:
        self.o = options
        self.report = report
        self.addr = (options.target.host, options.target.port)
        self._sources = iter(options.sources[1:])
        self.oversized = 0  # datagrams over 1,200 bytes from the peer, on any link (rule 29)
        self.heard = 0  # datagrams from the peer, on any link
        self.given: set[bytes] = set()  # the posts the implementation was handed (rule 32)

    def record(self, number: int, ok: bool | None, detail: str = "") -> None:
        r = rule(number)
        if ok is None:
            status = Status.SKIP
        elif ok:
            status = Status.PASS
        else:
            status = Status.FAIL if r.level is Level.MUST else Status.WARN
        self.report.outcomes.append(Outcome(r, status, detail))

    def skip(self, numbers: Iterable[int], why: str) -> None:
        for n in numbers:
            self.record(n, None, why)

    def source(self) -> str:
        """A source address for a link that will be closed for misbehaviour."""
        return next(self._sources, self.o.sources[0])

    # --- 1. the handshake and datagrams ----------------------------------------------------

    async def link_rules(self) -> None:
        link = RawLink(self.o.sources[0], self.addr)
        await link.open()
        try:
            await self._handshake_rules(link)
        finally:
            if link.peer is not None:
                await link.send(Close())
            self._done_with(link)

    async def _handshake_rules(self, link: RawLink) -> None:
        await link.send(Probe(link.local), bytes(8))
        first = await link.listen(1.0)
        challenges = [h for h in first if h.datagram is not None
                      and isinstance(h.datagram.payload, Challenge)]
        if not challenges:
            self.record(1, False, f"no CHALLENGE within 1 s ({len(first)} other datagrams)")
            self.skip((*range(2, 11), 34), "no CHALLENGE to a PROBE")
            return
        c = challenges[0]
        assert c.datagram is not None and isinstance(c.datagram.payload, Challenge)
        self.record(1, len(challenges) == 1 and len(c.data) == 28
                    and c.datagram.cid == link.local,
                    f"{len(challenges)} CHALLENGE(s), {len(c.data)} bytes, cid "
                    f"{'ours' if c.datagram.cid == link.local else c.datagram.cid.hex()}")
        later = await link.listen(3.0)
        self.record(2, not later, f"{len(later)} datagram(s) after the CHALLENGE" if later else "")
        cookie = c.datagram.payload.cookie
        forged = bytes(b ^ 0xFF for b in cookie)
        await link.send(Connect(link.local, forged), bytes(8))
        answers = await link.listen(1.0)
        self.record(3, not answers, f"answered with {len(answers)} datagram(s)" if answers else "")
        if await link.connect(cookie) is None:
            self.record(4, False, "no ACCEPT within 3 s")
            self.skip((*range(5, 11), 34), "no link")
            return
        assert link.accept is not None
        self.record(4, len(link.accept) == 20, f"ACCEPT of {len(link.accept)} bytes")
        first_accept = link.accept
        await link.send(Connect(link.local, cookie), bytes(8))
        repeat = await link.wait_for(Accept, 1.0)
        again = repeat.data if repeat is not None else None
        self.record(5, again == first_accept,
                    "no ACCEPT to the repeat" if again is None
                    else "" if again == first_accept else "a different ACCEPT")
        await self._data_rules(link)

    async def _data_rules(self, link: RawLink) -> None:
        hello = encode_frame(Hello(nonce=os.urandom(8)))
        (seq0,) = link.datagrams([hello])
        await link.send_raw(seq0)
        acked = await link.acked(0, 2.0)
        self.record(6, acked, "" if acked else "no ACK with next > 0 within 2 s")
        if not acked:
            self.skip((*range(7, 11), 34), "DATA is not acknowledged")
            return
        await link.send_raw(seq0)  # a duplicate
        dup = await link.wait_for(Ack, 0.5)
        self.record(7, dup is not None, "" if dup else "no ACK within 0.5 s")
        # Each of rules 10 and 8 offers the next seq in a datagram that must be dropped; then
        # malformed datagrams, then a valid seq 1 (a duplicate if either was taken).
        assert link.peer is not None
        (seq1,) = link.datagrams([hello])
        wrong = bytearray(seq1)
        wrong[4:12] = new_cid()
        await link.send_raw(bytes(wrong))
        took = await link.acked(1, 1.0)
        self.record(10, not took, "DATA with a wrong cid was acknowledged" if took else "")
        # Oversized: one fragment of a 1,250-byte frame in a 1,285-byte datagram, with the
        # seq the peer expects (2 if it wrongly took rule 10's: each rule stands alone).
        big = bytes((0x30,)) + os.urandom(2) + b"\x91" + bytes(1_250)
        expected = link.next
        oversized = encode(Datagram(link.peer, Data(expected, (big,))))
        await link.send_raw(oversized)
        took = await link.acked(expected, 1.0)
        self.record(8, not took, f"a {len(oversized)}-byte datagram was acknowledged"
                    if took else f"{len(oversized)} bytes: not acknowledged")
        expected = link.next
        for bad in _malformed(link.peer, seq1, expected):
            await link.send_raw(bad)
        answers = [h for h in await link.listen(1.0)
                   if h.datagram is None or not isinstance(h.datagram.payload, Ack | Data)]
        taken = link.next > expected
        await link.send_raw(seq1)
        alive = await link.acked(1, 2.0)
        self.record(9, alive and not answers and not taken,
                    f"answered with {len(answers)} non-ACK datagram(s)" if answers
                    else f"a malformed DATA with seq {expected} was acknowledged" if taken
                    else "" if alive else "the link no longer acknowledges DATA")
        if alive:
            await self._ack_batch_rule(link)
        else:
            self.record(34, None, "the link no longer acknowledges DATA")

    async def _ack_batch_rule(self, link: RawLink, burst: int = 16) -> None:
        """A burst of DATA, one small frame each (a valid post: taken whenever it comes,
        §10.1 step 7), sent back to back: a receiver acknowledges the batch, not each one."""
        now = int(time.time())
        datagrams = [d for post in _posts(burst, now)
                     for d in link.datagrams([encode_frame(Msg(encode_message(post)))])]
        for datagram in datagrams:
            await link.send_raw(datagram)
        last = link.seq - 1
        acks = 0
        with trio.move_on_after(2.0):
            while link.next <= last:
                heard = await link.wait_for(Ack, 2.0)
                acks += heard is not None
        acks += sum(h.datagram is not None and isinstance(h.datagram.payload, Ack)
                    for h in await link.listen(0.2))
        self.record(34, link.next > last and acks < len(datagrams),
                    f"{acks} ACK(s) for {len(datagrams)} DATA datagrams sent back to back"
                    + ("" if link.next > last else "; not all were acknowledged"))

    # --- 2. a whole session ----------------------------------------------------------------

    async def session_rules(self) -> None:
        await self._with_peer(self._session)
        await self._with_peer(self._fresh_node_rule)

    async def _with_peer(self, play: Callable[[ReferencePeer], Awaitable[None]]) -> None:
        """Run `play` with a new reference node (its own key and store) linked to the target."""
        peer = ReferencePeer(Identity.generate(), self.o.authority.trust, self.o.sources[0],
                             self.o.target)
        async with trio.open_nursery() as nursery:
            await nursery.start(peer.run)
            try:
                await play(peer)
            finally:
                nursery.cancel_scope.cancel()
        peer.transport.close_sockets()
        self.oversized += peer.transport.counters["oversized"]
        self.heard += peer.transport.counters["datagrams_in"]

    async def _fresh_node_rule(self, peer: ReferencePeer) -> None:
        """A node with an empty store links from a new port: it should get every post the
        implementation took from the runner's first node (served, not just taken)."""
        if not self.given:
            self.skip((32, 33), "the implementation was given no posts")
            return
        if not await peer.wait(lambda: peer.link is not None, self.o.link_timeout):
            self.record(32, False, "a second link did not come up within "
                        f"{self.o.link_timeout:g} s")
            self.record(33, None, "no link")
            return
        ended = await peer.wait(lambda: _finished(peer) > 0, self.o.session_timeout)
        got = {i for i in self.given if peer.node.held.has(i)}  # taken: they verified
        frames, datagrams = (peer.transport.counters[k] for k in ("frames_in", "datagrams_in"))
        self.record(33, frames > datagrams, f"{frames} frames came in {datagrams} datagrams "
                    "(ACKs included)")
        self.record(32, ended and got == self.given,
                    f"{len(got)} of the {len(self.given)} posts it was given reached a fresh "
                    f"node and verified ({_recon(peer, 0)})"
                    + ("" if ended else "; the exchange did not end"))

    def _done_with(self, link: RawLink) -> None:
        self.oversized += sum(len(h.data) > MAX_DATAGRAM for h in link.heard)
        self.heard += len(link.heard)
        link.close()

    def datagram_size_rule(self) -> None:
        if not self.heard:
            self.record(29, None, "no datagram came from the peer")
            return
        self.record(29, not self.oversized, f"{self.oversized} datagram(s) over "
                    f"{MAX_DATAGRAM:,} bytes (the reference link drops them)"
                    if self.oversized else "")

    async def _session(self, peer: ReferencePeer) -> None:
        now = int(time.time())
        seeded = _Seed.make(self.o, now)
        for data in seeded.inject:
            verdict, _outputs = peer.node.inject(data, now)
            assert verdict.accepted, verdict
        dm_id = None
        if self.o.peer_identity is not None:
            result = peer.node.send_dm(self.o.peer_identity, "meshnode conformance DM", now)
            dm_id = result.verdict.msg_id
        session_rules = (*range(14, 29), 30, 31)
        if not await peer.wait(lambda: peer.link is not None, self.o.link_timeout):
            self.record(14, False, "the reference link did not come up within "
                        f"{self.o.link_timeout:g} s")
            self.skip(session_rules[1:], "no link")
            return
        self.record(14, True)
        if not await peer.wait(lambda: peer.of_peer(), self.o.frame_timeout):
            self.record(15, False, f"no frame within {self.o.frame_timeout:g} s of the link "
                        "coming up")
            self.skip(session_rules[2:], "the peer sent no frame")
            return
        first = peer.of_peer()[0].frame
        self.record(15, isinstance(first, Hello),
                    "" if isinstance(first, Hello) else f"first frame: {type(first).__name__}")
        # Hostile content on the live session: must-refuse alerts and a mis-signed post.
        for data in seeded.hostile:
            await peer.send_frame(encode_frame(Msg(data)))
        finished = await peer.wait(lambda: any(isinstance(o, SyncFinished)
                                               for o in peer.outputs), self.o.session_timeout)
        self.record(17, finished, "" if finished
                    else f"no Done from both sides within {self.o.session_timeout:g} s")
        if dm_id is not None:
            await peer.wait(_answered(peer, dm_id), self.o.receipt_timeout)
        await self._second_exchange(peer, seeded, dm_id, finished)

    async def _exchange(self, peer: ReferencePeer) -> tuple[Hello | None, bool]:
        """A new exchange on the link (§10.1): the peer's Hello in it, and whether it ended."""
        before = _finished(peer)
        await peer.resync()
        hello = await _peer_hello(peer, peer.session_no, self.o.frame_timeout)
        ended = hello is not None and await peer.wait(lambda: _finished(peer) > before,
                                                      self.o.session_timeout)
        return hello, ended

    async def _second_exchange(self, peer: ReferencePeer, seeded: _Seed, dm_id: bytes | None,
                               finished: bool) -> None:
        handed = set(_msg_ids(h for h in peer.frames if h.ours and h.session == 0))
        missing = len(seeded.post_ids - handed)
        self.given = seeded.post_ids & handed
        self.record(18, finished and not missing,
                    f"{len(seeded.post_ids) - missing} of {len(seeded.post_ids)} posts handed "
                    f"over in the first exchange ({_recon(peer, 0)})")
        # A few posts new to the peer among the thousands both now hold.
        now = int(time.time())
        # inject's outputs are not sent: the second exchange is to find these by reconciling.
        late = [m for m in _posts(self.o.late_posts, now)
                if peer.node.inject(encode_message(m), now).verdict.accepted]
        hello2, finished2 = await self._exchange(peer)
        self.record(19, hello2 is not None, "" if hello2 else
                    f"no Hello within {self.o.frame_timeout:g} s")
        if hello2 is None:
            self.skip((16, 20, 21, 22, 23, 24, 25, 26, 27, 28, 30, 31), "no second exchange")
            return
        self._near_equal_rule(peer, seeded, {m.id for m in late}, finished2)
        self.given |= {m.id for m in late} & set(_msg_ids(h for h in peer.frames if h.ours))
        hello3, finished3 = await self._exchange(peer)
        self._settled_rule(peer, seeded, hello3, finished3)
        self.record(20, bool(hello2.digest), "" if hello2.digest else "no field 7")
        bad = [h for h in peer.of_peer() if h.frame is None]
        self.record(16, not bad, f"{len(bad)} frame(s) did not decode: {bad[0].error}"
                    if bad else "")
        self._receipt_rule(peer, dm_id)
        self._alert_rules(hello2)
        held = set(_msg_ids(peer.of_peer(1)))
        asked = {i for h in peer.frames if h.ours and isinstance(h.frame, Want)
                 for i in h.frame.ids}
        offered = seeded.bad_post_id in held | asked
        self.record(27, not offered and finished,
                    "the peer offered it back" if offered else
                    "" if finished else "the first exchange did not finish")
        invalid = [o for o in peer.outputs if isinstance(o, Rejected)
                   and o.link is not None and o.refusal in (Refusal.MALFORMED, Refusal.INVALID)]
        self.record(28, not invalid, f"{len(invalid)} refused: {invalid[0].detail}"
                    if invalid else "")

    def _near_equal_rule(self, peer: ReferencePeer, seeded: _Seed, late: set[bytes],
                         finished: bool) -> None:
        wanted, pushed = _moved(peer, 1)
        moved = {*wanted, *pushed}
        again = seeded.post_ids & moved
        self.record(30, finished and late <= moved and not again,
                    f"{len(late & moved)} of {len(late)} new posts and {len(again)} of the "
                    f"{len(seeded.post_ids)} it holds wanted or pushed ({_recon(peer, 1)})"
                    + ("" if finished else "; the exchange did not end"))

    def _settled_rule(self, peer: ReferencePeer, seeded: _Seed, hello: Hello | None,
                      finished: bool) -> None:
        if hello is None:
            self.record(31, False, "no Hello in a third exchange within "
                        f"{self.o.frame_timeout:g} s")
            return
        session = peer.session()
        ours = session.digest if session is not None else b""
        equal = bool(hello.digest) and hello.digest == blind_digest(hello.nonce, ours)
        # Only the seeded posts count: a DM pushed again because its receipt was refused
        # (rule 21) is not a reconciliation failure.
        wanted, pushed = _moved(peer, peer.session_no)
        again = seeded.post_ids & {*wanted, *pushed}
        self.record(31, equal or (finished and not again),
                    "equal digests" if equal else
                    f"{len(again)} of the runner's posts wanted or pushed again; wanted by "
                    f"the peer: {_kinds(peer, wanted)}; pushed to it: {_kinds(peer, pushed)}"
                    + ("" if finished else "; the exchange did not end"))

    def _receipt_rule(self, peer: ReferencePeer, dm_id: bytes | None) -> None:
        if dm_id is None:
            self.record(21, None, "the implementation's identity was not given (--peer-key)")
            return
        receipts = [m for m in _messages(peer.of_peer()) if _receipt_for(m) == dm_id]
        delivered = any(isinstance(o, DmDelivered) and o.dm_id == dm_id for o in peer.outputs)
        self.record(21, delivered, "" if delivered else
                    f"{len(receipts)} receipt(s) for the DM, none accepted")

    def _alert_rules(self, hello: Hello) -> None:
        seqs = {s for issuer, listed in hello.alerts if issuer == ISSUER_ID for s in listed}
        self.record(22, 1 in seqs, "" if 1 in seqs else
                    f"field 5 lists {sorted(seqs) or 'no alert'} of issuer {ISSUER_ID!r} (is "
                    "the test root pinned?)")
        for number, seq in _MUST_REFUSE_SEQS.items():
            self.record(number, seq not in seqs, f"field 5 lists seq {seq}"
                        if seq in seqs else "")

    # --- 3. hostile frames on links of their own ---------------------------------------------

    async def hostile_frame_rules(self) -> None:
        await self._hostile(11, [bytes(8_257)], "an 8,257-byte frame")
        await self._hostile(12, [b"\xc1"] * 64, "malformed frames", one_by_one=True)

    async def _hostile(self, number: int, frames: list[bytes], what: str, *,
                       one_by_one: bool = False) -> None:
        link = RawLink(self.source(), self.addr)
        await link.open()
        try:
            if not await link.handshake():
                self.record(number, None, "no link from " + link.source)
                if number == 12:
                    self.record(13, None, "no link")
                return
            sent = 0
            closed = False
            for batch in ([f] for f in frames) if one_by_one else [frames]:
                await link.send_frames(batch)
                sent += len(batch)
                if one_by_one:
                    await link.acked(link.seq - 1, 0.5)
                    closed = any(h.datagram is not None and isinstance(h.datagram.payload, Close)
                                 for h in link.heard)
                    if closed:
                        break
            closed = closed or await link.closed(3.0)
            self.record(number, closed, f"CLOSE after {sent} {what}" if closed and one_by_one
                        else "" if closed else f"no CLOSE after {sent} {what}")
            if number == 12 and closed:
                await self._penalty_rule(link)
            elif number == 12:
                self.record(13, None, "the link was not closed")
        finally:
            self._done_with(link)

    async def _penalty_rule(self, closed: RawLink) -> None:
        again = RawLink(closed.source, self.addr)
        await again.open()
        try:
            await again.send(Probe(again.local), bytes(8))
            heard = await again.wait_for(Challenge, 1.0)
            self.record(13, heard is None, "a CHALLENGE came at once" if heard else "")
        finally:
            self._done_with(again)


async def _peer_hello(peer: ReferencePeer, session: int, seconds: float) -> Hello | None:
    def hello() -> Hello | None:
        return next((h.frame for h in peer.of_peer(session) if isinstance(h.frame, Hello)), None)

    await peer.wait(lambda: hello() is not None, seconds)
    return hello()


def _answered(peer: ReferencePeer, dm_id: bytes) -> Callable[[], bool]:
    """Whether the DM `dm_id` was delivered, or the peer sent a receipt for it at all: the
    runner's node has then judged it (taken, or refused as rule 21 reports), and waiting
    longer would only wait out a peer that already answered. Reads each frame once."""
    seen = 0
    receipt = False

    def answered() -> bool:
        nonlocal seen, receipt
        heard = peer.of_peer()
        receipt = receipt or any(_receipt_for(m) == dm_id for m in _messages(heard[seen:]))
        seen = len(heard)
        return receipt or any(isinstance(o, DmDelivered) and o.dm_id == dm_id
                              for o in peer.outputs)

    return answered


def _kinds(peer: ReferencePeer, ids: Iterable[bytes]) -> str:
    """The kinds of `ids` as the runner's node holds them, counted: "post 2, dm 1"."""
    counts: dict[str, int] = {}
    for msg_id in ids:
        held = peer.node.held.get(msg_id)
        name = Kind(held.kind).name.lower() if held is not None else "not held"
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def _messages(heard: Iterable[Heard]) -> list[Message]:
    """The messages in the Msg frames among `heard` that decode (rule 28 reports the rest)."""
    out = []
    for h in heard:
        if isinstance(h.frame, Msg):
            try:
                out.append(decode_message(h.frame.data))
            except WireError:
                continue
    return out


def _msg_ids(heard: Iterable[Heard]) -> list[bytes]:
    return [m.id for m in _messages(heard)]


def _receipt_for(msg: Message) -> bytes | None:
    """The DM id a receipt answers, or None (not a receipt, or one that does not decode)."""
    if msg.kind != Kind.RECEIPT:
        return None
    try:
        body = decode_body(Kind.RECEIPT, msg.body)
    except WireError:
        return None
    return body.dm_id if isinstance(body, ReceiptBody) else None


def _recon(peer: ReferencePeer, session: int) -> str:
    """How many Recon frames went each way in one of our sessions."""
    to, fro = (sum(isinstance(h.frame, Recon) and h.ours is ours and h.session == session
                   for h in peer.frames) for ours in (True, False))
    return f"{to} Recon frames to the peer, {fro} from it"


def _moved(peer: ReferencePeer, session: int) -> tuple[list[bytes], list[bytes]]:
    """The ids the peer wanted in one of our sessions, and the ids of the messages we sent."""
    wanted = [i for h in peer.of_peer(session) if isinstance(h.frame, Want) for i in h.frame.ids]
    return wanted, _msg_ids(h for h in peer.frames if h.ours and h.session == session)


def _finished(peer: ReferencePeer) -> int:
    return sum(isinstance(o, SyncFinished) for o in peer.outputs)


def _malformed(cid: bytes, data: bytes, seq: int) -> list[bytes]:
    """Datagrams a receiver must drop, on the link's own cid (§13.1, vectors in §13.10):
    `data` is a valid DATA datagram, `seq` the one the receiver expects."""
    header = b"MN\x02\x05" + cid + seq.to_bytes(8, "big")
    return [
        b"MN\x01" + data[3:],  # version 1
        b"MN\x02\x09" + cid,  # unknown type
        header + data[22:],  # a bare fragment: no chunk length
        header + b"\x00\x0e" + b"\x30\x12",  # chunk past the end
    ]


@dataclass
class _Seed:
    """What the runner's node holds before the session, and what it pushes that must fail."""

    inject: list[bytes]
    hostile: list[bytes]
    bad_post_id: bytes
    post_ids: set[bytes]

    @classmethod
    def make(cls, options: Options, now: int) -> _Seed:
        authority = options.authority
        posts = _posts(options.posts, now)
        inject = [encode_message(m) for m in posts]
        third = Identity.generate()
        sealed = Identity.generate()
        # A DM between two others, with copies to spare (§10.1 step 5: with one copy only
        # its destination may have it), so that the peer carries it as a relay.
        relayed = seal_dm(third, sealed.public, "for someone else", now)
        inject.append(encode_message(relayed.with_routing(Routing(16, 8))))
        inject.append(encode_message(authority.alert(now, seq=1, identifier=f"conf.{now}.1")))
        rogue = example_authority(now, issuer_id=ISSUER_ID)
        hostile = [
            encode_message(rogue.alert(now, seq=900, identifier=f"conf.{now}.900")),
            _flip(authority.alert(now, seq=901, identifier=f"conf.{now}.901")),
            encode_message(authority.alert(now, seq=902, identifier=f"conf.{now}.902",
                                           alert=example_nl_alert(now - 7_200, lifetime=3_600))),
            encode_message(authority.alert(now, seq=903, identifier=f"conf.{now}.903",
                                           alert=_elsewhere(example_nl_alert(now)))),
        ]
        bad = create_post(Identity.generate(), "conformance", "mis-signed", now)
        hostile.append(_flip(bad))
        return cls(inject, hostile, bad.id, {m.id for m in posts})


# A square around Groningen, far outside the test certificate's Rijnmond polygon.
_GRONINGEN = ((532_500_000, 65_000_000), (532_500_000, 66_500_000),
              (531_500_000, 66_500_000), (531_500_000, 65_000_000))


def _elsewhere(alert: Alert) -> Alert:
    """`alert` with every area moved to Groningen."""
    area = Area(area_desc="Groningen", polygons=(_GRONINGEN,))
    return dataclasses.replace(alert, infos=tuple(
        dataclasses.replace(info, areas=(area,)) for info in alert.infos))


def _posts(count: int, now: int, per_author: int = 50) -> list[Message]:
    out = []
    author = Identity.generate()
    for i in range(count):
        if i % per_author == 0:
            author = Identity.generate()
        out.append(create_post(author, "conformance", f"conformance post {i}", now - i % 600))
    return out



