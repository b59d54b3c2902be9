"""The alert model: CAP enums, derived properties and one test per limit (at and over it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given

from meshnode.alerts import model as m
from meshnode.alerts.examples import example_nl_alert
from meshnode.alerts.model import (
    Alert,
    AlertLimitError,
    Area,
    CapEnum,
    Category,
    Certainty,
    Circle,
    Info,
    MsgType,
    Reference,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
    alert_problems,
    check_alert,
)
from meshnode.codec import WireError
from tests.alerts.strategies import alerts

NOW = 1_790_000_000
BASE = example_nl_alert(NOW)


def with_info(change: Callable[[Info], Info]) -> Alert:
    return replace(BASE, infos=(change(BASE.infos[0]), *BASE.infos[1:]))


def with_area(change: Callable[[Area], Area]) -> Alert:
    return with_info(lambda n: replace(n, areas=(change(n.areas[0]),)))


def wheres(alert: Alert) -> list[str]:
    return [p.where for p in alert_problems(alert)]


def square(n: int) -> tuple[tuple[int, int], ...]:
    return tuple((519_000_000 + i, 43_000_000 + i * i) for i in range(n))


@pytest.mark.parametrize("enum", [Status, MsgType, Scope, Category, ResponseType, Urgency,
                                  Severity, Certainty])
def test_every_enum_member_round_trips_through_its_cap_spelling(enum: type[CapEnum]) -> None:
    for member in enum:
        assert enum.from_cap(member.cap) is member
    with pytest.raises(ValueError, match="not a CAP 1.2"):
        enum.from_cap("actual")  # CAP values are case-sensitive


def test_cap_spellings_of_multi_word_and_acronym_members() -> None:
    assert ResponseType.ALL_CLEAR.cap == "AllClear"
    assert Category.CBRNE.cap == "CBRNE"
    assert Category.ENV.cap == "Env"
    assert MsgType.ACK.cap == "Ack"


def test_severity_orders_from_unknown_to_extreme_for_issuer_limits() -> None:
    ordered = [Severity.UNKNOWN, Severity.MINOR, Severity.MODERATE, Severity.SEVERE,
               Severity.EXTREME]
    assert sorted(Severity) == ordered
    assert Severity.SEVERE > Severity.MODERATE
    assert sorted(Urgency)[-1] is Urgency.IMMEDIATE
    assert sorted(Certainty)[-1] is Certainty.OBSERVED


def test_derived_properties() -> None:
    later = replace(BASE.infos[1], expires=BASE.infos[0].expires + 60,
                    severity=Severity.EXTREME)
    alert = replace(BASE, infos=(BASE.infos[0], later))
    assert alert.expires == later.expires
    assert alert.max_severity is Severity.EXTREME
    assert alert.areas == (BASE.infos[0].areas[0], later.areas[0])
    cancel = replace(BASE, msg_type=MsgType.CANCEL, infos=())
    assert cancel.expires is None and cancel.max_severity is None and cancel.areas == ()


@given(alerts())
def test_generated_alerts_are_valid(alert: Alert) -> None:
    check_alert(alert)


def test_example_is_valid() -> None:
    assert alert_problems(BASE) == ()


def test_limit_error_is_a_wire_error_listing_every_problem() -> None:
    bad = replace(BASE, identifier="has space", sender="")
    with pytest.raises(AlertLimitError) as caught:
        check_alert(bad)
    assert isinstance(caught.value, WireError)
    assert [p.where for p in caught.value.problems] == ["identifier", "sender"]
    assert caught.value.field == "identifier"


def test_text_limit_counts_headline_description_and_instruction_together() -> None:
    def sized(total: int) -> Alert:
        return with_info(lambda n: replace(n, headline="H" * 95, description="D" * 1000,
                                           instruction="I" * (total - 1095)))

    assert alert_problems(sized(m.TEXT_MAX_CHARS)) == ()
    [problem] = alert_problems(sized(m.TEXT_MAX_CHARS + 1))
    assert problem.where == "info[0].text"
    assert f"{m.TEXT_MAX_CHARS + 1:,} characters" in problem.rule
    assert f"{m.TEXT_MAX_CHARS:,}" in problem.rule


def test_text_limit_counts_characters_not_bytes() -> None:
    alert = with_info(lambda n: replace(n, headline=None, instruction=None,
                                        description="é" * m.TEXT_MAX_CHARS))
    assert alert_problems(alert) == ()


# (name, build an alert with `count` items, where the problem is reported, the limit)
COUNT_LIMITS: list[tuple[str, Callable[[int], Alert], str, int]] = [
    ("infos", lambda k: replace(BASE, infos=(BASE.infos[0],) * k), "infos", m.MAX_INFOS),
    ("areas", lambda k: with_info(lambda n: replace(n, areas=n.areas * k)),
     "info[0].areas", m.MAX_AREAS),
    ("polygons", lambda k: with_area(lambda a: replace(a, polygons=a.polygons * k)),
     "info[0].area[0].polygons", m.MAX_POLYGONS),
    ("circles", lambda k: with_area(lambda a: replace(a, circles=(Circle(0, 0, 1),) * k)),
     "info[0].area[0].circles", m.MAX_CIRCLES),
    ("points", lambda k: with_area(lambda a: replace(a, polygons=(square(k),))),
     "info[0].area[0].polygon[0]", m.MAX_POLYGON_POINTS),
    ("geocodes", lambda k: with_area(lambda a: replace(a, geocodes=(("CBS", "GM0599"),) * k)),
     "info[0].area[0].geocodes", m.MAX_GEOCODES),
    ("parameters", lambda k: with_info(lambda n: replace(n, parameters=(("a", "b"),) * k)),
     "info[0].parameters", m.MAX_PARAMETERS),
    ("event codes", lambda k: with_info(lambda n: replace(n, event_codes=(("a", "b"),) * k)),
     "info[0].event_codes", m.MAX_EVENT_CODES),
    ("categories", lambda k: with_info(lambda n: replace(n, categories=(Category.FIRE,) * k)),
     "info[0].categories", m.MAX_CATEGORIES),
    ("response types", lambda k: with_info(
        lambda n: replace(n, response_types=(ResponseType.SHELTER,) * k)),
     "info[0].response_types", m.MAX_RESPONSE_TYPES),
    ("references", lambda k: replace(BASE, references=(Reference("s", "i", NOW),) * k),
     "references", m.MAX_REFERENCES),
    ("codes", lambda k: replace(BASE, codes=("c",) * k), "codes", m.MAX_CODES),
]


@pytest.mark.parametrize(("build", "where", "limit"), [c[1:] for c in COUNT_LIMITS],
                         ids=[c[0] for c in COUNT_LIMITS])
def test_count_limit(build: Callable[[int], Alert], where: str, limit: int) -> None:
    assert alert_problems(build(limit)) == ()
    assert wheres(build(limit + 1)) == [where]


def test_polygon_needs_three_points() -> None:
    assert alert_problems(with_area(lambda a: replace(a, polygons=(square(3),)))) == ()
    assert wheres(with_area(lambda a: replace(a, polygons=(square(2),)))) == [
        "info[0].area[0].polygon[0]"]


def test_categories_need_at_least_one() -> None:
    assert wheres(with_info(lambda n: replace(n, categories=()))) == ["info[0].categories"]


# (name, field change that breaks one byte limit, where, limit in UTF-8 bytes)
BYTE_LIMITS: list[tuple[str, Callable[[str], Alert], str, int]] = [
    ("identifier", lambda t: replace(BASE, identifier=t), "identifier", m.ID_MAX),
    ("sender", lambda t: replace(BASE, sender=t), "sender", m.ID_MAX),
    ("source", lambda t: replace(BASE, source=t), "source", m.SHORT_MAX),
    ("note", lambda t: replace(BASE, note=t), "note", m.LONG_MAX),
    ("incidents", lambda t: replace(BASE, incidents=t), "incidents", m.LONG_MAX),
    ("event", lambda t: with_info(lambda n: replace(n, event=t)), "info[0].event", m.SHORT_MAX),
    ("sender_name", lambda t: with_info(lambda n: replace(n, sender_name=t)),
     "info[0].sender_name", m.SHORT_MAX),
    ("web", lambda t: with_info(lambda n: replace(n, web=t)), "info[0].web", m.LONG_MAX),
    ("parameter value", lambda t: with_info(lambda n: replace(n, parameters=(("x", t),))),
     "info[0].parameters[0].value", m.LONG_MAX),
    ("area_desc", lambda t: with_area(lambda a: replace(a, area_desc=t)),
     "info[0].area[0].area_desc", m.LONG_MAX),
    ("geocode value", lambda t: with_area(lambda a: replace(a, geocodes=(("x", t),))),
     "info[0].area[0].geocodes[0].value", m.SHORT_MAX),
]


@pytest.mark.parametrize(("build", "where", "limit"), [c[1:] for c in BYTE_LIMITS],
                         ids=[c[0] for c in BYTE_LIMITS])
def test_byte_limit(build: Callable[[str], Alert], where: str, limit: int) -> None:
    # "ë" is two bytes in UTF-8: the limits count bytes.
    assert alert_problems(build("ë" * (limit // 2))) == ()
    assert wheres(build("ë" * (limit // 2) + "e")) == [where]


def test_every_info_needs_an_expiry_but_an_info_less_cancel_has_none() -> None:
    assert wheres(replace(BASE, infos=())) == ["infos"]
    assert wheres(replace(BASE, msg_type=MsgType.UPDATE, infos=())) == ["infos"]
    for msg_type in (MsgType.CANCEL, MsgType.ACK, MsgType.ERROR):
        assert alert_problems(replace(BASE, msg_type=msg_type, infos=())) == ()


@pytest.mark.parametrize(("alert", "where"), [
    (replace(BASE, identifier="a,b"), "identifier"),
    (replace(BASE, sender="a b"), "sender"),
    (replace(BASE, references=(Reference("s<", "i", NOW),)), "references[0].sender"),
    (replace(BASE, note=" padded"), "note"),
    (replace(BASE, source=""), "source"),
    (replace(BASE, note="bell\x07"), "note"),
    (replace(BASE, note="\ufffe"), "note"),
    (replace(BASE, sent=-1), "sent"),
    (replace(BASE, sent=m.TIME_MAX + 1), "sent"),
    (replace(BASE, sent_tz=m.TZ_MAX + 1), "sent_tz"),
    (with_info(lambda n: replace(n, effective=None, effective_tz=60)), "info[0].effective_tz"),
    (with_info(lambda n: replace(n, language="nl_NL")), "info[0].language"),
    (with_info(lambda n: replace(n, web="https://x.example/a b")), "info[0].web"),
    (with_area(lambda a: replace(a, polygons=(((m.LAT_MAX + 1, 0), (0, 0), (0, 1)),))),
     "info[0].area[0].polygon[0][0].lat"),
    (with_area(lambda a: replace(a, circles=(Circle(0, m.LON_MAX + 1, 0),))),
     "info[0].area[0].circle[0].lon"),
    (with_area(lambda a: replace(a, circles=(Circle(0, 0, m.RADIUS_MAX + 1),))),
     "info[0].area[0].circle[0].radius"),
    (with_area(lambda a: replace(a, ceiling_ft_e4=10)), "info[0].area[0].ceiling_ft_e4"),
    (with_area(lambda a: replace(a, altitude_ft_e4=True)), "info[0].area[0].altitude_ft_e4"),
])
def test_cap_and_form_rules(alert: Alert, where: str) -> None:
    assert wheres(alert) == [where]
