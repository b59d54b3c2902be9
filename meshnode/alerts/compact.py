"""The compact alert body: a CAP 1.2 alert as canonical msgpack (at most 4,096 bytes).

Maps have small integer keys, enums are their integer values (see meshnode.alerts.model),
times unix seconds, coordinates degrees x 10^7. A field that is absent, an empty list or a
UTC offset of 0 is omitted, so every alert has exactly one encoding; the decoder refuses any
other (it re-encodes what it decoded and compares the bytes).

Alert (map)::

    key  field         type
    1    identifier    str
    2    sender        str
    3    sent          uint (unix seconds)
    4    sent_tz       int, minutes east of UTC (omitted when 0)
    5    status        uint: 1 Actual, 2 Exercise, 3 System, 4 Test, 5 Draft
    6    msg_type      uint: 1 Alert, 2 Update, 3 Cancel, 4 Ack, 5 Error
    7    source        str (optional)
    8    scope         uint: 1 Public, 2 Restricted, 3 Private
    9    restriction   str (optional)
    10   addresses     str (optional)
    11   codes         [str]
    12   note          str (optional)
    13   references    [[sender: str, identifier: str, sent: uint, sent_tz: int]]
    14   incidents     str (optional)
    15   infos         [Info]

Info (map)::

    1    language      str (BCP 47)
    2    categories    [uint]: 1 Geo, 2 Met, 3 Safety, 4 Security, 5 Rescue, 6 Fire,
                       7 Health, 8 Env, 9 Transport, 10 Infra, 11 CBRNE, 12 Other
    3    event         str
    4    response_types [uint]: 1 Shelter, 2 Evacuate, 3 Prepare, 4 Execute, 5 Avoid,
                       6 Monitor, 7 Assess, 8 AllClear, 9 None
    5    urgency       uint: 0 Unknown, 1 Past, 2 Future, 3 Expected, 4 Immediate
    6    severity      uint: 0 Unknown, 1 Minor, 2 Moderate, 3 Severe, 4 Extreme
    7    certainty     uint: 0 Unknown, 1 Unlikely, 2 Possible, 3 Likely, 4 Observed
    8    audience      str (optional)
    9    event_codes   [[valueName: str, value: str]]
    10   effective     uint (optional)
    11   effective_tz  int (omitted when 0)
    12   onset         uint (optional)
    13   onset_tz      int (omitted when 0)
    14   expires       uint (mandatory)
    15   expires_tz    int (omitted when 0)
    16   sender_name   str (optional)
    17   headline      str (optional)
    18   description   str (optional)
    19   instruction   str (optional)
    20   web           str (optional)
    21   contact       str (optional)
    22   parameters    [[valueName: str, value: str]]
    23   areas         [Area]

Area (map)::

    1    area_desc     str
    2    polygons      [[lat0, lon0, lat1, lon1, ...]]: int, degrees x 10^7, flat, without
                       the closing point (3..64 points)
    3    circles       [[lat, lon, radius_m]]: int, int, uint metres
    4    geocodes      [[valueName: str, value: str]]
    5    altitude      int, feet x 10^4 (optional)
    6    ceiling       int, feet x 10^4 (optional)
"""

from __future__ import annotations

from typing import TypeVar

from meshnode.alerts.model import (
    MAX_BODY,
    MAX_POLYGON_POINTS,
    Alert,
    AlertLimitError,
    Area,
    CapEnum,
    Category,
    Certainty,
    Circle,
    Info,
    MsgType,
    Pair,
    Problem,
    Reference,
    ResponseType,
    Ring,
    Scope,
    Severity,
    Status,
    Urgency,
    check_alert,
)
from meshnode.codec import Fields, WireError, check_int, check_text, pack_ordered, unpack_bounded

__all__ = ["MAX_BODY", "decode_alert", "encode_alert", "encoded_size"]

_MAX_ITEMS = 2 * MAX_POLYGON_POINTS  # the longest array: one flat polygon
_INT_MAX = 2**63 - 1
E = TypeVar("E", bound=CapEnum)


def encode_alert(alert: Alert) -> bytes:
    """The canonical compact body of `alert`; AlertLimitError (a WireError) if it breaks a limit."""
    check_alert(alert)
    data = pack_ordered(_alert_map(alert))
    if len(data) > MAX_BODY:
        raise AlertLimitError((Problem("alert", f"compact body is {len(data):,} bytes, "
                                                f"exceeds {MAX_BODY:,}"),))
    return data


def encoded_size(alert: Alert) -> int:
    """Bytes `encode_alert` would produce, without checking any limit (for trimming)."""
    return len(pack_ordered(_alert_map(alert)))


def decode_alert(data: bytes) -> Alert:
    """Decode and fully validate a compact body; WireError (and nothing else) if it is not one."""
    obj = unpack_bounded(data, what="alert", max_size=MAX_BODY, max_items=_MAX_ITEMS)
    alert = _alert_from(obj)
    try:
        check_alert(alert)
    except AlertLimitError as exc:
        raise AlertLimitError(
            tuple(Problem(f"alert.{p.where}", p.rule) for p in exc.problems)
        ) from None
    if pack_ordered(_alert_map(alert)) != bytes(data):
        raise WireError("alert", "not in canonical encoding")
    return alert


# --- encoding --------------------------------------------------------------------------------


def _put(d: dict[int, object], key: int, value: object) -> None:
    """Set an optional field, leaving out None, empty lists and zero UTC offsets."""
    if value is None or value == () or value == []:
        return
    d[key] = value


def _put_tz(d: dict[int, object], key: int, tz: int) -> None:
    if tz != 0:
        d[key] = tz


def _alert_map(a: Alert) -> dict[int, object]:
    # Every map is built in ascending key order, so it packs canonically as built
    # (`pack_ordered`); the vectors and the decoder's canonical check hold it to that.
    d: dict[int, object] = {1: a.identifier, 2: a.sender, 3: a.sent}
    _put_tz(d, 4, a.sent_tz)
    d[5] = int(a.status)
    d[6] = int(a.msg_type)
    _put(d, 7, a.source)
    d[8] = int(a.scope)
    _put(d, 9, a.restriction)
    _put(d, 10, a.addresses)
    _put(d, 11, list(a.codes))
    _put(d, 12, a.note)
    _put(d, 13, [[r.sender, r.identifier, r.sent, r.sent_tz] for r in a.references])
    _put(d, 14, a.incidents)
    _put(d, 15, [_info_map(info) for info in a.infos])
    return d


def _info_map(n: Info) -> dict[int, object]:
    d: dict[int, object] = {1: n.language, 2: [int(c) for c in n.categories], 3: n.event}
    _put(d, 4, [int(r) for r in n.response_types])
    d[5] = int(n.urgency)
    d[6] = int(n.severity)
    d[7] = int(n.certainty)
    _put(d, 8, n.audience)
    _put(d, 9, [list(p) for p in n.event_codes])
    _put(d, 10, n.effective)
    _put_tz(d, 11, n.effective_tz)
    _put(d, 12, n.onset)
    _put_tz(d, 13, n.onset_tz)
    d[14] = n.expires
    _put_tz(d, 15, n.expires_tz)
    _put(d, 16, n.sender_name)
    _put(d, 17, n.headline)
    _put(d, 18, n.description)
    _put(d, 19, n.instruction)
    _put(d, 20, n.web)
    _put(d, 21, n.contact)
    _put(d, 22, [list(p) for p in n.parameters])
    _put(d, 23, [_area_map(area) for area in n.areas])
    return d


def _area_map(r: Area) -> dict[int, object]:
    d: dict[int, object] = {1: r.area_desc}
    _put(d, 2, [[c for point in ring for c in point] for ring in r.polygons])
    _put(d, 3, [[c.lat_e7, c.lon_e7, c.radius_m] for c in r.circles])
    _put(d, 4, [list(p) for p in r.geocodes])
    _put(d, 5, r.altitude_ft_e4)
    _put(d, 6, r.ceiling_ft_e4)
    return d


# --- decoding --------------------------------------------------------------------------------
# Types and shapes are checked here; ranges and limits by model.check_alert afterwards.

_ALERT_KEYS = frozenset(range(1, 16))
_INFO_KEYS = frozenset(range(1, 24))
_AREA_KEYS = frozenset(range(1, 7))


def _enum(kind: type[E], value: object, where: str) -> E:
    number = check_int(value, where, lo=0, hi=255)
    try:
        return kind(number)
    except ValueError:
        raise WireError(where, f"{number} is not a {kind.__name__}") from None


def _int(value: object, where: str) -> int:
    return check_int(value, where, lo=-_INT_MAX, hi=_INT_MAX)


def _opt_text(f: Fields, key: int, name: str) -> str | None:
    return f.opt_text(key, name, hi=MAX_BODY)


def _opt_array(f: Fields, key: int, name: str) -> list[object]:
    return f.array(key, name, hi=_MAX_ITEMS) if f.has(key) else []


def _tuple(value: object, where: str, size: int) -> list[object]:
    if not isinstance(value, list) or len(value) != size:
        raise WireError(where, f"expected an array of {size}")
    return value


def _pairs(f: Fields, key: int, name: str) -> tuple[Pair, ...]:
    out = []
    for i, item in enumerate(_opt_array(f, key, name)):
        where = f"{f.where}.{name}[{i}]"
        name_, value = _tuple(item, where, 2)
        out.append((check_text(name_, f"{where}.valueName", hi=MAX_BODY),
                    check_text(value, f"{where}.value", hi=MAX_BODY)))
    return tuple(out)


def _alert_from(obj: object) -> Alert:
    f = Fields(obj, "alert", allowed=_ALERT_KEYS)
    refs = []
    for i, item in enumerate(_opt_array(f, 13, "references")):
        where = f"alert.references[{i}]"
        sender, identifier, sent, tz = _tuple(item, where, 4)
        refs.append(Reference(check_text(sender, f"{where}.sender", hi=MAX_BODY),
                              check_text(identifier, f"{where}.identifier", hi=MAX_BODY),
                              _int(sent, f"{where}.sent"), _int(tz, f"{where}.sent_tz")))
    return Alert(
        identifier=f.text(1, "identifier", hi=MAX_BODY),
        sender=f.text(2, "sender", hi=MAX_BODY),
        sent=_int(f.raw(3, "sent"), "alert.sent"),
        sent_tz=_int(f.raw(4, "sent_tz"), "alert.sent_tz") if f.has(4) else 0,
        status=_enum(Status, f.raw(5, "status"), "alert.status"),
        msg_type=_enum(MsgType, f.raw(6, "msg_type"), "alert.msg_type"),
        source=_opt_text(f, 7, "source"),
        scope=_enum(Scope, f.raw(8, "scope"), "alert.scope"),
        restriction=_opt_text(f, 9, "restriction"),
        addresses=_opt_text(f, 10, "addresses"),
        codes=tuple(check_text(c, f"alert.codes[{i}]", hi=MAX_BODY)
                    for i, c in enumerate(_opt_array(f, 11, "codes"))),
        note=_opt_text(f, 12, "note"),
        references=tuple(refs),
        incidents=_opt_text(f, 14, "incidents"),
        infos=tuple(_info_from(item, f"alert.info[{i}]")
                    for i, item in enumerate(_opt_array(f, 15, "infos"))),
    )


def _opt_time(f: Fields, key: int, tz_key: int, name: str) -> tuple[int | None, int]:
    time = _int(f.raw(key, name), f"{f.where}.{name}") if f.has(key) else None
    tz = _int(f.raw(tz_key, f"{name}_tz"), f"{f.where}.{name}_tz") if f.has(tz_key) else 0
    return time, tz


def _info_from(obj: object, where: str) -> Info:
    f = Fields(obj, where, allowed=_INFO_KEYS)
    effective, effective_tz = _opt_time(f, 10, 11, "effective")
    onset, onset_tz = _opt_time(f, 12, 13, "onset")
    expires, expires_tz = _opt_time(f, 14, 15, "expires")
    if expires is None:
        raise WireError(f"{where}.expires", "missing")
    return Info(
        language=f.text(1, "language", hi=MAX_BODY),
        categories=tuple(_enum(Category, c, f"{where}.categories[{i}]")
                         for i, c in enumerate(f.array(2, "categories", hi=_MAX_ITEMS))),
        event=f.text(3, "event", hi=MAX_BODY),
        response_types=tuple(_enum(ResponseType, r, f"{where}.response_types[{i}]")
                             for i, r in enumerate(_opt_array(f, 4, "response_types"))),
        urgency=_enum(Urgency, f.raw(5, "urgency"), f"{where}.urgency"),
        severity=_enum(Severity, f.raw(6, "severity"), f"{where}.severity"),
        certainty=_enum(Certainty, f.raw(7, "certainty"), f"{where}.certainty"),
        audience=_opt_text(f, 8, "audience"),
        event_codes=_pairs(f, 9, "event_codes"),
        effective=effective,
        effective_tz=effective_tz,
        onset=onset,
        onset_tz=onset_tz,
        expires=expires,
        expires_tz=expires_tz,
        sender_name=_opt_text(f, 16, "sender_name"),
        headline=_opt_text(f, 17, "headline"),
        description=_opt_text(f, 18, "description"),
        instruction=_opt_text(f, 19, "instruction"),
        web=_opt_text(f, 20, "web"),
        contact=_opt_text(f, 21, "contact"),
        parameters=_pairs(f, 22, "parameters"),
        areas=tuple(_area_from(item, f"{where}.area[{i}]")
                    for i, item in enumerate(_opt_array(f, 23, "areas"))),
    )


def _ring(value: object, where: str) -> Ring:
    if not isinstance(value, list) or len(value) % 2:
        raise WireError(where, "expected a flat array of latitude, longitude pairs")
    coords = [_int(c, f"{where}[{i}]") for i, c in enumerate(value)]
    return tuple(zip(coords[::2], coords[1::2], strict=True))


def _area_from(obj: object, where: str) -> Area:
    f = Fields(obj, where, allowed=_AREA_KEYS)
    circles = []
    for i, item in enumerate(_opt_array(f, 3, "circles")):
        at = f"{where}.circle[{i}]"
        lat, lon, radius = _tuple(item, at, 3)
        circles.append(Circle(_int(lat, f"{at}.lat"), _int(lon, f"{at}.lon"),
                              _int(radius, f"{at}.radius")))
    return Area(
        area_desc=f.text(1, "area_desc", hi=MAX_BODY),
        polygons=tuple(_ring(item, f"{where}.polygon[{i}]")
                       for i, item in enumerate(_opt_array(f, 2, "polygons"))),
        circles=tuple(circles),
        geocodes=_pairs(f, 4, "geocodes"),
        altitude_ft_e4=_int(f.raw(5, "altitude"), f"{where}.altitude") if f.has(5) else None,
        ceiling_ft_e4=_int(f.raw(6, "ceiling"), f"{where}.ceiling") if f.has(6) else None,
    )
