"""Requirements 2, 5 and 11 for authority alerts: forged, foreign, out-of-scope, extended,
replayed, rolled-back and cross-issuer alerts never reach a resident, a store or a relay.

Attacker: a phone app or modified node that hands alerts to a node over a sync link, and an
issuer whose key is real but whose certificate does not cover what it signs. Defence: the
node runs `verify_alert` (root pinned, certificate signature, issuer signature, validity,
scope, severity, types, references, sequence window) before it stores or relays anything
(`Node._accept_alert`, `meshnode/crypto/authority.py`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.alerts.model import Alert, Area, MsgType, Reference, Severity
from meshnode.codec import pack
from meshnode.crypto.authority import (
    IssuerCert,
    Level,
    create_revocation,
    decode_alert_body,
    encode_cert,
    issue_cert,
    sign_alert,
)
from meshnode.crypto.identity import Identity
from meshnode.events import AlertReceived, AlertRemoved, Rejected
from meshnode.node import Node
from meshnode.store.sqlite import SqliteStore
from meshnode.wire import Kind, Message, encode_message
from tests.attacks.peers import NOW, Bench
from tests.crypto.chain import Chain, make_chain, nl_alert

# Groningen: far outside Rotterdam-Rijnmond.
GRONINGEN = ((532_500_000, 65_000_000), (532_500_000, 66_000_000), (532_000_000, 66_000_000))


def watched(chain: Chain) -> Bench:
    """A node under attack from `evil`, with an honest, synced neighbour `watcher`."""
    bench = Bench.make(trust=chain.trust)
    bench.link("watcher")
    bench.link("evil")
    return bench


def elsewhere(alert: Alert) -> Alert:
    groningen = Area(area_desc="Groningen", polygons=(GRONINGEN,))
    infos = tuple(dataclasses.replace(i, areas=(groningen,)) for i in alert.infos)
    return dataclasses.replace(alert, infos=infos)


def everyone(alert: Alert) -> Alert:
    return dataclasses.replace(alert, infos=tuple(dataclasses.replace(i, areas=())
                                                  for i in alert.infos))


def second_info(alert: Alert, areas: tuple[Area, ...]) -> Alert:
    """The first language as the issuer wrote it, the second with `areas` instead: a relay's
    area check must not stop at the first language, nor count an area two languages share
    as the check of both."""
    first, *rest = alert.infos
    assert rest, "the example alert has a second language"
    return dataclasses.replace(alert, infos=(first, *(dataclasses.replace(i, areas=areas)
                                                      for i in rest)))


def with_body_field(msg: Message, **changes: object) -> Message:
    """The same signature over an altered alert body, as a forger would send it."""
    body = dataclasses.replace(decode_alert_body(msg.body), **changes)  # type: ignore[arg-type]
    data = pack({1: body.cert_body, 2: body.cert_sig, 3: body.seq, 4: body.expires, 5: body.cap})
    return Message(Kind.ALERT, data, msg.sig, msg.routing)


def widened_cert(chain: Chain) -> Message:
    """The issuer's certificate rewritten to cover the whole country, root signature kept."""
    whole = ((537_000_000, 33_000_000), (537_000_000, 72_000_000), (507_000_000, 72_000_000),
             (507_000_000, 33_000_000))
    cert = dataclasses.replace(chain.cert, polygons=(whole,))
    return Message(Kind.CERT, encode_cert(cert), chain.cert_msg.sig)


HOSTILE: dict[str, tuple[Callable[[Chain], Message], str]] = {
    "self-made root": (lambda c: make_chain().alert(), "unknown root"),
    "signed by a key the certificate does not name": (
        lambda c: c.alert(key=ed25519.Ed25519PrivateKey.generate()), "bad signature"),
    "certificate widened after signing": (
        lambda c: c.alert(elsewhere(nl_alert()), cert_msg=widened_cert(c)), "bad signature"),
    "area outside the issuer's scope": (lambda c: c.alert(elsewhere(nl_alert())),
                                        "area outside the issuer's scope"),
    "no area: addressed to the whole country": (lambda c: c.alert(everyone(nl_alert())),
                                                "area outside the issuer's scope"),
    "second language addressed to the whole country": (
        lambda c: c.alert(second_info(nl_alert(), ())), "area outside the issuer's scope"),
    "second language's area outside the issuer's scope": (
        lambda c: c.alert(second_info(nl_alert(), (Area(area_desc="Groningen",
                                                        polygons=(GRONINGEN,)),))),
        "area outside the issuer's scope"),
    "CAP sender the issuer may not use": (
        lambda c: c.alert(nl_alert(sender="nl-alert@rijksoverheid.example")),
        "CAP sender not covered"),
    "expiry extended by a relay": (
        lambda c: with_body_field(c.alert(), expires=NOW + 20 * 86_400), "bad signature"),
    "expiry past the certificate, by the issuer": (
        lambda c: c.alert(_lasting(40 * 86_400)), "certificate expired"),
    # Sent ahead of our clock but within its certificate, an alert proves the time has come
    # (the clock floor, tests/faults/test_clock_floor.py); beyond the certificate it does not.
    "sent after its certificate ends, by the issuer": (
        lambda c: c.alert(nl_alert(sent=NOW + 40 * 86_400)), "certificate expired"),
}


def _lasting(seconds: int) -> Alert:
    alert = nl_alert()
    return dataclasses.replace(alert, infos=tuple(
        dataclasses.replace(i, expires=NOW + seconds) for i in alert.infos))


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_hostile_alert_is_not_stored_shown_or_relayed(attack: str) -> None:
    chain = make_chain()
    make, reason = HOSTILE[attack]
    bench = watched(chain)
    hostile = make(chain)
    out = bench.send("evil", hostile)
    assert not bench.node.store.has(hostile.id)
    assert not any(isinstance(o, AlertReceived) for o in out)
    reasons = [o.reason for o in out if isinstance(o, Rejected)]
    assert len(reasons) == 1 and reason in reasons[0], reasons
    assert bench.msgs_to("watcher") == []
    # The same node takes the genuine alert from the same peer, and relays it at once.
    genuine = chain.alert()
    bench.send("evil", genuine)
    assert bench.node.store.has(genuine.id)
    assert bench.msgs_to("watcher") != []


def test_severity_and_message_type_stay_within_the_certificate() -> None:
    chain = make_chain(max_severity=Severity.MODERATE, msg_types=frozenset({MsgType.ALERT}))
    bench = watched(chain)
    severe = chain.alert()  # the example alert is Severe
    ref = Reference(nl_alert().sender, "x", NOW)
    cancel = chain.alert(nl_alert(identifier="c", msg_type=MsgType.CANCEL, infos=(),
                                  references=(ref,)), seq=2, expires=NOW + 3_600)
    reasons = [o.reason for m in (severe, cancel) for o in bench.send("evil", m)
               if isinstance(o, Rejected)]
    assert len(reasons) == 2
    assert "severity above the issuer's maximum" in reasons[0]
    assert "message type not allowed" in reasons[1]
    assert bench.node.store.usage().count == 0 and bench.msgs_to("watcher") == []


def test_replayed_and_rolled_back_alerts_change_nothing() -> None:
    """A recorded alert sent again, and an old sequence number re-used, are refused."""
    chain = make_chain()
    bench = watched(chain)
    first = chain.alert(seq=1_500)
    bench.send("evil", first)
    relayed = len(bench.msgs_to("watcher"))
    for _ in range(3):
        assert not any(isinstance(o, AlertReceived) for o in bench.send("evil", first))
    reuse = chain.alert(nl_alert(identifier="other"), seq=1_500)
    old = chain.alert(nl_alert(identifier="older"), seq=1_500 - 1_024)
    reasons = [o.reason for m in (reuse, old) for o in bench.send("evil", m)
               if isinstance(o, Rejected)]
    assert ["sequence number already used" in reasons[0],
            "older than the issuer's window" in reasons[1]] == [True, True]
    assert bench.node.store.usage().count == 1
    assert len(bench.msgs_to("watcher")) == relayed == 1


def municipality(chain: Chain, level: Level = Level.MUNICIPALITY) -> Chain:
    """Another issuer under the same root: a municipality (or, with `level`, national)."""
    key = ed25519.Ed25519PrivateKey.generate()
    cert = dataclasses.replace(chain.cert, serial=99, issuer_id=f"other-{int(level)}",
                               name="Gemeente", key=key.public_key().public_bytes_raw(),
                               senders=(f"alert@level{int(level)}.example",), level=level)
    return dataclasses.replace(chain, issuer=key, cert=cert, cert_msg=issue_cert(chain.root,
                                                                                  cert))


def cancel_of(issuer: Chain, target: Alert, seq: int, msg_type: MsgType = MsgType.CANCEL,
              sender: str | None = None) -> Message:
    ref = Reference(target.sender, target.identifier, target.sent)
    body = nl_alert(identifier=f"cancel-{seq}", sender=sender or issuer.cert.senders[0],
                    msg_type=msg_type, infos=(), references=(ref,))
    return sign_alert(issuer.issuer, issuer.cert_msg, body, seq, expires=NOW + 86_400)


def test_cancel_or_update_from_outside_the_issuers_authority_is_refused() -> None:
    region = make_chain()
    town = municipality(region)
    bench = watched(region)
    original = region.alert()
    bench.send("evil", original)
    extended = dataclasses.replace(nl_alert(), identifier="update-1", msg_type=MsgType.UPDATE,
                                   sender=town.cert.senders[0], references=(
                                       Reference(nl_alert().sender, nl_alert().identifier,
                                                 NOW),))
    attacks = [
        cancel_of(town, nl_alert(), 1),  # a lower level cancels the region's alert
        sign_alert(town.issuer, town.cert_msg, _with_sender(extended, town), 2),
        cancel_of(town, nl_alert(identifier="not-yet-seen"), 3),  # unknown alert, other sender
    ]
    for msg in attacks:
        out = bench.send("evil", msg)
        assert any(isinstance(o, Rejected) and "another issuer" in o.reason for o in out)
        assert not any(isinstance(o, AlertRemoved) for o in out)
    assert bench.node.store.has(original.id)
    assert len(bench.msgs_to("watcher")) == 1
    # Positive control: a national issuer above the region may cancel it.
    national = municipality(region, Level.NATIONAL)
    out = bench.send("evil", cancel_of(national, nl_alert(), 1))
    assert any(isinstance(o, AlertRemoved) for o in out)
    assert not bench.node.store.has(original.id)


def _with_sender(alert: Alert, issuer: Chain) -> Alert:
    return dataclasses.replace(alert, sender=issuer.cert.senders[0])


def test_cancelled_alert_replayed_after_a_restart_stays_cancelled(tmp_path: Path) -> None:
    """A recorded original replayed to a restarted phone whose seen-memory has moved on.

    Defence: the node rebuilds the set of superseded alerts from the Updates and Cancels it
    holds (`Node._load` via `_remember_alert`), not only from its bounded seen-memory.
    """
    chain = make_chain()
    identity = Identity.generate()
    store = SqliteStore(tmp_path / "store.db", 1 << 20, seen_capacity=64)
    node = Node(identity, store, chain.trust, NOW)
    original = chain.alert(seq=1)
    node.inject(encode_message(original), NOW)
    node.inject(encode_message(cancel_of(chain, nl_alert(), 2, sender=nl_alert().sender)),
                NOW + 60)
    assert not store.has(original.id)
    # The seen memory (64 ids here) moves on: other messages push the original's id out.
    # (Expired junk no longer can: refusals that depend on the clock are not remembered.)
    for i in range(100):
        store.mark_seen(i.to_bytes(16, "big"), NOW + 61)
    assert not store.seen(original.id)
    store.close()
    store = SqliteStore(tmp_path / "store.db", 1 << 20, seen_capacity=64)
    restarted = Node(identity, store, chain.trust, NOW + 120)
    out = restarted.inject(encode_message(original), NOW + 120).outputs
    assert not any(isinstance(o, AlertReceived) for o in out)
    assert not store.has(original.id)


def test_a_revoked_issuer_is_refused_and_its_alerts_withdrawn(tmp_path: Path) -> None:
    """Revocations are root-signed, applied before alerts, and survive a restart."""
    chain = make_chain()
    identity = Identity.generate()
    store = SqliteStore(tmp_path / "store.db", 1 << 20)
    node = Node(identity, store, chain.trust, NOW)
    held = chain.alert(seq=1)
    node.inject(encode_message(held), NOW)
    # Only the root can revoke: the issuer's own key (or anyone else's) cannot.
    fake = create_revocation(chain.issuer, [chain.cert.serial], NOW)
    node.inject(encode_message(fake), NOW)
    assert store.has(held.id)
    out = node.inject(encode_message(create_revocation(chain.root, [chain.cert.serial], NOW)),
                      NOW + 1).outputs
    assert any(isinstance(o, AlertRemoved) for o in out) and not store.has(held.id)
    later = chain.alert(nl_alert(identifier="after"), seq=2)
    assert any(isinstance(o, Rejected) and "revoked" in o.reason
               for o in node.inject(encode_message(later), NOW + 2).outputs)
    store.close()
    store = SqliteStore(tmp_path / "store.db", 1 << 20)
    restarted = Node(identity, store, chain.trust, NOW + 10)
    for msg in (held, later):
        out = restarted.inject(encode_message(msg), NOW + 10).outputs
        assert not any(isinstance(o, AlertReceived) for o in out)
    assert store.usage().by_kind == {int(Kind.REVOKE): 1}


def test_issuer_cert_is_not_a_root(tmp_path: Path) -> None:
    """A certified issuer cannot act as a root: certificates it signs are refused."""
    chain = make_chain()
    rogue_key = ed25519.Ed25519PrivateKey.generate()
    rogue = IssuerCert(serial=1, issuer_id="rogue", name="Rogue", key=rogue_key.public_key()
                       .public_bytes_raw(), root_id=bytes(16), not_before=NOW - 10,
                       not_after=NOW + 86_400, senders=(nl_alert().sender,),
                       polygons=chain.cert.polygons)
    cert_msg = issue_cert(chain.issuer, rogue)  # "root id" = the issuer's id
    bench = watched(chain)
    out = bench.send("evil", sign_alert(rogue_key, cert_msg, nl_alert(), 1))
    assert any(isinstance(o, Rejected) and "unknown root" in o.reason for o in out)
    out = bench.send("evil", cert_msg)
    assert any(isinstance(o, Rejected) for o in out)
    assert bench.node.store.usage().count == 0 and bench.msgs_to("watcher") == []
