"""The sans-IO alert gateway: a hub's verified alerts become signed bitchat chat messages.

Time is driven (the gateway reads no clock); every packet is read back with the separate
reference receiver of tests/transport/bitchat/reference.py.
"""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from meshnode import wire
from meshnode.alerts.model import MsgType, Reference, Scope, Status
from meshnode.crypto.identity import Identity
from meshnode.events import AlertReceived, Output
from meshnode.node import Node, NodeConfig
from meshnode.store.memory import MemoryStore
from meshnode.transport.bitchat.codec import decode_packet, encode_packet
from meshnode.transport.bitchat.gateway import AlertGateway, GatewayConfig
from meshnode.transport.bitchat.identity import BitchatIdentity
from meshnode.transport.bitchat.render import MAX_FRAME, MAX_TEXT_BYTES, split_text
from tests.crypto.chain import NOW, Chain, make_chain, nl_alert
from tests.transport.bitchat import reference

CONFIG = GatewayConfig(first_repeat=60.0, max_repeat=480.0, announce_every=15.0,
                       announce_jitter=0.0)


def make_hub() -> tuple[Chain, Node, AlertGateway]:
    """A safety region's chain, a hub pinning its root, and the hub's bitchat gateway."""
    chain = make_chain()
    hub = Node(Identity.generate(), MemoryStore(4 * 1024 * 1024), chain.trust, NOW,
               NodeConfig(seed=1))
    return chain, hub, AlertGateway(BitchatIdentity(Identity.generate(), "steunpunt"), CONFIG,
                                    rng=random.Random(1))


def run(gateway: AlertGateway, start: float, until: float,
        floor: float | None = None) -> list[tuple[float, bytes]]:
    """Drive the gateway from `start` to `until`, waking when it asks; (time, bytes) sent."""
    sent: list[tuple[float, bytes]] = []
    now = start
    for _ in range(100_000):
        step = gateway.step(now, clock_floor=floor if floor is not None else now)
        sent += [(now, encode_packet(p)) for p in step.packets]
        assert step.wake_at > now or step.packets, "a wake-up that does nothing"
        if step.wake_at > until:
            return sent
        now = max(step.wake_at, now)
    raise AssertionError("the gateway kept waking")


def heard(sent: list[tuple[float, bytes]]) -> list[tuple[float, reference.Heard]]:
    return [(t, reference.parse(data)) for t, data in sent]


def unpadded(sent: list[tuple[float, bytes]]) -> list[bytes]:
    return [encode_packet(decode_packet(data), padded=False) for _, data in sent]


def texts(sent: list[tuple[float, bytes]]) -> list[str]:
    return [h.payload.decode() for _, h in heard(sent) if h.type == 0x02]


def test_injected_alert_comes_out_signed_in_short_messages_verifiable_by_the_announced_key(
) -> None:
    chain, hub, gateway = make_hub()
    alert = chain.alert()
    gateway.observe(hub.inject(wire.encode_message(alert), NOW).outputs, NOW)
    gateway_sent = run(gateway, NOW, NOW + 30)
    sent = heard(gateway_sent)
    announces = [h for _, h in sent if h.type == 0x01]
    nickname, _, signing = reference.announced_keys(announces[0])
    assert nickname == "steunpunt"
    messages = [h for _, h in sent if h.type == 0x02]
    assert messages
    assert all(len(data) <= MAX_FRAME for data in unpadded(gateway_sent))
    for h in messages:
        assert len(h.payload) <= MAX_TEXT_BYTES <= 99
        assert h.sender == announces[0].sender
        assert reference.verifies(h, signing)
    body = "\n".join(h.payload.decode() for h in messages)
    original = nl_alert()
    assert original.infos[0].headline is not None and original.infos[1].headline is not None
    flat = " ".join(body.split())
    for needle in ("NL-Alert", "Grote brand in Rotterdam-Botlek", "Large fire in Rotterdam",
                   "Wat moet u doen?", "What should you do?",
                   f"verified: {chain.cert.name}, certified by Test root, id {alert.id.hex()[:16]}",
                   f"geverifieerd: {chain.cert.name}, gecertificeerd door Test root"):
        assert " ".join(needle.split()) in flat.replace("\n", " ")


def test_forged_alerts_are_never_broadcast() -> None:
    chain, hub, gateway = make_hub()
    stranger = make_chain()
    good = chain.alert()
    tampered = replace(good, sig=bytes(64))
    outputs: list[Output] = []
    for forged in (stranger.alert(), tampered):  # a root not pinned here; a bad signature
        verdict, out = hub.inject(wire.encode_message(forged), NOW)
        assert not verdict.accepted
        outputs += out
    gateway.observe(outputs, NOW)
    sent = run(gateway, NOW, NOW + 3600)
    assert texts(sent) == [] and gateway.in_force == []
    assert not any(isinstance(o, AlertReceived) for o in outputs)
    # The same hub and gateway do broadcast the genuine alert.
    gateway.observe(hub.inject(wire.encode_message(good), NOW + 3600).outputs, NOW + 3600)
    assert texts(run(gateway, NOW + 3600, NOW + 3700))


def test_phones_rate_limits_never_drop_a_message() -> None:
    chain, hub, gateway = make_hub()
    for seq in (1, 2, 3):
        alert = chain.alert(nl_alert(identifier=f"a{seq}"), seq=seq)
        gateway.observe(hub.inject(wire.encode_message(alert), NOW).outputs, NOW)
    sent = heard(run(gateway, NOW, NOW + 2 * 3600))
    phone = reference.PhoneLimiter()
    messages = [(t, h) for t, h in sent if h.type == 0x02]
    assert len(messages) > 5 * 3
    for t, h in messages:
        assert phone.allow(h.sender.hex(), h.payload.decode(), t), f"dropped at {t - NOW}"
    # A burst of at most 5 at once; after it, at least a second apart on average.
    first_second = [t for t, _ in messages if t < NOW + 1]
    assert len(first_second) <= 5


def test_repeats_back_off_and_stop_at_expiry() -> None:
    chain, hub, gateway = make_hub()
    gateway.observe(hub.inject(wire.encode_message(chain.alert()), NOW).outputs, NOW)
    sent = heard(run(gateway, NOW, NOW + 8 * 3600))
    first = [t - NOW for t, h in sent if h.type == 0x02 and h.payload.startswith(b"1/")]
    starts = sorted({round(t) for t in first})
    # Dutch and English rounds start together; gaps double from 60 s up to the cap, 480 s.
    gaps = [b - a for a, b in zip(starts[::2], starts[2::2], strict=False)]
    assert gaps[:4] == [60, 120, 240, 480] and set(gaps[4:]) == {480}
    assert max(first) < 6 * 3600  # the example alert expires after six hours


def test_cancel_stops_the_alert_and_is_broadcast_itself() -> None:
    chain, hub, gateway = make_hub()
    first = chain.alert(seq=1)
    gateway.observe(hub.inject(wire.encode_message(first), NOW).outputs, NOW)
    run(gateway, NOW, NOW + 10)
    original = nl_alert()
    cancel = chain.alert(nl_alert(identifier="cancel-1", msg_type=MsgType.CANCEL,
                                  references=(Reference(original.sender, original.identifier,
                                                        original.sent),)), seq=2)
    gateway.observe(hub.inject(wire.encode_message(cancel), NOW + 100).outputs, NOW + 100)
    assert gateway.in_force == [cancel.id]
    after = texts(run(gateway, NOW + 100, NOW + 3600))
    assert any("INGETROKKEN" in t for t in after) and any("CANCELLED" in t for t in after)
    assert not any(first.id.hex()[:16] in t for t in after)


def test_clock_behind_its_floor_is_stamped_with_the_floor_and_warned() -> None:
    _, _, gateway = make_hub()
    floor = NOW + 7 * 3600
    step = gateway.step(NOW, clock_floor=floor)
    assert step.warnings and "behind its floor" in step.warnings[0]
    assert reference.parse(encode_packet(step.packets[0])).timestamp >= floor * 1000


def test_without_a_floor_the_gateway_warns_once() -> None:
    _, _, gateway = make_hub()
    assert gateway.step(NOW).warnings
    assert not gateway.step(NOW + 20).warnings


@given(st.text(max_size=400), st.integers(4, 99))
def test_split_text_never_exceeds_the_limit_nor_loses_words(text: str, limit: int) -> None:
    words = " ".join(text.split())
    pieces = split_text(words, limit)
    assert all(len(p.encode("utf-8")) <= limit for p in pieces)
    assert "".join(pieces).replace(" ", "") == words.replace(" ", "")


def test_only_public_actual_or_exercise_alerts_go_to_the_public_chat() -> None:
    chain, hub, gateway = make_hub()
    kinds = [(Status.TEST, Scope.PUBLIC), (Status.ACTUAL, Scope.RESTRICTED),
             (Status.EXERCISE, Scope.PUBLIC)]
    for seq, (status, scope) in enumerate(kinds, 1):
        alert = chain.alert(nl_alert(identifier=f"k{seq}", status=status, scope=scope,
                                     restriction="hulpdiensten" if scope is Scope.RESTRICTED
                                     else None), seq=seq)
        outputs = hub.inject(wire.encode_message(alert), NOW).outputs
        assert any(isinstance(o, AlertReceived) for o in outputs)  # the node took each
        gateway.observe(outputs, NOW)
    sent = texts(run(gateway, NOW, NOW + 30))
    assert len(gateway.in_force) == 1  # the exercise only
    firsts = [t.split(" ", 1)[1] for t in sent if t.startswith("1/")]
    assert firsts[0].startswith("NL-Alert OEFENING ")
    assert firsts[1].startswith("NL-Alert EXERCISE ")


def test_an_alert_known_not_to_cover_the_hub_is_left_out() -> None:
    chain = make_chain()
    gateways = {}
    for name, location in (("botlek", (518_800_000, 43_000_000)),
                           ("groningen", (532_190_000, 65_660_000)), ("unknown", None)):
        hub = Node(Identity.generate(), MemoryStore(4 * 1024 * 1024), chain.trust, NOW,
                   NodeConfig(seed=1, location=location))
        gateway = AlertGateway(BitchatIdentity(Identity.generate(), "steunpunt"), CONFIG)
        gateway.observe(hub.inject(wire.encode_message(chain.alert()), NOW).outputs, NOW)
        gateways[name] = len(gateway.in_force)
    assert gateways == {"botlek": 1, "groningen": 0, "unknown": 1}
