"""Alert areas: point coverage with real polygons and circles, containment in an issuer's scope."""

from __future__ import annotations

import itertools
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
    circle_within,
    covers,
    distance_m,
    is_simple_ring,
    ring_within,
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


def test_each_shape_must_fit_inside_one_scope_polygon() -> None:
    """§6.6: a shape straddling two allowed polygons is outside, even where they touch."""
    west = (e7(52.3, 3.8), e7(52.3, 4.3), e7(51.7, 4.3), e7(51.7, 3.8))
    east = (e7(52.3, 4.3), e7(52.3, 5.0), e7(51.7, 5.0), e7(51.7, 4.3))
    botlek_lons = [lon for _, lon in BOTLEK_POLYGON]
    assert min(botlek_lons) < e7(0, 4.3)[1] < max(botlek_lons)  # it straddles 4.3 E
    assert not area_within(NL.areas, polygons=(west, east))
    assert area_within(NL.areas, polygons=(west, ZUID_HOLLAND))
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


def box(x0: int, y0: int, x1: int, y1: int) -> tuple[tuple[int, int], ...]:
    """A rectangle as a ring of (lat, lon) points from lon x0..x1, lat y0..y1."""
    return ((y0, x0), (y0, x1), (y1, x1), (y1, x0))


@given(st.lists(st.integers(-50, 50), min_size=8, max_size=8))
def test_ring_within_agrees_with_shapely_on_boxes_and_triangles(c: list[int]) -> None:
    """An independent check of the exact test, including shared edges and touching corners."""
    x0, x1, y0, y1 = min(c[0], c[1]), max(c[0], c[1]), min(c[2], c[3]), max(c[2], c[3])
    if x0 == x1 or y0 == y1:
        return
    scope = box(x0, y0, x1, y1)
    area = ((c[4], c[5]), (c[6], c[7]), (c[4], c[7]))
    expected = shapely.Polygon([(x, y) for y, x in scope]).covers(
        shapely.Polygon([(x, y) for y, x in area]) if is_simple_ring(area)
        else shapely.LineString([(x, y) for y, x in area + area[:1]]))
    assert ring_within(area, scope) == expected


def shapely_within(area: tuple[tuple[int, int], ...],
                   scope: tuple[tuple[int, int], ...]) -> bool:
    """The containment of `area` (its region, or its outline if it is not simple) in `scope`,
    by shapely: an implementation independent of ours."""
    outline = shapely.Polygon([(x, y) for y, x in scope])
    return outline.covers(shapely.Polygon([(x, y) for y, x in area]) if is_simple_ring(area)
                          else shapely.LineString([(x, y) for y, x in area + area[:1]]))


@given(st.lists(st.tuples(st.integers(-40, 40), st.integers(-40, 40)), min_size=3,
                max_size=9),
       st.lists(st.tuples(st.integers(-50, 50), st.integers(-50, 50)), min_size=3,
                max_size=6),
       st.booleans())
def test_ring_within_a_convex_scope_agrees_with_shapely(
        corners: list[tuple[int, int]], area: list[tuple[int, int]], straight: bool) -> None:
    """Convex scopes of any number of corners (and corners that do not turn, midway along an
    edge), against alert rings of every shape: their verdicts are shapely's."""
    hull = shapely.MultiPoint([(x, y) for y, x in corners]).convex_hull
    if not isinstance(hull, shapely.Polygon):
        return  # all on one line: no region
    points = [(int(y), int(x)) for x, y in hull.exterior.coords[:-1]]
    if straight:  # a corner that does not turn, where an edge has an integer midpoint
        for i, (a, b) in enumerate(itertools.pairwise(points + points[:1])):
            if (a[0] + b[0]) % 2 == 0 and (a[1] + b[1]) % 2 == 0:
                points.insert(i + 1, ((a[0] + b[0]) // 2, (a[1] + b[1]) // 2))
                break
    scope = tuple(points)
    assert is_simple_ring(scope)
    ring = tuple(area)
    assert ring_within(ring, scope) == shapely_within(ring, scope)


def test_an_edge_through_a_concave_corner_is_outside() -> None:
    """Both ends inside, the edge leaves through a reflex vertex: vertices alone would pass."""
    u_shape = ((0, 0), (0, 30), (30, 30), (30, 20), (10, 20), (10, 10), (30, 10), (30, 0))
    assert is_simple_ring(u_shape)
    assert not ring_within(((5, 25), (25, 25), (25, 5), (5, 5)), u_shape)
    assert ring_within(((5, 2), (5, 8), (25, 8)), u_shape)
    assert ring_within(((0, 0), (0, 30), (10, 10)), u_shape)  # along the boundary


def test_non_simple_rings_are_recognised() -> None:
    assert is_simple_ring(box(0, 0, 10, 10))
    assert not is_simple_ring(((0, 0), (10, 10), (0, 10), (10, 0)))  # a bow tie
    assert not is_simple_ring(((0, 0), (0, 10), (0, 20)))  # no area
    assert not is_simple_ring(((0, 0), (0, 10), (10, 10), (0, 10)))  # a repeated point
    assert not is_simple_ring(((0, 0), (0, 20), (0, 10), (10, 10)))  # folds back on itself


def test_circle_within_measures_metres_to_the_nearest_edge() -> None:
    scope = ZUID_HOLLAND
    centre = e7(52.10, 4.60)
    to_north = (scope[0][0] - centre[0]) / E7 * METRES_PER_DEGREE_LAT
    assert circle_within(Circle(*centre, math.floor(to_north) - 1), scope)
    assert not circle_within(Circle(*centre, math.ceil(to_north) + 1), scope)
    on_edge = (scope[0][0], centre[1])
    assert circle_within(Circle(*on_edge, 0), scope)
    assert not circle_within(Circle(*on_edge, 1), scope)


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
