"""Shortening an alert to fit meshnode's limits (CAP import with trim=True).

Trimming never touches what decides which alert is meant: identifiers, references, infos and
areas stay. It shortens display text (with a trailing "…"), drops parameters and event codes
beyond the limits, drops duplicate geocodes and simplifies polygons beyond 64 points. If the
compact body is still over 4,096 bytes it drops parameters (last first), then the geocodes of
areas that also have a polygon or circle (redundant for locating the area: a node decides
whether an alert covers it by the shape, and geocodes can only narrow nothing further), then
simplifies polygons to 32 and then 16 points, and finally shortens descriptions. Whatever
still breaks a limit is left for the caller to report.

Whenever anything was changed, the alert's own <note> says so (`TRIM_NOTE_PREFIX` and the
changes, within `NOTE_ROOM` bytes): the note is part of what the issuer signs, so every node
shows it and every export to CAP carries it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from meshnode.alerts.area import simplify_ring
from meshnode.alerts.compact import encoded_size
from meshnode.alerts.model import (
    LONG_MAX,
    MAX_BODY,
    MAX_EVENT_CODES,
    MAX_PARAMETERS,
    MAX_POLYGON_POINTS,
    SHORT_MAX,
    TEXT_MAX_CHARS,
    Alert,
    Area,
    Info,
    Pair,
    Ring,
)

__all__ = ["ELLIPSIS", "NOTE_ROOM", "TRIM_NOTE_PREFIX", "fit_limits"]

ELLIPSIS = "…"
TRIM_NOTE_PREFIX = "Shortened by a meshnode gateway: "
NOTE_ROOM = 480  # bytes kept free for the trim note (its text and its encoding)
_METRES_PER_DEGREE = 111_320  # at the equator; tolerances are reported roughly
_SIZE_POLYGON_BUDGETS = (32, 16)


def fit_limits(alert: Alert, earlier: Sequence[str] = ()) -> tuple[Alert, tuple[str, ...]]:
    """`alert` shortened where trimming is allowed, and a description of every change.

    `earlier` lists changes the caller already made (e.g. an expiry filled in); with those or
    with any change here, the returned alert's note ends with a trim note that says so.
    """
    t = _Trimmer()
    t.trims.extend(earlier)
    trimmed = replace(
        alert,
        infos=tuple(t.info(info, f"info[{i}]") for i, info in enumerate(alert.infos)),
    )
    if not t.trims and encoded_size(trimmed) <= MAX_BODY and (
            alert.note is None or len(alert.note.encode()) <= LONG_MAX):
        return alert, ()
    # Something changes, so the note will say so: leave room for it.
    t.limit = MAX_BODY - NOTE_ROOM
    trimmed = replace(trimmed, note=t.bytes(alert.note, "note", LONG_MAX - NOTE_ROOM))
    fitted = t.fit_size(trimmed)
    return replace(fitted, note=trim_note(fitted.note, t.trims)), tuple(t.trims)


def trim_note(note: str | None, trims: Sequence[str]) -> str:
    """`note` followed by a line saying what trimming changed, that line within `NOTE_ROOM`
    bytes less its encoding's overhead."""
    line = TRIM_NOTE_PREFIX + "; ".join(trims)
    room = NOTE_ROOM - 8
    if len(line.encode()) > room:
        line = line.encode()[:room - len(ELLIPSIS.encode())].decode(
            errors="ignore").rstrip() + ELLIPSIS
    return f"{note}\n{line}" if note else line


def cut(text: str, chars: int) -> str | None:
    """`text` in at most `chars` characters, ending in "…" if shortened; None if 0."""
    if len(text) <= chars:
        return text
    if chars <= 0:
        return None
    return text[: chars - 1].rstrip() + ELLIPSIS


class _Trimmer:
    def __init__(self) -> None:
        self.trims: list[str] = []
        self.limit = MAX_BODY  # the compact size `fit_size` aims at

    def chars(self, text: str | None, where: str, chars: int) -> str | None:
        if text is None or len(text) <= chars:
            return text
        short = cut(text, chars)
        after = f"{len(short):,} characters" if short else "nothing (removed)"
        self.trims.append(f"{where}: shortened from {len(text):,} characters to {after}")
        return short

    def bytes(self, text: str | None, where: str, limit: int) -> str | None:
        if text is None or len(text.encode()) <= limit:
            return text
        room = limit - len(ELLIPSIS.encode())
        short = text.encode()[:room].decode(errors="ignore").rstrip() + ELLIPSIS
        self.trims.append(f"{where}: shortened from {len(text.encode()):,} to "
                          f"{len(short.encode()):,} bytes")
        return short

    def pairs(self, pairs: tuple[Pair, ...], where: str, limit: int) -> tuple[Pair, ...]:
        kept = tuple(p for p in pairs
                     if len(p[0].encode()) <= SHORT_MAX and len(p[1].encode()) <= LONG_MAX)
        if len(kept) < len(pairs):
            self.trims.append(f"{where}: dropped {len(pairs) - len(kept)} with over-long "
                              "names or values")
        if len(kept) > limit:
            self.trims.append(f"{where}: kept the first {limit} of {len(kept)}")
            kept = kept[:limit]
        return kept

    def info(self, n: Info, at: str) -> Info:
        texts = {"headline": n.headline, "description": n.description,
                 "instruction": n.instruction}
        excess = n.text_chars - TEXT_MAX_CHARS
        for name in ("description", "instruction", "headline"):
            value = texts[name]
            if excess <= 0 or not value:
                continue
            short = self.chars(value, f"{at}.{name}", len(value) - excess)
            excess -= len(value) - len(short or "")
            texts[name] = short
        return replace(
            n,
            event=self.bytes(n.event, f"{at}.event", SHORT_MAX) or n.event,
            audience=self.bytes(n.audience, f"{at}.audience", SHORT_MAX),
            sender_name=self.bytes(n.sender_name, f"{at}.sender_name", SHORT_MAX),
            contact=self.bytes(n.contact, f"{at}.contact", SHORT_MAX),
            event_codes=self.pairs(n.event_codes, f"{at}.event_codes", MAX_EVENT_CODES),
            parameters=self.pairs(n.parameters, f"{at}.parameters", MAX_PARAMETERS),
            areas=tuple(self.area(r, f"{at}.area[{j}]", MAX_POLYGON_POINTS)
                        for j, r in enumerate(n.areas)),
            headline=texts["headline"],
            description=texts["description"],
            instruction=texts["instruction"],
        )

    def area(self, r: Area, at: str, max_points: int) -> Area:
        geocodes = tuple(dict.fromkeys(r.geocodes))
        if len(geocodes) < len(r.geocodes):
            self.trims.append(f"{at}.geocodes: dropped {len(r.geocodes) - len(geocodes)} "
                              "duplicate(s)")
        return replace(
            r,
            geocodes=geocodes,
            area_desc=self.bytes(r.area_desc, f"{at}.area_desc", LONG_MAX) or r.area_desc,
            polygons=tuple(self.ring(ring, f"{at}.polygon[{k}]", max_points)
                           for k, ring in enumerate(r.polygons)),
        )

    def ring(self, ring: Ring, where: str, max_points: int) -> Ring:
        if len(ring) <= max_points:
            return ring
        simple, tolerance = simplify_ring(ring, max_points)
        self.trims.append(f"{where}: simplified from {len(ring):,} to {len(simple)} points "
                          f"(tolerance about {tolerance * _METRES_PER_DEGREE:,.0f} m)")
        return simple

    def fits(self, alert: Alert) -> bool:
        return encoded_size(alert) <= self.limit

    def fit_size(self, alert: Alert) -> Alert:
        if self.fits(alert):
            return alert
        alert = self._drop_parameters(alert)
        if not self.fits(alert):
            alert = self._drop_shaped_geocodes(alert)
        for budget in _SIZE_POLYGON_BUDGETS:
            if self.fits(alert):
                return alert
            alert = replace(alert, infos=tuple(
                replace(n, areas=tuple(
                    replace(r, polygons=tuple(self.ring(ring, f"info[{i}].area[{j}].polygon"
                                                              f"[{k}]", budget)
                                              for k, ring in enumerate(r.polygons)))
                    for j, r in enumerate(n.areas)))
                for i, n in enumerate(alert.infos)))
        return self._shorten_descriptions(alert)

    def _drop_parameters(self, alert: Alert) -> Alert:
        infos = list(alert.infos)
        dropped = [0] * len(infos)
        while not self.fits(replace(alert, infos=tuple(infos))):
            last = max((i for i, n in enumerate(infos) if n.parameters), default=None)
            if last is None:
                break
            infos[last] = replace(infos[last], parameters=infos[last].parameters[:-1])
            dropped[last] += 1
        for i, count in enumerate(dropped):
            if count:
                self.trims.append(f"info[{i}].parameters: dropped the last {count} to fit "
                                  f"{MAX_BODY:,} bytes")
        return replace(alert, infos=tuple(infos))

    def _drop_shaped_geocodes(self, alert: Alert) -> Alert:
        """Drop the geocodes of areas that also have a polygon or a circle, one area at a time
        (the most geocodes first) until the alert fits."""
        infos = [list(n.areas) for n in alert.infos]
        shaped = sorted(((len(r.geocodes), i, j) for i, areas in enumerate(infos)
                         for j, r in enumerate(areas) if r.geocodes and (r.polygons or r.circles)),
                        reverse=True)
        for count, i, j in shaped:
            if self.fits(_with_areas(alert, infos)):
                break
            infos[i][j] = replace(infos[i][j], geocodes=())
            self.trims.append(f"info[{i}].area[{j}].geocodes: dropped {count} (the area's "
                              "polygon or circle locates it)")
        return _with_areas(alert, infos)

    def _shorten_descriptions(self, alert: Alert) -> Alert:
        infos = list(alert.infos)
        while (excess := encoded_size(replace(alert, infos=tuple(infos))) - self.limit) > 0:
            longest = max(range(len(infos)), key=lambda i: len(infos[i].description or ""),
                          default=None)
            if longest is None or not infos[longest].description:
                break
            text = infos[longest].description or ""
            infos[longest] = replace(infos[longest],
                                     description=cut(text, len(text) - max(excess, 16)))
        for i, (before, after) in enumerate(zip(alert.infos, infos, strict=True)):
            if before.description != after.description:
                self.trims.append(
                    f"info[{i}].description: shortened from {len(before.description or ''):,}"
                    f" to {len(after.description or ''):,} characters to fit {MAX_BODY:,} bytes")
        return replace(alert, infos=tuple(infos))


def _with_areas(alert: Alert, areas: Sequence[Sequence[Area]]) -> Alert:
    return replace(alert, infos=tuple(replace(n, areas=tuple(a))
                                      for n, a in zip(alert.infos, areas, strict=True)))
