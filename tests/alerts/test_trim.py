"""Trimming an alert to meshnode's limits: what may shrink, and what never does."""

from __future__ import annotations

import math
from dataclasses import replace

from meshnode.alerts.compact import encode_alert, encoded_size
from meshnode.alerts.examples import example_nl_alert
from meshnode.alerts.model import (
    MAX_BODY,
    MAX_POLYGON_POINTS,
    Alert,
    Area,
    Ring,
    alert_problems,
)
from meshnode.alerts.trim import ELLIPSIS, TRIM_NOTE_PREFIX, cut, fit_limits

BASE = example_nl_alert(1_790_000_000)


def round_ring(n: int, lat: float = 51.9, lon: float = 4.3) -> Ring:
    return tuple((round((lat + 0.05 * math.sin(2 * math.pi * k / n)) * 1e7),
                  round((lon + 0.08 * math.cos(2 * math.pi * k / n)) * 1e7)) for k in range(n))


def with_areas(areas: tuple[Area, ...]) -> Alert:
    return replace(BASE, infos=(replace(BASE.infos[0], areas=areas),))


def test_cut_marks_what_it_shortened() -> None:
    assert cut("abc def", 7) == "abc def"
    assert cut("abc def", 5) == "abc" + ELLIPSIS
    assert cut("abc def", 1) == ELLIPSIS
    assert cut("abc def", 0) is None


def test_a_valid_alert_is_left_alone() -> None:
    assert fit_limits(BASE) == (BASE, ())


def test_body_over_4_kib_is_fitted_by_simplifying_polygons() -> None:
    rings = tuple(round_ring(MAX_POLYGON_POINTS, lon=4.3 + k) for k in range(4))
    alert = with_areas((Area(area_desc="a", polygons=rings), Area(area_desc="b", polygons=rings)))
    assert alert_problems(alert) == () and encoded_size(alert) > MAX_BODY
    fitted, trims = fit_limits(alert)
    assert len(encode_alert(fitted)) <= MAX_BODY
    assert all(len(r) < MAX_POLYGON_POINTS for a in fitted.areas for r in a.polygons)
    assert fitted.infos[0].description == alert.infos[0].description
    assert any("simplified" in t for t in trims)


def test_areas_are_never_dropped_even_if_the_body_stays_too_big() -> None:
    rings = tuple(round_ring(MAX_POLYGON_POINTS, lon=4.3 + k) for k in range(4))
    areas = tuple(Area(area_desc=f"area {i}", polygons=rings) for i in range(8))
    fitted, trims = fit_limits(with_areas(areas))
    assert [a.area_desc for a in fitted.areas] == [a.area_desc for a in areas]
    assert all(len(a.polygons) == 4 for a in fitted.areas)
    assert encoded_size(fitted) > MAX_BODY  # left for the caller to refuse
    assert fitted.infos[0].description is None or fitted.infos[0].description.endswith(ELLIPSIS)
    assert trims


def test_a_trimmed_alert_says_in_its_note_what_was_changed() -> None:
    rings = tuple(round_ring(MAX_POLYGON_POINTS, lon=4.3 + k) for k in range(4))
    alert = with_areas((Area(area_desc="a", polygons=rings), Area(area_desc="b", polygons=rings)))
    fitted, trims = fit_limits(replace(alert, note="Kept as written."))
    assert fitted.note is not None
    kept, said = fitted.note.split("\n")
    assert kept == "Kept as written." and said.startswith(TRIM_NOTE_PREFIX)
    assert trims[0] in said
    assert len(encode_alert(fitted)) <= MAX_BODY


def test_geocodes_of_areas_with_a_shape_go_before_any_polygon_is_simplified() -> None:
    """A node locates an area by its polygon; geocodes only name it. Over 4 KiB, the geocodes
    of shaped areas are dropped first, so the polygons residents are placed by stay exact."""
    codes = tuple(("profile:CAP-CP:Location:0.3", f"{3_500_000 + i}") for i in range(32))
    ring = round_ring(40)
    shaped = [Area(area_desc=f"area {i}", polygons=(ring,), geocodes=codes) for i in range(3)]
    areas = (*shaped, Area(area_desc="named only", geocodes=codes[:4]))
    alert = with_areas(areas)
    assert alert_problems(alert) == () and encoded_size(alert) > MAX_BODY
    fitted, trims = fit_limits(alert)
    assert len(encode_alert(fitted)) <= MAX_BODY
    assert all(r.polygons == (ring,) for r in fitted.areas[:3])  # not simplified
    assert fitted.areas[3].geocodes == codes[:4]  # its only description of where: kept
    assert any("geocodes: dropped 32 (the area's polygon or circle locates it)" in t
               for t in trims)


def test_duplicate_geocodes_are_dropped_saying_so() -> None:
    code = ("SAME", "006109")
    fitted, trims = fit_limits(with_areas((Area(area_desc="a", geocodes=(code, code, code)),)))
    assert fitted.areas[0].geocodes == (code,)
    assert "info[0].area[0].geocodes: dropped 2 duplicate(s)" in trims
    assert fitted.note is not None and TRIM_NOTE_PREFIX in fitted.note
