"""Hypothesis strategies for valid CAP 1.2 alerts (meshnode.alerts.model), for reuse by any test.

`alerts()` yields alerts that pass `check_alert` and fit the 4,096-byte compact body.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal, TypeVar

from hypothesis import assume
from hypothesis import strategies as st

from meshnode.alerts.compact import encoded_size
from meshnode.alerts.model import (
    ALTITUDE_MAX,
    ID_FORBIDDEN,
    LAT_MAX,
    LON_MAX,
    MAX_BODY,
    RADIUS_MAX,
    TIME_MAX,
    TZ_MAX,
    Alert,
    Area,
    Category,
    Certainty,
    Circle,
    Info,
    LatLon,
    MsgType,
    Pair,
    Reference,
    ResponseType,
    Ring,
    Scope,
    Severity,
    Status,
    Urgency,
)

T = TypeVar("T")

_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
_chars = st.characters(
    exclude_categories=_SURROGATES,
    exclude_characters="".join(map(chr, [*range(32), *range(127, 160)])) + "\ufffe\uffff",
) | st.sampled_from("\n\t")


def texts(max_size: int = 40, *, empty: bool = False) -> st.SearchStrategy[str]:
    """Text as the model keeps it: no control characters, no outer white space."""
    strategy = st.text(_chars, max_size=max_size).map(str.strip)
    return strategy if empty else strategy.filter(bool)


def optional(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.none() | strategy


identifiers = texts(30).filter(lambda s: not ID_FORBIDDEN.search(s))
languages = st.from_regex(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8}){0,2}", fullmatch=True)
webs = texts(40).filter(lambda s: not any(c.isspace() for c in s))
times = st.integers(0, TIME_MAX)
tzs = st.integers(-TZ_MAX, TZ_MAX)
pairs: st.SearchStrategy[Pair] = st.tuples(texts(20), texts(20, empty=True))
points: st.SearchStrategy[LatLon] = st.tuples(st.integers(-LAT_MAX, LAT_MAX),
                                               st.integers(-LON_MAX, LON_MAX))
rings: st.SearchStrategy[Ring] = st.lists(points, min_size=3, max_size=12).map(tuple)
circles = st.builds(Circle, st.integers(-LAT_MAX, LAT_MAX), st.integers(-LON_MAX, LON_MAX),
                    st.integers(0, RADIUS_MAX))


def small_tuples(strategy: st.SearchStrategy[T], max_size: int) -> st.SearchStrategy[tuple[T, ...]]:
    return st.lists(strategy, max_size=max_size).map(tuple)


@st.composite
def areas(draw: st.DrawFn) -> Area:
    altitude = draw(st.none() | st.integers(-ALTITUDE_MAX, ALTITUDE_MAX))
    ceiling = None if altitude is None else draw(
        st.none() | st.integers(-ALTITUDE_MAX, ALTITUDE_MAX))
    return Area(
        area_desc=draw(texts()),
        polygons=draw(small_tuples(rings, 2)),
        circles=draw(small_tuples(circles, 2)),
        geocodes=draw(small_tuples(pairs, 3)),
        altitude_ft_e4=altitude,
        ceiling_ft_e4=ceiling,
    )


@st.composite
def infos(draw: st.DrawFn) -> Info:
    effective = draw(st.none() | times)
    onset = draw(st.none() | times)
    return Info(
        language=draw(languages),
        categories=tuple(draw(st.lists(st.sampled_from(Category), min_size=1, max_size=3))),
        event=draw(texts()),
        response_types=draw(small_tuples(st.sampled_from(ResponseType), 2)),
        urgency=draw(st.sampled_from(Urgency)),
        severity=draw(st.sampled_from(Severity)),
        certainty=draw(st.sampled_from(Certainty)),
        audience=draw(optional(texts())),
        event_codes=draw(small_tuples(pairs, 2)),
        effective=effective,
        effective_tz=0 if effective is None else draw(tzs),
        onset=onset,
        onset_tz=0 if onset is None else draw(tzs),
        expires=draw(times),
        expires_tz=draw(tzs),
        sender_name=draw(optional(texts())),
        headline=draw(optional(texts(80))),
        description=draw(optional(texts(300))),
        instruction=draw(optional(texts(200))),
        web=draw(optional(webs)),
        contact=draw(optional(texts())),
        parameters=draw(small_tuples(pairs, 3)),
        areas=draw(small_tuples(areas(), 2)),
    )


references = st.builds(Reference, identifiers, identifiers, times, tzs)


@st.composite
def alerts(draw: st.DrawFn, *, max_infos: int = 2) -> Alert:
    msg_type = draw(st.sampled_from(MsgType))
    min_infos = 1 if msg_type in (MsgType.ALERT, MsgType.UPDATE) else 0
    alert = Alert(
        identifier=draw(identifiers),
        sender=draw(identifiers),
        sent=draw(times),
        sent_tz=draw(tzs),
        status=draw(st.sampled_from(Status)),
        msg_type=msg_type,
        source=draw(optional(texts())),
        scope=draw(st.sampled_from(Scope)),
        restriction=draw(optional(texts())),
        addresses=draw(optional(texts())),
        codes=draw(small_tuples(texts(20), 2)),
        note=draw(optional(texts())),
        references=draw(small_tuples(references, 2)),
        incidents=draw(optional(texts())),
        infos=tuple(draw(st.lists(infos(), min_size=min_infos, max_size=max_infos))),
    )
    if encoded_size(alert) > MAX_BODY:
        # Rare with these sizes; shed infos rather than reject the whole example.
        alert = replace(alert, infos=alert.infos[:min_infos])
    assume(encoded_size(alert) <= MAX_BODY)
    return alert
