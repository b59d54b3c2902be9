"""Geometry of alert areas: does an alert cover a point, does it stay inside an issuer's scope.

The rules are docs/protocol.md §6.6, which any implementation must follow to reach the same
verdicts; this module is their reference. Scope containment is planar and exact: points are the
integers (longitude, latitude) in degrees x 10^7 taken as plane coordinates, and every test is a
sign of an integer cross product, so no floating-point rounding can change a verdict. The
boundary counts as inside. Each polygon or circle of an alert area must lie inside **one** of
the certificate's polygons, which must be simple (`is_simple_ring`; `decode_cert` refuses
others). Only a circle's edge distance uses floating point (metres in the local equirectangular
projection at its centre). `covers` (is a point in an alert's area, for display) uses the same
polygon test and great-circle (haversine) distance for circles. Areas crossing the antimeridian
or a pole are not supported (they are read literally in the plane).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Iterable, Sequence

import shapely
from shapely.geometry.base import BaseGeometry

from meshnode.alerts.model import Alert, Area, Circle, Info, Pair, Ring

__all__ = [
    "EARTH_RADIUS_M",
    "area_within",
    "circle_within",
    "covers",
    "distance_m",
    "edge_distance_m",
    "is_simple_ring",
    "point_in_ring",
    "ring_within",
    "simplify_ring",
]

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
_E7 = 1e7
_METRES_PER_E7 = EARTH_RADIUS_M * math.pi / 180 / _E7

Point = tuple[int, int]  # (x, y) = (lon_e7, lat_e7)


def distance_m(lat1_e7: int, lon1_e7: int, lat2_e7: int, lon2_e7: int) -> float:
    """Great-circle (haversine) distance in metres between two points in degrees x 10^7."""
    p1, p2 = math.radians(lat1_e7 / _E7), math.radians(lat2_e7 / _E7)
    dp = p2 - p1
    dl = math.radians((lon2_e7 - lon1_e7) / _E7)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _xy(ring: Ring, scale: int = 1) -> list[Point]:
    return [(lon * scale, lat * scale) for lat, lon in ring]


def _cross(o: Point, a: Point, b: Point) -> int:
    """Twice the signed area of triangle o, a, b: > 0 when b is left of o->a."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _on_segment(p: Point, a: Point, b: Point) -> bool:
    return (_cross(a, b, p) == 0 and min(a[0], b[0]) <= p[0] <= max(a[0], b[0])
            and min(a[1], b[1]) <= p[1] <= max(a[1], b[1]))


def _edges(points: Sequence[Point]) -> list[tuple[Point, Point]]:
    return [(points[i], points[(i + 1) % len(points)]) for i in range(len(points))]


def _inside(p: Point, points: Sequence[Point]) -> bool:
    """Even-odd rule with the boundary inside; exact."""
    inside = False
    for a, b in _edges(points):
        if _on_segment(p, a, b):
            return True
        if (a[1] > p[1]) != (b[1] > p[1]) and (_cross(a, b, p) > 0) == (b[1] > a[1]):
            inside = not inside
    return inside


def point_in_ring(ring: Ring, lat_e7: int, lon_e7: int) -> bool:
    """Whether the point lies inside `ring` or on its boundary (even-odd rule, exact)."""
    return _inside((lon_e7, lat_e7), _xy(ring))


def _cross_properly(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Segments a-b and c-d cross at one point interior to both."""
    return (_cross(c, d, a) * _cross(c, d, b) < 0) and (_cross(a, b, c) * _cross(a, b, d) < 0)


def _touch(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Segments a-b and c-d share at least one point."""
    return (_cross_properly(a, b, c, d) or _on_segment(c, a, b) or _on_segment(d, a, b)
            or _on_segment(a, c, d) or _on_segment(b, c, d))


def is_simple_ring(ring: Ring) -> bool:
    """Whether `ring` (not closed) bounds one region: distinct points, non-zero area, and no
    two edges meeting except neighbours at their shared point."""
    pts = _xy(ring)
    n = len(pts)
    if n < 3 or len(set(pts)) != n:
        return False
    if sum(_cross((0, 0), a, b) for a, b in _edges(pts)) == 0:
        return False
    edges = _edges(pts)
    for i in range(n):
        a, b = edges[i]
        for j in range(i + 1, n):
            c, d = edges[j]
            if j == i + 1 or (i == 0 and j == n - 1):
                shared, far = (b, d) if j == i + 1 else (a, c)
                mine = a if j == i + 1 else b
                # Neighbours meet only at their shared point: no fold-back along one line.
                if _on_segment(far, mine, shared) or _on_segment(mine, shared, far):
                    return False
            elif _touch(a, b, c, d):
                return False
    return True


def ring_within(ring: Ring, scope: Ring) -> bool:
    """Whether every point of `ring`'s region lies inside the simple polygon `scope` or on its
    boundary (exact).

    Each edge of `ring` must not cross an edge of `scope` at a point interior to both; it is
    cut at every vertex of `scope` lying on it, and the midpoint of every piece must be inside.
    A piece then touches the boundary nowhere in its interior or lies along it, so its midpoint
    decides for all of it; a region whose boundary lies in a simple polygon lies in it.
    Coordinates are doubled so that midpoints stay integers.

    When `scope` is convex (most issuers' regions are drawn as a few corners of a box), this
    reaches the same verdict by testing the vertices alone: a convex region holds every
    segment between two of its points, so `ring`'s edges lie in it exactly when their ends do,
    and an end outside fails the rule too. For any other scope the vertices are not enough
    (an edge may leave through a concave corner), and the rule above runs.
    """
    outline_turn = _convex_turn(scope)
    if outline_turn:
        points = _xy(scope)
        return all(_inside_convex(p, points, outline_turn) for p in _xy(ring))
    area, outline = _xy(ring, 2), _xy(scope, 2)
    outline_edges = _edges(outline)
    for p, q in _edges(area):
        if any(_cross_properly(p, q, a, b) for a, b in outline_edges):
            return False
        direction = (q[0] - p[0], q[1] - p[1])

        def along(v: Point, p: Point = p, direction: Point = direction) -> int:
            return (v[0] - p[0]) * direction[0] + (v[1] - p[1]) * direction[1]

        cuts = sorted({p, q, *(v for v in outline if _on_segment(v, p, q))}, key=along)
        for u, w in list(itertools.pairwise(cuts)) or [(p, p)]:
            if not _inside(((u[0] + w[0]) // 2, (u[1] + w[1]) // 2), outline):
                return False
    return True


def _convex_turn(ring: Ring) -> int:
    """+1 or -1, the direction every corner of `ring` turns, if `ring` (a simple polygon) is
    convex; 0 if not. Straight corners (a point on the line of its neighbours) turn neither
    way and are allowed: the region is convex all the same."""
    points = _xy(ring)
    n = len(points)
    turn = 0
    for i in range(n):
        c = _cross(points[i - 1], points[i], points[(i + 1) % n])
        if c:
            side = 1 if c > 0 else -1
            if turn and side != turn:
                return 0
            turn = side
    return turn


def _inside_convex(p: Point, points: Sequence[Point], turn: int) -> bool:
    """Whether `p` lies in the convex polygon `points` (whose corners turn `turn`) or on its
    boundary: on the inner side of, or on the line of, every edge (exact)."""
    n = len(points)
    return all(_cross(points[i], points[(i + 1) % n], p) * turn >= 0 for i in range(n))


def edge_distance_m(circle: Circle, a: tuple[int, int], b: tuple[int, int]) -> float:
    """Distance in metres from the circle's centre to segment a-b ((lat_e7, lon_e7) points),
    in the equirectangular projection at the centre's latitude (§6.6)."""
    kx = _METRES_PER_E7 * math.cos(math.radians(circle.lat_e7 / _E7))
    ax, ay = (a[1] - circle.lon_e7) * kx, (a[0] - circle.lat_e7) * _METRES_PER_E7
    bx, by = (b[1] - circle.lon_e7) * kx, (b[0] - circle.lat_e7) * _METRES_PER_E7
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
    return math.hypot(ax + t * dx, ay + t * dy)


def circle_within(circle: Circle, scope: Ring) -> bool:
    """Whether the disc lies inside the simple polygon `scope` (boundary inside): its centre
    inside (exact) and no edge nearer than its radius."""
    if not point_in_ring(scope, circle.lat_e7, circle.lon_e7):
        return False
    return all(edge_distance_m(circle, a, b) >= circle.radius_m
               for a, b in zip(scope, scope[1:] + scope[:1], strict=True))


def covers(target: Alert | Info | Area, lat_e7: int, lon_e7: int) -> bool:
    """True if the point lies in (or on the edge of) any polygon or circle of `target`.

    Polygons use the exact even-odd test; circles the haversine distance (<= radius). Areas
    described only by geocodes or text cover no point here: their shape is unknown.
    """
    if isinstance(target, Alert):
        return any(covers(area, lat_e7, lon_e7) for area in target.areas)
    if isinstance(target, Info):
        return any(covers(area, lat_e7, lon_e7) for area in target.areas)
    if any(point_in_ring(ring, lat_e7, lon_e7) for ring in target.polygons):
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

    Fails closed. Each polygon and circle of an area must lie inside one of `polygons` (simple
    rings); each of its geocodes must be one of `geocodes` (same valueName and value); an area
    with neither a shape nor a geocode (text only) is never within; an empty `areas` (an alert
    for everyone) is never within.
    """
    areas = tuple(areas)
    if not areas:
        return False
    allowed_codes = frozenset(geocodes)
    for area in areas:
        if not (area.polygons or area.circles or area.geocodes):
            return False
        if not all(any(ring_within(ring, scope) for scope in polygons)
                   for ring in area.polygons):
            return False
        if not all(any(circle_within(circle, scope) for scope in polygons)
                   for circle in area.circles):
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
