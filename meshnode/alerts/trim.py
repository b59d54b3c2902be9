"""Shortening an alert to fit meshnode's limits (CAP import with trim=True).

Trimming never touches what decides who is addressed or which alert is meant: identifiers,
references, infos, areas and geocodes stay. It shortens display text (with a trailing "…"),
drops parameters and event codes beyond the limits, and simplifies polygons beyond 64 points.
If the compact body is still over 4,096 bytes it drops parameters (last first), simplifies
polygons to 32 and then 16 points, and finally shortens descriptions. Whatever still breaks
a limit is left for the caller to report.
"""

from __future__ import annotations

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

__all__ = ["ELLIPSIS", "fit_limits"]

ELLIPSIS = "…"
_METRES_PER_DEGREE = 111_320  # at the equator; tolerances are reported roughly
_SIZE_POLYGON_BUDGETS = (32, 16)


def fit_limits(alert: Alert) -> tuple[Alert, tuple[str, ...]]:
    """`alert` shortened where trimming is allowed, and a description of every change."""
    t = _Trimmer()
    alert = replace(
        alert,
        note=t.bytes(alert.note, "note", LONG_MAX),
        infos=tuple(t.info(info, f"info[{i}]") for i, info in enumerate(alert.infos)),
    )
    return t.fit_size(alert), tuple(t.trims)


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
        return replace(
            r,
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

    def fit_size(self, alert: Alert) -> Alert:
        if encoded_size(alert) <= MAX_BODY:
            return alert
        alert = self._drop_parameters(alert)
        for budget in _SIZE_POLYGON_BUDGETS:
            if encoded_size(alert) <= MAX_BODY:
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
        while encoded_size(replace(alert, infos=tuple(infos))) > MAX_BODY:
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

    def _shorten_descriptions(self, alert: Alert) -> Alert:
        infos = list(alert.infos)
        while (excess := encoded_size(replace(alert, infos=tuple(infos))) - MAX_BODY) > 0:
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
