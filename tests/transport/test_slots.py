"""The connection slot rule, row by row of its decision table (no connection, no radio)."""

from __future__ import annotations

import pytest

from meshnode.transport.ble_config import BleConfig, BleConfigError
from meshnode.transport.slots import Admit, Held, Role, SlotLimits, SlotRule, Verdict

C, P = Role.CENTRAL, Role.PERIPHERAL
HUB = SlotLimits.split(3, 2)
PHONE = SlotLimits.shared(2)
NOW = 100.0
RULE = SlotRule(idle_for=10.0, urgent_idle_for=0.0)


def held(*links: tuple[str, Role, float | None]) -> list[Held]:
    return [Held(name, role, since) for name, role, since in links]


# (case, limits, links held, newcomer's role, urgent, expected)
CASES: list[tuple[str, SlotLimits, list[Held], Role, bool, Admit]] = [
    ("a free slot takes the newcomer, whatever idles",
     HUB, held(("a", C, 0.0)), C, False, Admit(Verdict.FREE)),
    ("a full role with a link idle long enough gives it up",
     HUB, held(("a", P, 0.0), ("b", P, 50.0)), P, False, Admit(Verdict.EVICT, "a")),
    ("the longest-idle link goes, not the first listed",
     PHONE, held(("a", C, 80.0), ("b", P, 20.0)), C, False, Admit(Verdict.EVICT, "b")),
    ("a link carrying something is never given up",
     PHONE, held(("a", C, None), ("b", P, None)), C, False, Admit(Verdict.FULL)),
    ("a synced link that idled under idle_for is kept",
     PHONE, held(("a", C, 95.0), ("b", P, None)), P, False, Admit(Verdict.FULL)),
    ("while urgent a synced link goes at once",
     PHONE, held(("a", C, 99.5), ("b", P, None)), P, True, Admit(Verdict.EVICT, "a")),
    ("a full hub role gives up a link of that role only",
     HUB, held(("a", C, 0.0), ("b", C, None), ("c", C, None), ("d", P, None)), C, False,
     Admit(Verdict.EVICT, "a")),
    ("an idle link of the other role does not free a hub's full role",
     HUB, held(("a", C, None), ("b", C, None), ("c", C, None), ("d", P, 0.0)), C, False,
     Admit(Verdict.FULL)),
    ("a phone's shared slots: a link of either role makes room",
     PHONE, held(("a", P, 0.0), ("b", P, None)), C, False, Admit(Verdict.EVICT, "a")),
    ("exactly idle_for is long enough",
     PHONE, held(("a", C, 90.0), ("b", C, None)), C, False, Admit(Verdict.EVICT, "a")),
]


@pytest.mark.parametrize(("limits", "links", "role", "urgent", "expected"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_the_decision_table(limits: SlotLimits, links: list[Held], role: Role, urgent: bool,
                            expected: Admit) -> None:
    assert RULE.admit(limits, links, role, NOW, urgent) == expected
    # A device advertises (peripheral) or scans (central) exactly when it would take one.
    assert RULE.open_to(limits, links, role, NOW, urgent) is (expected.verdict
                                                              is not Verdict.FULL)


def test_switched_off_a_full_device_refuses_and_goes_quiet() -> None:
    off = SlotRule(enabled=False)
    links = held(("a", C, 0.0), ("b", P, 0.0))
    assert off.admit(PHONE, links, C, NOW, True) == Admit(Verdict.FULL)
    assert not off.open_to(PHONE, links, P, NOW, True)
    assert off.next_chance(PHONE, links, P, True) is None
    assert off.admit(PHONE, links[:1], C, NOW, False) == Admit(Verdict.FREE)


def test_next_chance_is_when_the_earliest_idle_link_may_go() -> None:
    links = held(("a", C, 95.0), ("b", P, 97.0))
    assert RULE.next_chance(PHONE, links, C, urgent=False) == 105.0
    assert RULE.next_chance(PHONE, links, C, urgent=True) == 95.0
    busy = held(("a", C, None), ("b", P, None))
    assert RULE.next_chance(PHONE, busy, C, urgent=False) is None
    # A hub's full central role waits for a central link, not the idle peripheral one.
    hub = held(("a", C, None), ("b", C, None), ("c", C, 97.0), ("d", P, 90.0))
    assert RULE.next_chance(HUB, hub, C, urgent=False) == 107.0


def test_limits_and_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="slot limits"):
        SlotLimits(-1, 2, 1)
    with pytest.raises(ValueError, match="idle_for"):
        SlotRule(idle_for=-1.0)
    with pytest.raises(BleConfigError, match="slot_idle_for"):
        BleConfig(slot_idle_for=-1.0)


def test_the_transport_config_gives_the_rule_its_settings() -> None:
    config = BleConfig.from_mapping({"slot_idle_for": 30, "slot_urgent_idle_for": 2.5,
                                     "slot_rule": False})
    assert config.slots == SlotRule(30.0, 2.5, enabled=False)
    assert BleConfig().slots == SlotRule()
