"""CAP 1.2 XML import and export (OASIS urn:oasis:names:tc:emergency:cap:1.2).

Import parses with defusedxml (no DTDs, entities or external references), reads CAP 1.0
and 1.1 by upgrading them to 1.2 (`upgrade_to_1_2`, with a warning per change), and maps
the document onto meshnode.alerts.model. What the model does not carry
(resources, XML signatures, foreign elements) is dropped with a warning; an XML-DSig
signature is reported, never verified. Text is stripped of leading and trailing white space;
empty optional elements count as absent; a missing <language> is CAP's default "en-US".
Polygons are stored without the closing point; a polygon of fewer than 3 distinct positions
(CAP requires 4 pairs, closed) covers nothing and is dropped with a warning.

Where a document breaks one of meshnode's limits (see model), import raises CapLimitError
unless `trim=True`, which shortens text, simplifies polygons, drops surplus parameters and
gives an info without <expires> the expiry sent + `default_lifetime`; every change is
listed in `ImportResult.trims`, and the trimmed alert's own <note> says what was changed
(meshnode.alerts.trim), so the signed alert and every export of it carry that note.
Export writes schema-valid CAP 1.2.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import TypeVar

import defusedxml
import defusedxml.ElementTree as DET

from meshnode.alerts.compact import encode_alert
from meshnode.alerts.model import (
    ID_FORBIDDEN,
    LANGUAGE_PATTERN,
    LAT_MAX,
    LON_MAX,
    TIME_MAX,
    TZ_MAX,
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
    alert_problems,
    check_alert,
)
from meshnode.alerts.trim import TRIM_NOTE_PREFIX, fit_limits

__all__ = [
    "CAP12_NS",
    "DEFAULT_LIFETIME",
    "MAX_XML",
    "TRIM_NOTE_PREFIX",
    "CapError",
    "CapLimitError",
    "CapVersionError",
    "ImportResult",
    "export_cap",
    "import_cap",
]

CAP12_NS = "urn:oasis:names:tc:emergency:cap:1.2"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
MAX_XML = 1 << 20  # real IPAWS alerts with embedded audio reach ~100 KB
DEFAULT_LIFETIME = 24 * 3600  # CAP: without <expires> each recipient applies its own policy
DEFAULT_LANGUAGE = "en-US"  # the CAP 1.2 schema's default for <language>
E = TypeVar("E", bound=CapEnum)

_OLD_VERSIONS = {
    "http://www.incident.com/cap/1.0": "1.0",
    "urn:oasis:names:tc:emergency:cap:1.0": "1.0",
    "urn:oasis:names:tc:emergency:cap:1.1": "1.1",
}
_TIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,9})?(Z|([+-])(\d\d):(\d\d))",
    re.ASCII,
)
_DECIMAL = re.compile(r"[+-]?(\d{1,20}(\.\d{0,20})?|\.\d{1,20})", re.ASCII)
_DECIMAL_CONTEXT = Context(prec=64)  # exact for every number _DECIMAL admits


class CapError(ValueError):
    """The input is not a usable CAP 1.2 alert; the message says what and where."""


class CapVersionError(CapError):
    """A CAP document of a version this reader does not know (`version`, e.g. "1.3")."""

    def __init__(self, version: str) -> None:
        super().__init__(f"CAP {version} is not supported: CAP 1.2 is read, and CAP 1.0 and "
                         "1.1 are upgraded to it")
        self.version = version


class CapLimitError(CapError):
    """A CAP 1.2 alert that breaks meshnode's limits; `problems` names each breach."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")
        self.problems = problems


@dataclass(frozen=True, slots=True)
class ImportResult:
    """An imported alert, what trimming changed (empty without trim) and what was dropped."""

    alert: Alert
    trims: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


# --- import ----------------------------------------------------------------------------------


def import_cap(xml: bytes, *, trim: bool = False,
               default_lifetime: int = DEFAULT_LIFETIME) -> ImportResult:
    """Parse a CAP 1.2 document. CapError if it is not one, CapLimitError if over our limits."""
    if default_lifetime <= 0:
        raise ValueError("default_lifetime must be positive")
    if not isinstance(xml, bytes | bytearray):
        raise CapError("expected the document as bytes")
    if len(xml) > MAX_XML:
        raise CapError(f"document is {len(xml):,} bytes, the limit is {MAX_XML:,}")
    root = _parse(bytes(xml))
    reader = _Reader(default_lifetime)
    ns, _ = _split(root.tag)
    if ns in _OLD_VERSIONS:
        reader.warnings.extend(upgrade_to_1_2(root, _OLD_VERSIONS[ns]))
    alert = reader.alert(root)
    trims: tuple[str, ...] = ()
    if trim:
        alert, trims = fit_limits(alert, [
            f"{p.where}: {p.rule}; set to sent + {default_lifetime:,} s" for p in reader.missing])
    problems = (() if trim else tuple(reader.missing)) + alert_problems(alert)
    if problems:
        raise CapLimitError(problems)
    try:
        encode_alert(alert)
    except AlertLimitError as exc:
        raise CapLimitError(exc.problems) from None
    return ImportResult(alert, trims, tuple(reader.warnings))


def _parse(xml: bytes) -> ET.Element:
    try:
        root = DET.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise CapError(f"refused XML construct: {exc}") from None
    except ET.ParseError as exc:
        raise CapError(f"malformed XML: {exc}") from None
    except (ValueError, LookupError, UnicodeError, RecursionError, MemoryError) as exc:
        raise CapError(f"unreadable XML: {type(exc).__name__}: {exc}") from None
    if not isinstance(root, ET.Element):
        raise CapError("unreadable XML")
    ns, local = _split(root.tag)
    if ns in _OLD_VERSIONS and local == "alert":
        return root  # upgraded by the caller
    if ns != CAP12_NS or local != "alert":
        prefix = "urn:oasis:names:tc:emergency:cap:"
        if local == "alert" and ns.startswith(prefix):
            raise CapVersionError(ns[len(prefix):])
        raise CapError(f"not a CAP 1.2 alert: root element is {root.tag!r}")
    return root


# CAP 1.0 wrote eventCode, parameter and geocode as one "valueName=value" string.
_PAIRS_1_0 = frozenset({"eventCode", "parameter", "geocode"})


def upgrade_to_1_2(root: ET.Element, version: str) -> list[str]:
    """Rewrite a parsed CAP 1.0 or 1.1 document (`version`) in place as CAP 1.2; a note for
    each change that alters content. The differences, per the OASIS CAP 1.1 and 1.2
    specifications' change lists, that matter to an importer:

    * the namespace (1.0: http://www.incident.com/cap/1.0 or urn:…:cap:1.0; 1.1: urn:…:cap:1.1);
    * 1.0 only: <password> was removed in 1.1 (dropped here, with a note);
    * 1.0 only: <eventCode>, <parameter> and <geocode> held "valueName=value" text, which 1.1
      split into <valueName> and <value> children;
    * <certainty> "Very Likely" (1.0; deprecated in 1.1, removed in 1.2) becomes "Likely".

    What 1.1 and 1.2 added (status "Draft", category "CBRNE", responseType, "Avoid" and
    "AllClear", <derefUri>) cannot appear in an older document, so needs nothing.
    """
    old = _split(root.tag)[0]
    notes = [f"CAP {version} document read as CAP 1.2 (namespace {old!r})"]
    for parent in list(root.iter()):
        for child in list(parent):
            ns, local = _split(child.tag)
            if ns != old:
                continue
            if version == "1.0" and local == "password":
                parent.remove(child)
                notes.append("password: dropped (removed from CAP in 1.1)")
                continue
            child.tag = f"{{{CAP12_NS}}}{local}"
            if version == "1.0" and local in _PAIRS_1_0 and not len(child):
                name, _, value = (child.text or "").strip().partition("=")
                child.text = None
                ET.SubElement(child, f"{{{CAP12_NS}}}valueName").text = name.strip()
                ET.SubElement(child, f"{{{CAP12_NS}}}value").text = value.strip()
            if local == "certainty" and (child.text or "").strip() == "Very Likely":
                child.text = "Likely"
                notes.append("certainty: 'Very Likely' read as 'Likely' (CAP 1.2 dropped it)")
    root.tag = f"{{{CAP12_NS}}}alert"
    return notes


def _split(tag: object) -> tuple[str, str]:
    if not isinstance(tag, str):
        return "", ""  # comments and processing instructions
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


class _Children:
    """The CAP children of one element, by local name, in document order."""

    def __init__(self, element: ET.Element, where: str, known: frozenset[str],
                 warnings: list[str]) -> None:
        self.where = where
        self.by_name: dict[str, list[ET.Element]] = {}
        resources = 0
        for child in element:
            ns, local = _split(child.tag)
            if ns == CAP12_NS and local in known:
                self.by_name.setdefault(local, []).append(child)
            elif ns == DSIG_NS and local == "Signature":
                warnings.append(f"{_at(where, 'Signature')}: XML-DSig signature present, "
                                "not verified (and not carried)")
            elif ns == CAP12_NS and local == "resource":
                resources += 1
                warnings.append(f"{_at(where, 'resource')}[{resources - 1}]: resource dropped "
                                "(not carried)")
            elif local:
                warnings.append(f"{_at(where, local)}: unknown element {child.tag!r} ignored")

    def all(self, name: str) -> list[ET.Element]:
        return self.by_name.get(name, [])

    def one(self, name: str) -> ET.Element | None:
        found = self.all(name)
        if len(found) > 1:
            raise CapError(f"{_at(self.where, name)}: <{name}> appears {len(found)} times")
        return found[0] if found else None

    def text(self, name: str) -> str | None:
        element = self.one(name)
        return None if element is None else _text(element, _at(self.where, name)) or None

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise CapError(f"{_at(self.where, name)}: missing (mandatory in CAP 1.2)")
        return value

    def texts(self, name: str) -> list[tuple[str, str]]:
        found = self.all(name)
        return [(f"{_at(self.where, name)}[{i}]", _text(e, f"{_at(self.where, name)}[{i}]"))
                for i, e in enumerate(found)]


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _text(element: ET.Element, where: str) -> str:
    if len(element):
        raise CapError(f"{where}: unexpected child elements")
    text = (element.text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    for char in text:
        if (ord(char) < 0x20 and char not in "\n\t") or char in "\x7f\ufffe\uffff":
            raise CapError(f"{where}: contains control character U+{ord(char):04X}")
    return text


_ALERT_CHILDREN = frozenset({
    "identifier", "sender", "sent", "status", "msgType", "source", "scope", "restriction",
    "addresses", "code", "note", "references", "incidents", "info",
})
_INFO_CHILDREN = frozenset({
    "language", "category", "event", "responseType", "urgency", "severity", "certainty",
    "audience", "eventCode", "effective", "onset", "expires", "senderName", "headline",
    "description", "instruction", "web", "contact", "parameter", "area",
})
_AREA_CHILDREN = frozenset({"areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling"})
_PAIR_CHILDREN = frozenset({"valueName", "value"})


class _Reader:
    """Builds the model from a parsed document, collecting warnings and missing expiries."""

    def __init__(self, default_lifetime: int) -> None:
        self.default_lifetime = default_lifetime
        self.warnings: list[str] = []
        self.missing: list[Problem] = []

    def alert(self, root: ET.Element) -> Alert:
        c = _Children(root, "", _ALERT_CHILDREN, self.warnings)
        sent, sent_tz = self.time(c.required("sent"), "sent")
        codes = []
        for where, code in c.texts("code"):
            if code:
                codes.append(code)
            else:
                self.warnings.append(f"{where}: empty <code> ignored")
        return Alert(
            identifier=_identifier(c.required("identifier"), "identifier"),
            sender=_identifier(c.required("sender"), "sender"),
            sent=sent,
            sent_tz=sent_tz,
            status=_enum(Status, c.required("status"), "status"),
            msg_type=_enum(MsgType, c.required("msgType"), "msgType"),
            source=c.text("source"),
            scope=_enum(Scope, c.required("scope"), "scope"),
            restriction=c.text("restriction"),
            addresses=c.text("addresses"),
            codes=tuple(codes),
            note=c.text("note"),
            references=self.references(c.text("references")),
            incidents=c.text("incidents"),
            infos=tuple(self.info(e, f"info[{i}]", sent)
                        for i, e in enumerate(c.all("info"))),
        )

    def references(self, text: str | None) -> tuple[Reference, ...]:
        refs = []
        for i, item in enumerate((text or "").split()):
            where = f"references[{i}]"
            parts = item.split(",")
            if len(parts) != 3:
                raise CapError(f"{where}: {item!r} is not 'sender,identifier,sent'")
            sent, tz = self.time(parts[2], f"{where}.sent")
            refs.append(Reference(_identifier(parts[0], f"{where}.sender"),
                                  _identifier(parts[1], f"{where}.identifier"), sent, tz))
        return tuple(refs)

    def info(self, element: ET.Element, where: str, sent: int) -> Info:
        c = _Children(element, where, _INFO_CHILDREN, self.warnings)
        language = c.text("language") or DEFAULT_LANGUAGE
        if not LANGUAGE_PATTERN.fullmatch(language):
            raise CapError(f"{where}.language: {language!r} is not a language tag")
        categories = tuple(_enum(Category, t, w) for w, t in c.texts("category"))
        if not categories:
            raise CapError(f"{where}.category: missing (mandatory in CAP 1.2)")
        effective, effective_tz = self.opt_time(c.text("effective"), f"{where}.effective")
        onset, onset_tz = self.opt_time(c.text("onset"), f"{where}.onset")
        expires, expires_tz = self.opt_time(c.text("expires"), f"{where}.expires")
        if expires is None:
            self.missing.append(Problem(f"{where}.expires",
                                        "missing; meshnode needs an expiry on every info"))
            expires = min(sent + self.default_lifetime, TIME_MAX)
        return Info(
            language=language,
            categories=categories,
            event=c.required("event"),
            response_types=tuple(_enum(ResponseType, t, w) for w, t in c.texts("responseType")),
            urgency=_enum(Urgency, c.required("urgency"), f"{where}.urgency"),
            severity=_enum(Severity, c.required("severity"), f"{where}.severity"),
            certainty=_enum(Certainty, c.required("certainty"), f"{where}.certainty"),
            audience=c.text("audience"),
            event_codes=self.pairs(c, "eventCode"),
            effective=effective,
            effective_tz=effective_tz,
            onset=onset,
            onset_tz=onset_tz,
            expires=expires,
            expires_tz=expires_tz,
            sender_name=c.text("senderName"),
            headline=c.text("headline"),
            description=c.text("description"),
            instruction=c.text("instruction"),
            web=c.text("web"),
            contact=c.text("contact"),
            parameters=self.pairs(c, "parameter"),
            areas=tuple(self.area(e, f"{where}.area[{i}]") for i, e in enumerate(c.all("area"))),
        )

    def pairs(self, parent: _Children, name: str) -> tuple[Pair, ...]:
        out = []
        for i, element in enumerate(parent.all(name)):
            c = _Children(element, f"{_at(parent.where, name)}[{i}]", _PAIR_CHILDREN,
                          self.warnings)
            out.append((c.required("valueName"), c.text("value") or ""))
        return tuple(out)

    def area(self, element: ET.Element, where: str) -> Area:
        c = _Children(element, where, _AREA_CHILDREN, self.warnings)
        polygons = []
        for at, text in c.texts("polygon"):
            ring = self.polygon(text, at)
            if ring is not None:
                polygons.append(ring)
        altitude, ceiling = c.text("altitude"), c.text("ceiling")
        return Area(
            area_desc=c.required("areaDesc"),
            polygons=tuple(polygons),
            circles=tuple(self.circle(text, at) for at, text in c.texts("circle")),
            geocodes=self.pairs(c, "geocode"),
            altitude_ft_e4=None if altitude is None else self.fixed(
                altitude, f"{where}.altitude", 4, limit=None),
            ceiling_ft_e4=None if ceiling is None else self.fixed(
                ceiling, f"{where}.ceiling", 4, limit=None),
        )

    def polygon(self, text: str, where: str) -> Ring | None:
        tokens = text.split()
        if not tokens:
            self.warnings.append(f"{where}: empty polygon ignored")
            return None
        points = [self.point(token, where) for token in tokens]
        closed = len(points) > 1 and points[0] == points[-1]
        ring = tuple(points[:-1] if closed else points)
        if len(ring) < 3:
            self.warnings.append(f"{where}: {len(tokens)} coordinate pairs cannot enclose an "
                                 "area (CAP needs at least 4, closed); polygon ignored")
            return None
        if not closed:
            self.warnings.append(f"{where}: polygon was not closed; closed it")
        return ring

    def point(self, token: str, where: str) -> tuple[int, int]:
        parts = token.split(",")
        if len(parts) != 2:
            raise CapError(f"{where}: {token!r} is not 'latitude,longitude'")
        return (self.fixed(parts[0], where, 7, limit=LAT_MAX),
                self.fixed(parts[1], where, 7, limit=LON_MAX))

    def circle(self, text: str, where: str) -> Circle:
        parts = text.split()
        if len(parts) != 2:
            raise CapError(f"{where}: {text!r} is not 'latitude,longitude radius'")
        lat, lon = self.point(parts[0], where)
        radius = self.fixed(parts[1], f"{where}.radius", 3, limit=None)  # km -> m
        if radius < 0:
            raise CapError(f"{where}.radius: negative")
        return Circle(lat, lon, radius)

    def fixed(self, text: str, where: str, digits: int, *, limit: int | None) -> int:
        """A decimal as an integer in units of 10^-digits; rounding is warned about."""
        if not _DECIMAL.fullmatch(text):
            raise CapError(f"{where}: {text!r} is not a decimal number (at most 20 digits on "
                           "either side of the point)")
        exact = Decimal(text).scaleb(digits, context=_DECIMAL_CONTEXT)
        value = int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))
        if value != exact:
            message = f"{where}: rounded to {digits} decimals"
            if message not in self.warnings:
                self.warnings.append(message)
        if limit is not None and abs(value) > limit:
            raise CapError(f"{where}: {text} is out of range")
        return value

    def time(self, text: str, where: str) -> tuple[int, int]:
        match = _TIME.fullmatch(text)
        if not match:
            raise CapError(f"{where}: {text!r} is not a CAP date-time (YYYY-MM-DDThh:mm:ss+hh:mm)")
        year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
        if match.group(7):
            self.warnings.append(f"{where}: fractional seconds dropped")
        if match.group(8) == "Z":
            self.warnings.append(f"{where}: 'Z' read as +00:00 (CAP 1.2 wants an offset)")
            tz = 0
        else:
            sign = -1 if match.group(9) == "-" else 1
            tz = sign * (int(match.group(10)) * 60 + int(match.group(11)))
        if abs(tz) > TZ_MAX:
            raise CapError(f"{where}: UTC offset {text[-6:]} out of range")
        try:
            local = datetime(year, month, day, hour, minute, second,
                             tzinfo=timezone(timedelta(minutes=tz)))
        except ValueError as exc:
            raise CapError(f"{where}: {text!r}: {exc}") from None
        unix = int(local.timestamp())
        if not 0 <= unix <= TIME_MAX:
            raise CapError(f"{where}: {text!r} is outside 1970..9999")
        return unix, tz

    def opt_time(self, text: str | None, where: str) -> tuple[int | None, int]:
        return (None, 0) if text is None else self.time(text, where)


def _enum(kind: type[E], text: str, where: str) -> E:
    try:
        return kind.from_cap(text)
    except ValueError as exc:
        raise CapError(f"{where}: {exc}") from None


def _identifier(text: str, where: str) -> str:
    if ID_FORBIDDEN.search(text):
        raise CapError(f"{where}: {text!r} contains white space, ',', '<' or '&'")
    return text


# --- export ----------------------------------------------------------------------------------


def export_cap(alert: Alert, *, trimmed_notes: Sequence[str] = ()) -> bytes:
    """`alert` as a CAP 1.2 XML document (UTF-8). AlertLimitError if the alert is invalid.

    With `trimmed_notes` (ImportResult.trims) the <note> says the alert was shortened.
    """
    check_alert(alert)
    root = ET.Element("alert", {"xmlns": CAP12_NS})
    _add(root, "identifier", alert.identifier)
    _add(root, "sender", alert.sender)
    _add(root, "sent", _format_time(alert.sent, alert.sent_tz))
    _add(root, "status", alert.status.cap)
    _add(root, "msgType", alert.msg_type.cap)
    _add(root, "source", alert.source)
    _add(root, "scope", alert.scope.cap)
    _add(root, "restriction", alert.restriction)
    _add(root, "addresses", alert.addresses)
    for code in alert.codes:
        _add(root, "code", code)
    notes = [alert.note] if alert.note else []
    if trimmed_notes:
        notes.append(TRIM_NOTE_PREFIX + "; ".join(trimmed_notes))
    _add(root, "note", "\n".join(notes) or None)
    if alert.references:
        _add(root, "references", " ".join(
            f"{r.sender},{r.identifier},{_format_time(r.sent, r.sent_tz)}"
            for r in alert.references))
    _add(root, "incidents", alert.incidents)
    for info in alert.infos:
        _add_info(root, info)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def _add(parent: ET.Element, name: str, text: str | None) -> ET.Element | None:
    if text is None:
        return None
    element = ET.SubElement(parent, name)
    element.text = text
    return element


def _add_pair(parent: ET.Element, name: str, pair: Pair) -> None:
    element = ET.SubElement(parent, name)
    _add(element, "valueName", pair[0])
    _add(element, "value", pair[1])


def _add_info(root: ET.Element, n: Info) -> None:
    e = ET.SubElement(root, "info")
    _add(e, "language", n.language)
    for category in n.categories:
        _add(e, "category", category.cap)
    _add(e, "event", n.event)
    for response in n.response_types:
        _add(e, "responseType", response.cap)
    _add(e, "urgency", n.urgency.cap)
    _add(e, "severity", n.severity.cap)
    _add(e, "certainty", n.certainty.cap)
    _add(e, "audience", n.audience)
    for pair in n.event_codes:
        _add_pair(e, "eventCode", pair)
    if n.effective is not None:
        _add(e, "effective", _format_time(n.effective, n.effective_tz))
    if n.onset is not None:
        _add(e, "onset", _format_time(n.onset, n.onset_tz))
    _add(e, "expires", _format_time(n.expires, n.expires_tz))
    _add(e, "senderName", n.sender_name)
    _add(e, "headline", n.headline)
    _add(e, "description", n.description)
    _add(e, "instruction", n.instruction)
    _add(e, "web", n.web)
    _add(e, "contact", n.contact)
    for pair in n.parameters:
        _add_pair(e, "parameter", pair)
    for area in n.areas:
        _add_area(e, area)


def _add_area(info: ET.Element, r: Area) -> None:
    e = ET.SubElement(info, "area")
    _add(e, "areaDesc", r.area_desc)
    for ring in r.polygons:
        _add(e, "polygon", " ".join(_format_point(p) for p in (*ring, ring[0])))
    for c in r.circles:
        _add(e, "circle", f"{_format_point((c.lat_e7, c.lon_e7))} {_format_fixed(c.radius_m, 3)}")
    for pair in r.geocodes:
        _add_pair(e, "geocode", pair)
    if r.altitude_ft_e4 is not None:
        _add(e, "altitude", _format_fixed(r.altitude_ft_e4, 4))
    if r.ceiling_ft_e4 is not None:
        _add(e, "ceiling", _format_fixed(r.ceiling_ft_e4, 4))


def _format_fixed(value: int, digits: int) -> str:
    """An integer in units of 10^-digits as the shortest exact decimal."""
    whole, frac = divmod(abs(value), 10**digits)
    sign = "-" if value < 0 else ""
    decimals = f"{frac:0{digits}d}".rstrip("0")
    return f"{sign}{whole}.{decimals}" if decimals else f"{sign}{whole}"


def _format_point(point: tuple[int, int]) -> str:
    return f"{_format_fixed(point[0], 7)},{_format_fixed(point[1], 7)}"


def _format_time(unix: int, tz: int) -> str:
    t = datetime.fromtimestamp(unix, UTC).astimezone(timezone(timedelta(minutes=tz)))
    sign = "-" if tz < 0 else "+"
    hours, minutes = divmod(abs(tz), 60)
    return (f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:"
            f"{t.second:02d}{sign}{hours:02d}:{minutes:02d}")
