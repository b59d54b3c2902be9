"""The CAP 1.2 alert model, with meshnode's limits on top of CAP's own rules.

Units: times are unix seconds (UTC) with the issuer's UTC offset kept in minutes (`*_tz`) so an
export writes the local time the issuer wrote; coordinates are degrees x 10^7 (as in OSM,
about 1 cm); circle radii are whole metres; altitude and ceiling are feet x 10^4 (CAP uses
decimal feet). Optional text is None when absent, never "", and no text has leading or
trailing white space (CAP XML import strips it), so every alert has exactly one form.

Limits (`alert_problems` reports every breach, `check_alert` raises the first):

* text per language: headline + description + instruction of one info together at most
  1,395 characters (Unicode code points), what one cell-broadcast message can show;
* every info has an `expires` (CAP leaves it optional); an alert without infos is allowed
  only for Cancel, Ack and Error, and then has no expiry of its own (`Alert.expires` is None);
* at most 4 infos (languages), 8 areas per info, 4 polygons and 4 circles per area, 64
  points per polygon (the closing point not counted; at least 3), 32 geocodes per area,
  48 parameters and 16 event codes per info, 16 references, 8 codes;
* field sizes in UTF-8 bytes: see the `*_MAX` constants;
* the compact body (meshnode.alerts.compact) at most 4,096 bytes, checked by its encoder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Self, TypeAlias

from meshnode.codec import WireError, check_int, check_text

__all__ = [
    "MAX_AREAS",
    "MAX_BODY",
    "MAX_INFOS",
    "MAX_POLYGON_POINTS",
    "TEXT_MAX_CHARS",
    "Alert",
    "AlertLimitError",
    "Area",
    "CapEnum",
    "Category",
    "Certainty",
    "Circle",
    "Info",
    "LatLon",
    "MsgType",
    "Pair",
    "Problem",
    "Reference",
    "ResponseType",
    "Ring",
    "Scope",
    "Severity",
    "Status",
    "Urgency",
    "alert_problems",
    "check_alert",
]

LatLon: TypeAlias = tuple[int, int]
"""A point: (latitude, longitude) in degrees x 10^7."""
Ring: TypeAlias = tuple[LatLon, ...]
"""A polygon's points in order, without CAP's repeated closing point."""
Pair: TypeAlias = tuple[str, str]
"""A CAP (valueName, value) pair: eventCode, parameter, geocode."""

# --- limits ----------------------------------------------------------------------------------

TEXT_MAX_CHARS = 1_395
MAX_BODY = 4_096
MAX_INFOS = 4
MAX_AREAS = 8
MAX_POLYGONS = 4
MAX_CIRCLES = 4
MAX_POLYGON_POINTS = 64
MIN_POLYGON_POINTS = 3
MAX_GEOCODES = 32
MAX_PARAMETERS = 48
MAX_EVENT_CODES = 16
MAX_REFERENCES = 16
MAX_CODES = 8
MAX_CATEGORIES = 12
MAX_RESPONSE_TYPES = 9

ID_MAX = 256  # identifier, sender (also inside references)
SHORT_MAX = 256  # source, code, event, audience, sender name, contact, value names
LONG_MAX = 1_024  # restriction, addresses, note, incidents, web, area description, values
LANGUAGE_MAX = 35  # the longest BCP 47 tag registries recommend supporting
TEXT_MAX_BYTES = 4 * TEXT_MAX_CHARS

TIME_MAX = 253_402_300_799 - 14 * 3600  # every offset still renders within the year 9999
TZ_MAX = 14 * 60  # minutes; xs:dateTime's range
LAT_MAX = 90 * 10**7
LON_MAX = 180 * 10**7
RADIUS_MAX = 20_038_000  # half the equator, in metres
ALTITUDE_MAX = 1_000_000 * 10**4  # feet x 10^4: far above any airspace

LANGUAGE_PATTERN = re.compile(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*")  # xs:language
ID_FORBIDDEN = re.compile(r"[\s,<&]")  # CAP 1.2: not in identifiers and senders


# --- enums -----------------------------------------------------------------------------------


class CapEnum(IntEnum):
    """An IntEnum whose members map to CAP 1.2 code values (`cap`, `from_cap`)."""

    @property
    def cap(self) -> str:
        """The CAP 1.2 spelling, e.g. ResponseType.ALL_CLEAR -> "AllClear"."""
        if self.name == "CBRNE":
            return "CBRNE"
        return "".join(part.capitalize() for part in self.name.split("_"))

    @classmethod
    def from_cap(cls, text: str) -> Self:
        """The member spelled `text` in CAP 1.2; ValueError if there is none."""
        for member in cls:
            if member.cap == text:
                return member
        raise ValueError(f"{text!r} is not a CAP 1.2 {cls.__name__} value")


class Status(CapEnum):
    ACTUAL = 1
    EXERCISE = 2
    SYSTEM = 3
    TEST = 4
    DRAFT = 5


class MsgType(CapEnum):
    ALERT = 1
    UPDATE = 2
    CANCEL = 3
    ACK = 4
    ERROR = 5


class Scope(CapEnum):
    PUBLIC = 1
    RESTRICTED = 2
    PRIVATE = 3


class Category(CapEnum):
    GEO = 1
    MET = 2
    SAFETY = 3
    SECURITY = 4
    RESCUE = 5
    FIRE = 6
    HEALTH = 7
    ENV = 8
    TRANSPORT = 9
    INFRA = 10
    CBRNE = 11
    OTHER = 12


class ResponseType(CapEnum):
    SHELTER = 1
    EVACUATE = 2
    PREPARE = 3
    EXECUTE = 4
    AVOID = 5
    MONITOR = 6
    ASSESS = 7
    ALL_CLEAR = 8
    NONE = 9


# The three scales below order from least to most: comparisons such as
# `info.severity > issuer_max` mean "more severe". UNKNOWN ranks lowest.


class Urgency(CapEnum):
    UNKNOWN = 0
    PAST = 1
    FUTURE = 2
    EXPECTED = 3
    IMMEDIATE = 4


class Severity(CapEnum):
    UNKNOWN = 0
    MINOR = 1
    MODERATE = 2
    SEVERE = 3
    EXTREME = 4


class Certainty(CapEnum):
    UNKNOWN = 0
    UNLIKELY = 1
    POSSIBLE = 2
    LIKELY = 3
    OBSERVED = 4


# --- dataclasses -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Circle:
    """A CAP circle: centre in degrees x 10^7, radius in metres (0 is the centre point)."""

    lat_e7: int
    lon_e7: int
    radius_m: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Area:
    """A CAP area: description plus any polygons, circles and geocodes (all optional)."""

    area_desc: str
    polygons: tuple[Ring, ...] = ()
    circles: tuple[Circle, ...] = ()
    geocodes: tuple[Pair, ...] = ()
    altitude_ft_e4: int | None = None
    ceiling_ft_e4: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Info:
    """One CAP info block: the alert in one language. `expires` is mandatory here."""

    language: str
    categories: tuple[Category, ...]
    event: str
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    expires: int
    expires_tz: int = 0
    response_types: tuple[ResponseType, ...] = ()
    audience: str | None = None
    event_codes: tuple[Pair, ...] = ()
    effective: int | None = None
    effective_tz: int = 0
    onset: int | None = None
    onset_tz: int = 0
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: tuple[Pair, ...] = ()
    areas: tuple[Area, ...] = ()

    @property
    def text_chars(self) -> int:
        """Characters counted against TEXT_MAX_CHARS: headline + description + instruction."""
        return sum(len(t) for t in (self.headline, self.description, self.instruction) if t)


@dataclass(frozen=True, slots=True)
class Reference:
    """A CAP reference to an earlier message: its sender, identifier and sent time."""

    sender: str
    identifier: str
    sent: int
    sent_tz: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """A CAP 1.2 alert message (resources and XML signatures are not carried)."""

    identifier: str
    sender: str
    sent: int
    status: Status
    msg_type: MsgType
    scope: Scope
    sent_tz: int = 0
    source: str | None = None
    restriction: str | None = None
    addresses: str | None = None
    codes: tuple[str, ...] = ()
    note: str | None = None
    references: tuple[Reference, ...] = ()
    incidents: str | None = None
    infos: tuple[Info, ...] = ()

    @property
    def expires(self) -> int | None:
        """The latest info expiry; None for an alert without infos (Cancel, Ack, Error)."""
        return max((info.expires for info in self.infos), default=None)

    @property
    def max_severity(self) -> Severity | None:
        """The highest severity over all infos; None without infos."""
        return max((info.severity for info in self.infos), default=None)

    @property
    def areas(self) -> tuple[Area, ...]:
        """Every area of every info, in order."""
        return tuple(area for info in self.infos for area in info.areas)


# --- validation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule: `where` is a path such as "info[0].area[1].polygon[0]"."""

    where: str
    rule: str

    def __str__(self) -> str:
        return f"{self.where}: {self.rule}"


class AlertLimitError(WireError):
    """An alert breaks a rule of this model; `problems` lists every breach, the message the first.

    A WireError, so that a decoder which validates through the model still raises one type.
    """

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        super().__init__(problems[0].where, problems[0].rule)
        self.problems = problems


def check_alert(alert: Alert) -> None:
    """Raise AlertLimitError if `alert` breaks any rule of this module."""
    problems = alert_problems(alert)
    if problems:
        raise AlertLimitError(problems)


def alert_problems(alert: Alert) -> tuple[Problem, ...]:
    """Every rule `alert` breaks, in document order; empty if it is valid."""
    return tuple(_alert_problems(alert))


def _text(value: object, where: str, *, hi: int, optional: bool = False,
          empty_ok: bool = False) -> Iterator[Problem]:
    if value is None and optional:
        return
    try:
        text = check_text(value, where, lo=0 if empty_ok else 1, hi=hi)
    except WireError as exc:
        yield Problem(exc.field, exc.rule)
        return
    if text != text.strip():
        yield Problem(where, "leading or trailing white space")
    if "\ufffe" in text or "\uffff" in text:
        yield Problem(where, "contains a character XML cannot carry (U+FFFE/U+FFFF)")


def _int(value: object, where: str, *, lo: int, hi: int) -> Iterator[Problem]:
    try:
        check_int(value, where, lo=lo, hi=hi)
    except WireError as exc:
        yield Problem(exc.field, exc.rule)


def _time(value: object, tz: object, where: str) -> Iterator[Problem]:
    yield from _int(value, where, lo=0, hi=TIME_MAX)
    yield from _int(tz, f"{where}_tz", lo=-TZ_MAX, hi=TZ_MAX)


def _opt_time(value: object, tz: object, where: str) -> Iterator[Problem]:
    if value is None:
        if tz != 0:
            yield Problem(f"{where}_tz", "set without a time")
        return
    yield from _time(value, tz, where)


def _ident(value: object, where: str) -> Iterator[Problem]:
    problems = list(_text(value, where, hi=ID_MAX))
    yield from problems
    if not problems and isinstance(value, str) and ID_FORBIDDEN.search(value):
        yield Problem(where, "contains white space, ',', '<' or '&' (forbidden by CAP 1.2)")


def _count(items: object, where: str, hi: int, lo: int = 0) -> Iterator[Problem]:
    if not isinstance(items, tuple):
        yield Problem(where, "expected a tuple")
    elif not lo <= len(items) <= hi:
        yield Problem(where, f"{len(items):,} items, allowed {lo}..{hi}")


def _enums(items: tuple[object, ...], kind: type[CapEnum], where: str) -> Iterator[Problem]:
    for i, item in enumerate(items):
        if not isinstance(item, kind):
            yield Problem(f"{where}[{i}]", f"expected a {kind.__name__}")


def _pairs(pairs: object, where: str, hi: int, *, value_max: int) -> Iterator[Problem]:
    yield from _count(pairs, where, hi)
    if not isinstance(pairs, tuple):
        return
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, tuple) and len(pair) == 2):
            yield Problem(f"{where}[{i}]", "expected a (valueName, value) pair")
            continue
        yield from _text(pair[0], f"{where}[{i}].valueName", hi=SHORT_MAX)
        yield from _text(pair[1], f"{where}[{i}].value", hi=value_max, empty_ok=True)


def _alert_problems(a: Alert) -> Iterator[Problem]:
    yield from _ident(a.identifier, "identifier")
    yield from _ident(a.sender, "sender")
    yield from _time(a.sent, a.sent_tz, "sent")
    for name, kind in (("status", Status), ("msg_type", MsgType), ("scope", Scope)):
        if not isinstance(getattr(a, name), kind):
            yield Problem(name, f"expected a {kind.__name__}")
    yield from _text(a.source, "source", hi=SHORT_MAX, optional=True)
    yield from _text(a.restriction, "restriction", hi=LONG_MAX, optional=True)
    yield from _text(a.addresses, "addresses", hi=LONG_MAX, optional=True)
    yield from _count(a.codes, "codes", MAX_CODES)
    for i, code in enumerate(a.codes):
        yield from _text(code, f"codes[{i}]", hi=SHORT_MAX)
    yield from _text(a.note, "note", hi=LONG_MAX, optional=True)
    yield from _count(a.references, "references", MAX_REFERENCES)
    for i, ref in enumerate(a.references):
        yield from _ident(ref.sender, f"references[{i}].sender")
        yield from _ident(ref.identifier, f"references[{i}].identifier")
        yield from _time(ref.sent, ref.sent_tz, f"references[{i}].sent")
    yield from _text(a.incidents, "incidents", hi=LONG_MAX, optional=True)
    yield from _count(a.infos, "infos", MAX_INFOS)
    if not a.infos and a.msg_type in (MsgType.ALERT, MsgType.UPDATE):
        yield Problem("infos", "an Alert or Update needs at least one info (and its expiry)")
    for i, info in enumerate(a.infos):
        yield from _info_problems(info, f"info[{i}]")


def _info_problems(n: Info, at: str) -> Iterator[Problem]:
    yield from _text(n.language, f"{at}.language", hi=LANGUAGE_MAX)
    if isinstance(n.language, str) and not LANGUAGE_PATTERN.fullmatch(n.language):
        yield Problem(f"{at}.language", f"{n.language!r} is not a language tag")
    yield from _count(n.categories, f"{at}.categories", MAX_CATEGORIES, lo=1)
    yield from _enums(n.categories, Category, f"{at}.categories")
    yield from _text(n.event, f"{at}.event", hi=SHORT_MAX)
    yield from _count(n.response_types, f"{at}.response_types", MAX_RESPONSE_TYPES)
    yield from _enums(n.response_types, ResponseType, f"{at}.response_types")
    for name, kind in (("urgency", Urgency), ("severity", Severity), ("certainty", Certainty)):
        if not isinstance(getattr(n, name), kind):
            yield Problem(f"{at}.{name}", f"expected a {kind.__name__}")
    yield from _text(n.audience, f"{at}.audience", hi=SHORT_MAX, optional=True)
    yield from _pairs(n.event_codes, f"{at}.event_codes", MAX_EVENT_CODES, value_max=LONG_MAX)
    yield from _opt_time(n.effective, n.effective_tz, f"{at}.effective")
    yield from _opt_time(n.onset, n.onset_tz, f"{at}.onset")
    yield from _time(n.expires, n.expires_tz, f"{at}.expires")
    yield from _text(n.sender_name, f"{at}.sender_name", hi=SHORT_MAX, optional=True)
    texts = (("headline", n.headline), ("description", n.description),
             ("instruction", n.instruction))
    for name, value in texts:
        yield from _text(value, f"{at}.{name}", hi=TEXT_MAX_BYTES, optional=True)
    chars = n.text_chars
    if chars > TEXT_MAX_CHARS:
        yield Problem(f"{at}.text", f"headline+description+instruction is {chars:,} characters,"
                      f" exceeds {TEXT_MAX_CHARS:,}")
    yield from _text(n.web, f"{at}.web", hi=LONG_MAX, optional=True)
    if isinstance(n.web, str) and any(c.isspace() for c in n.web):
        yield Problem(f"{at}.web", "a URI has no white space")
    yield from _text(n.contact, f"{at}.contact", hi=SHORT_MAX, optional=True)
    yield from _pairs(n.parameters, f"{at}.parameters", MAX_PARAMETERS, value_max=LONG_MAX)
    yield from _count(n.areas, f"{at}.areas", MAX_AREAS)
    for j, area in enumerate(n.areas):
        yield from _area_problems(area, f"{at}.area[{j}]")


def _area_problems(r: Area, at: str) -> Iterator[Problem]:
    yield from _text(r.area_desc, f"{at}.area_desc", hi=LONG_MAX)
    yield from _count(r.polygons, f"{at}.polygons", MAX_POLYGONS)
    for k, ring in enumerate(r.polygons):
        where = f"{at}.polygon[{k}]"
        if not MIN_POLYGON_POINTS <= len(ring) <= MAX_POLYGON_POINTS:
            yield Problem(where, f"{len(ring):,} points, allowed "
                          f"{MIN_POLYGON_POINTS}..{MAX_POLYGON_POINTS}")
        for p, point in enumerate(ring):
            yield from _int(point[0], f"{where}[{p}].lat", lo=-LAT_MAX, hi=LAT_MAX)
            yield from _int(point[1], f"{where}[{p}].lon", lo=-LON_MAX, hi=LON_MAX)
    yield from _count(r.circles, f"{at}.circles", MAX_CIRCLES)
    for k, circle in enumerate(r.circles):
        where = f"{at}.circle[{k}]"
        yield from _int(circle.lat_e7, f"{where}.lat", lo=-LAT_MAX, hi=LAT_MAX)
        yield from _int(circle.lon_e7, f"{where}.lon", lo=-LON_MAX, hi=LON_MAX)
        yield from _int(circle.radius_m, f"{where}.radius", lo=0, hi=RADIUS_MAX)
    yield from _pairs(r.geocodes, f"{at}.geocodes", MAX_GEOCODES, value_max=SHORT_MAX)
    for name in ("altitude_ft_e4", "ceiling_ft_e4"):
        value = getattr(r, name)
        if value is not None:
            yield from _int(value, f"{at}.{name}", lo=-ALTITUDE_MAX, hi=ALTITUDE_MAX)
    if r.ceiling_ft_e4 is not None and r.altitude_ft_e4 is None:
        yield Problem(f"{at}.ceiling_ft_e4", "a ceiling needs an altitude (CAP 1.2)")
