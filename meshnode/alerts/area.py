"""Geometry of alert areas: does an alert cover a point, does it stay inside an issuer's scope.

Polygons are handled by shapely in plain (longitude, latitude) degrees, which is exact for
point-in-polygon and containment tests as long as no polygon crosses the antimeridian or a
pole (such areas are not supported). Circles are measured on a sphere of the Earth's mean
radius (haversine). For containment a circle is replaced by a 64-sided polygon drawn around
it on the sphere, with its radius enlarged by 1/cos(pi/64) so the polygon's edges lie outside
the circle: an approximation that can only make the test stricter, never looser.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence

import shapely
from shapely.geometry.base import BaseGeometry

from meshnode.alerts.model import Alert, Area, Circle, Info, Pair, Ring

__all__ = [
    "EARTH_RADIUS_M",
    "area_within",
    "circle_polygon",
    "covers",
    "distance_m",
    "ring_geometry",
    "simplify_ring",
]

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
CIRCLE_SEGMENTS = 64
_E7 = 1e7


def distance_m(lat1_e7: int, lon1_e7: int, lat2_e7: int, lon2_e7: int) -> float:
    """Great-circle (haversine) distance in metres between two points in degrees x 10^7."""
    p1, p2 = math.radians(lat1_e7 / _E7), math.radians(lat2_e7 / _E7)
    dp = p2 - p1
    dl = math.radians((lon2_e7 - lon1_e7) / _E7)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def ring_geometry(ring: Ring) -> BaseGeometry:
    """The polygon of `ring` in (lon, lat) degrees, repaired if it self-intersects."""
    polygon = shapely.Polygon([(lon / _E7, lat / _E7) for lat, lon in ring])
    return polygon if polygon.is_valid else shapely.make_valid(polygon)


def circle_polygon(circle: Circle, segments: int = CIRCLE_SEGMENTS) -> BaseGeometry:
    """A polygon on the sphere that contains `circle` (a point for radius 0)."""
    lat0, lon0 = math.radians(circle.lat_e7 / _E7), math.radians(circle.lon_e7 / _E7)
    if circle.radius_m == 0:
        return shapely.Point(circle.lon_e7 / _E7, circle.lat_e7 / _E7)
    # Circumscribe rather than inscribe: vertices at r / cos(pi/n) put every edge outside.
    d = circle.radius_m / math.cos(math.pi / segments) / EARTH_RADIUS_M
    points = []
    for k in range(segments):
        bearing = 2 * math.pi * k / segments
        lat = math.asin(math.sin(lat0) * math.cos(d)
                        + math.cos(lat0) * math.sin(d) * math.cos(bearing))
        lon = lon0 + math.atan2(math.sin(bearing) * math.sin(d) * math.cos(lat0),
                                math.cos(d) - math.sin(lat0) * math.sin(lat))
        points.append((math.degrees(lon), math.degrees(lat)))
    return shapely.Polygon(points)


def covers(target: Alert | Info | Area, lat_e7: int, lon_e7: int) -> bool:
    """True if the point lies in (or on the edge of) any polygon or circle of `target`.

    Areas described only by geocodes or text cover no point here: their shape is unknown.
    """
    if isinstance(target, Alert):
        return any(covers(area, lat_e7, lon_e7) for area in target.areas)
    if isinstance(target, Info):
        return any(covers(area, lat_e7, lon_e7) for area in target.areas)
    point = shapely.Point(lon_e7 / _E7, lat_e7 / _E7)
    if any(ring_geometry(ring).covers(point) for ring in target.polygons):
        return True
    return any(distance_m(c.lat_e7, c.lon_e7, lat_e7, lon_e7) <= c.radius_m
               for c in target.circles)


def area_within(
    areas: Iterable[Area],
    *,
    polygons: Sequence[Ring] = (),
    geocodes: Collection[Pair] = (),
) -> bool:
    """True if every area stays inside an issuer's scope: `polygons` and/or `geocodes`.

    Fails closed. Each area's polygons and circles must lie inside the union of `polygons`;
    each of its geocodes must be one of `geocodes` (same valueName and value); an area with
    neither a shape nor a geocode (text only) is never within; an empty `areas` (an alert for
    everyone) is never within. Compare `area_within(alert.areas, ...)`.
    """
    areas = tuple(areas)
    if not areas:
        return False
    allowed_codes = frozenset(geocodes)
    scope = shapely.union_all([ring_geometry(ring) for ring in polygons]) if polygons else None
    for area in areas:
        shapes = [ring_geometry(ring) for ring in area.polygons]
        shapes += [circle_polygon(circle) for circle in area.circles]
        if not shapes and not area.geocodes:
            return False
        if shapes and (scope is None or not all(scope.covers(s) for s in shapes)):
            return False
        if not allowed_codes.issuperset(area.geocodes):
            return False
    return True


def simplify_ring(ring: Ring, max_points: int) -> tuple[Ring, float]:
    """`ring` with at most `max_points` points (>= 4), and the tolerance used, in degrees.

    Uses shapely's topology-preserving Douglas-Peucker, doubling the tolerance from about
    1 m until the ring fits. The result may cut corners of the original by up to that
    tolerance; the caller records it.
    """
    if len(ring) <= max_points:
        return ring, 0.0
    if max_points < 4:
        raise ValueError("simplify to at least 4 points")
    original = shapely.Polygon([(lon / _E7, lat / _E7) for lat, lon in ring])
    tolerance = 1e-5
    while True:
        simple = original.simplify(tolerance, preserve_topology=True)
        candidate = _exterior(simple)
        if candidate is not None and len(candidate) <= max_points:
            return candidate, tolerance
        if tolerance > 360:
            # Nothing left to simplify (a degenerate ring): fall back to its bounding box.
            west, south, east, north = original.bounds
            box = ((south, west), (south, east), (north, east), (north, west))
            return tuple((round(lat * _E7), round(lon * _E7)) for lat, lon in box), tolerance
        tolerance *= 2


def _exterior(geometry: BaseGeometry) -> Ring | None:
    if not isinstance(geometry, shapely.Polygon) or geometry.is_empty:
        return None
    coords = list(geometry.exterior.coords)[:-1]  # shapely repeats the first point
    points = tuple((round(lat * _E7), round(lon * _E7)) for lon, lat in coords)
    return points if len(points) >= 3 else None
