"""An independent reading of docs/protocol.md §6.6 against the geometry vectors.

The scope rule is written here from the document's prose alone (integers, no shapely, nothing
from `meshnode.alerts`), as a phone team would, and must give every vector's verdict. If the
document and `meshnode/alerts/area.py` drift apart, these tests fail.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest

GEOMETRY = json.loads((Path(__file__).parent / "vectors" / "v1.json").read_text())["geometry"]
P = tuple[int, int]


def cross(o: P, a: P, b: P) -> int:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def on_edge(p: P, a: P, b: P) -> bool:
    return (cross(a, b, p) == 0 and min(a[0], b[0]) <= p[0] <= max(a[0], b[0])
            and min(a[1], b[1]) <= p[1] <= max(a[1], b[1]))


def edges(ring: list[P]) -> list[tuple[P, P]]:
    return list(zip(ring, ring[1:] + ring[:1], strict=True))


def inside(p: P, ring: list[P]) -> bool:
    odd = False
    for a, b in edges(ring):
        if on_edge(p, a, b):
            return True
        if (a[1] > p[1]) != (b[1] > p[1]) and (cross(a, b, p) > 0) == (b[1] > a[1]):
            odd = not odd
    return odd


def plane(points: list[list[int]], scale: int = 1) -> list[P]:
    return [(lon * scale, lat * scale) for lat, lon in points]


def polygon_within(area: list[list[int]], scope: list[list[int]]) -> bool:
    s, r = plane(scope, 2), plane(area, 2)
    for p, q in edges(r):
        for a, b in edges(s):
            if cross(a, b, p) * cross(a, b, q) < 0 and cross(p, q, a) * cross(p, q, b) < 0:
                return False
        cuts = sorted({p, q, *(v for v in s if on_edge(v, p, q))},
                      key=lambda v: (v[0] - p[0]) * (q[0] - p[0]) + (v[1] - p[1]) * (q[1] - p[1]))
        pieces = list(itertools.pairwise(cuts)) or [(p, p)]
        if not all(inside(((u[0] + w[0]) // 2, (u[1] + w[1]) // 2), s) for u, w in pieces):
            return False
    return True


def circle_within(circle: list[int], scope: list[list[int]]) -> bool:
    lat_c, lon_c, radius = circle
    if not inside((lon_c, lat_c), plane(scope)):
        return False
    k = 6_371_008.8 * math.pi / 180 / 10**7
    kx = k * math.cos(lat_c * math.pi / 180 / 10**7)
    for (ay, ax), (by, bx) in zip(scope, scope[1:] + scope[:1], strict=True):
        x1, y1, x2, y2 = (ax - lon_c) * kx, (ay - lat_c) * k, (bx - lon_c) * kx, (by - lat_c) * k
        dx, dy = x2 - x1, y2 - y1
        t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, -(x1 * dx + y1 * dy) / (dx * dx + dy * dy)))
        if math.hypot(x1 + t * dx, y1 + t * dy) < radius:
            return False
    return True


def area_within(area: dict[str, Any], scopes: list[list[list[int]]],
                codes: list[list[str]]) -> bool:
    if not (area["polygons"] or area["circles"] or area["geocodes"]):
        return False
    return (all(any(polygon_within(r, s) for s in scopes) for r in area["polygons"])
            and all(any(circle_within(c, s) for s in scopes) for c in area["circles"])
            and all(g in codes for g in area["geocodes"]))


@pytest.mark.parametrize("case", GEOMETRY["cases"], ids=lambda c: c["name"])
def test_the_document_alone_gives_every_geometry_verdict(case: dict[str, Any]) -> None:
    cert = GEOMETRY["cert"]
    verdict = bool(case["areas"]) and all(
        area_within(a, cert["polygons"], cert["geocodes"]) for a in case["areas"])
    assert verdict == case["within"]


@pytest.mark.parametrize("case", GEOMETRY["covers"], ids=lambda c: c["name"])
def test_the_document_alone_gives_every_coverage_verdict(case: dict[str, Any]) -> None:
    area, lat, lon = case["area"], case["lat"], case["lon"]
    in_polygon = any(inside((lon, lat), plane(r)) for r in area["polygons"])

    def haversine(c: list[int]) -> float:
        f1, f2 = math.radians(c[0] / 1e7), math.radians(lat / 1e7)
        dl = math.radians((lon - c[1]) / 1e7)
        h = math.sin((f2 - f1) / 2) ** 2 + math.cos(f1) * math.cos(f2) * math.sin(dl / 2) ** 2
        return 2 * 6_371_008.8 * math.asin(math.sqrt(h))

    in_circle = any(haversine(c) <= c[2] for c in area["circles"])
    assert (in_polygon or in_circle) == case["covered"]
