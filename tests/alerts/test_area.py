"""Alert areas: point coverage with real polygons and circles, containment in an issuer's scope."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from meshnode.alerts.area import (
    EARTH_RADIUS_M,
    area_within,
    circle_polygon,
    covers,
    distance_m,
    simplify_ring,
)
from meshnode.alerts.capxml import import_cap
from meshnode.alerts.examples import BOTLEK_POLYGON, example_nl_alert
from meshnode.alerts.model import Area, Circle

DATA = Path(__file__).parent.parent / "data" / "cap"
E7 = 10**7
METRES_PER_DEGREE_LAT = EARTH_RADIUS_M * math.pi / 180


def e7(lat: float, lon: float) -> tuple[int, int]:
    return round(lat * E7), round(lon * E7)


def north_of(lat_e7: int, metres: float) -> int:
    return lat_e7 + round(metres / METRES_PER_DEGREE_LAT * E7)


THUNDERSTORM = import_cap((DATA / "oasiscap-v1dot2_appendix_adot2.xml").read_bytes()).alert
AUSTRALIA = import_cap((DATA / "google-australia.cap").read_bytes()).alert
NL = example_nl_alert(1_790_000_000)
# Zuid-Holland, roughly: an issuer scope that holds Botlek but not Amsterdam.
ZUID_HOLLAND = (e7(52.30, 4.20), e7(52.30, 5.00), e7(51.70, 5.00), e7(51.70, 3.80))
AMSTERDAM = e7(52.3728, 4.8936)


def test_distance_of_one_degree_of_latitude() -> None:
    assert distance_m(0, 0, E7, 0) == pytest.approx(METRES_PER_DEGREE_LAT, rel=1e-9)
    assert distance_m(*AMSTERDAM, *AMSTERDAM) == 0


def test_point_in_a_real_polygon() -> None:
    # Inside the NWS Sacramento thunderstorm polygon (38.47,-120.14 38.34,-119.95 ...).
    assert covers(THUNDERSTORM, *e7(38.48, -119.93))
    assert not covers(THUNDERSTORM, *e7(38.20, -120.00))
    assert not covers(THUNDERSTORM, *e7(38.62, -120.14))  # inside the bounding box only
    assert covers(THUNDERSTORM, *e7(38.47, -120.14))  # a vertex counts


def test_point_in_a_real_circle() -> None:
    circle = AUSTRALIA.infos[0].areas[0].circles[0]
    assert circle.radius_m > 0
    inside = north_of(circle.lat_e7, circle.radius_m * 0.9)
    outside = north_of(circle.lat_e7, circle.radius_m * 1.1)
    assert covers(AUSTRALIA, inside, circle.lon_e7)
    assert not covers(AUSTRALIA, outside, circle.lon_e7)
    assert covers(AUSTRALIA.infos[0], circle.lat_e7, circle.lon_e7)


def test_example_alert_covers_botlek_not_amsterdam() -> None:
    lat = sum(p[0] for p in BOTLEK_POLYGON) // len(BOTLEK_POLYGON)
    lon = sum(p[1] for p in BOTLEK_POLYGON) // len(BOTLEK_POLYGON)
    assert covers(NL, lat, lon)
    assert not covers(NL, *AMSTERDAM)


def test_areas_without_shape_cover_no_point() -> None:
    geocoded = Area(area_desc="Rotterdam", geocodes=(("CBS", "GM0599"),))
    assert not covers(geocoded, *AMSTERDAM)


def test_zero_radius_circle_covers_only_its_centre() -> None:
    area = Area(area_desc="epicentre", circles=(Circle(*AMSTERDAM, 0),))
    assert covers(area, *AMSTERDAM)
    assert not covers(area, AMSTERDAM[0] + 1, AMSTERDAM[1])


def test_alert_inside_and_outside_an_issuer_polygon() -> None:
    assert area_within(NL.areas, polygons=(ZUID_HOLLAND,))
    small = tuple(e7(lat, lon) for lat, lon in [(51.89, 4.28), (51.89, 4.34), (51.87, 4.34),
                                                 (51.87, 4.28)])
    assert not area_within(NL.areas, polygons=(small,))
    assert not area_within(NL.areas, geocodes={("CBS", "GM0599")})  # no polygon scope


def test_scope_may_be_several_polygons() -> None:
    west = (e7(52.3, 3.8), e7(52.3, 4.3), e7(51.7, 4.3), e7(51.7, 3.8))
    east = (e7(52.3, 4.3), e7(52.3, 5.0), e7(51.7, 5.0), e7(51.7, 4.3))
    assert area_within(NL.areas, polygons=(west, east))
    assert not area_within(NL.areas, polygons=(east,))


def test_geocodes_must_all_be_allowed() -> None:
    area = Area(area_desc="Rotterdam en Schiedam", geocodes=(("CBS", "GM0599"), ("CBS", "GM0606")))
    assert area_within([area], geocodes={("CBS", "GM0599"), ("CBS", "GM0606"), ("CBS", "x")})
    assert not area_within([area], geocodes={("CBS", "GM0599")})
    assert not area_within([area], geocodes={("NUTS", "GM0599"), ("CBS", "GM0606")})
    assert not area_within([area], polygons=(ZUID_HOLLAND,))


def test_shape_and_geocodes_must_both_be_within() -> None:
    area = replace(NL.areas[0], geocodes=(("CBS", "GM0599"),))
    assert area_within([area], polygons=(ZUID_HOLLAND,), geocodes={("CBS", "GM0599")})
    assert not area_within([area], polygons=(ZUID_HOLLAND,))


def test_unbounded_areas_are_never_within() -> None:
    assert not area_within([], polygons=(ZUID_HOLLAND,))
    assert not area_within([Area(area_desc="Nederland")], polygons=(ZUID_HOLLAND,),
                           geocodes={("CBS", "GM0599")})


def test_circle_containment_is_checked_by_its_whole_extent() -> None:
    centre = e7(52.10, 4.60)  # the north edge (52.30) is the nearest
    distance_to_north_edge = distance_m(*centre, ZUID_HOLLAND[0][0], centre[1])
    fits = Area(area_desc="fits",
                circles=(Circle(*centre, round(distance_to_north_edge * 0.95)),))
    spills = Area(area_desc="spills",
                  circles=(Circle(*centre, round(distance_to_north_edge * 1.05)),))
    assert area_within([fits], polygons=(ZUID_HOLLAND,))
    assert not area_within([spills], polygons=(ZUID_HOLLAND,))


@given(st.integers(-60 * E7, 60 * E7), st.integers(-170 * E7, 170 * E7),
       st.integers(1, 200_000), st.floats(0, 2 * math.pi), st.floats(0, 1))
def test_circle_polygon_contains_its_circle(lat: int, lon: int, radius: int, bearing: float,
                                             fraction: float) -> None:
    circle = Circle(lat, lon, radius)
    d = radius * fraction / EARTH_RADIUS_M
    p = math.radians(lat / E7)
    lat2 = math.asin(math.sin(p) * math.cos(d) + math.cos(p) * math.sin(d) * math.cos(bearing))
    lon2 = math.radians(lon / E7) + math.atan2(math.sin(bearing) * math.sin(d) * math.cos(p),
                                               math.cos(d) - math.sin(p) * math.sin(lat2))
    point = shapely.Point(math.degrees(lon2), math.degrees(lat2))
    assert circle_polygon(circle).buffer(1e-9).covers(point)
    assert distance_m(lat, lon, round(math.degrees(lat2) * E7),
                      round(math.degrees(lon2) * E7)) <= radius + 1


def test_simplify_ring_meets_the_budget_and_keeps_the_shape() -> None:
    n = 500
    ring = tuple(e7(51.9 + 0.05 * math.sin(2 * math.pi * k / n),
                    4.3 + 0.08 * math.cos(2 * math.pi * k / n)) for k in range(n))
    for budget in (64, 16, 4):
        simple, tolerance = simplify_ring(ring, budget)
        assert 3 <= len(simple) <= budget and tolerance > 0
        before = shapely.Polygon([(lon, lat) for lat, lon in ring])
        after = shapely.Polygon([(lon, lat) for lat, lon in simple])
        assert after.is_valid
        assert before.hausdorff_distance(after) <= tolerance * E7 * 1.01
    assert simplify_ring(ring[:10], 64) == (ring[:10], 0.0)
