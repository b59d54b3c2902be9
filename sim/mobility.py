"""Mobility models: where every node is at simulated time t, as one numpy array.

A model answers `positions(t)` with an (n, 2) float64 array of metres on a local plane, for a
non-decreasing sequence of t (earlier times raise ValueError), and `indoors()` with which
nodes are inside a building at that moment (walls shorten the radio range between two
buildings; see `contacts.drop_indoor`). Models keep per-node state in arrays and advance all
nodes at once. State changes (a trip starting, a pause ending) happen at their exact times,
not rounded to the step; the step only decides when positions are sampled (and, through the
order of random draws, which random run one gets).

Models: `Stationary` (hubs, phones left at home), `RandomWaypoint`, `Neighbourhood` (homes on
a street grid, trips to shops, hubs and other homes along the streets, day/night rhythm), and
`Composite` to put several populations side by side (e.g. hubs first, then residents).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from sim.config import ScenarioError, check, param

__all__ = [
    "DEFAULT_HOURLY",
    "Composite",
    "Destination",
    "Layout",
    "Mobility",
    "Neighbourhood",
    "NeighbourhoodParams",
    "RandomWaypoint",
    "RandomWaypointParams",
    "Stationary",
    "make_layout",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

DAY = 86_400.0
_MAX_TRANSITION_ROUNDS = 10_000  # a bug guard: state changes per positions() call per node

# Relative trip-start weights per clock hour 0..23. The shape follows the weekday distribution
# of trip departures in the Dutch travel survey ODiN (CBS): almost nothing at night, a morning
# rise, a broad daytime plateau and an evening tail. Approximate, not fitted.
DEFAULT_HOURLY: tuple[float, ...] = (
    0.2, 0.1, 0.1, 0.1, 0.1, 0.3, 1.5, 4.5, 6.0, 5.5, 6.0, 6.5,
    6.5, 6.5, 6.5, 7.0, 7.5, 7.5, 6.0, 5.0, 4.0, 3.0, 1.5, 0.7,
)


class Mobility(Protocol):
    """Positions of `size` nodes over simulated time."""

    @property
    def size(self) -> int: ...

    def positions(self, t: float) -> FloatArray:
        """(size, 2) positions in metres at time t; t must not decrease between calls."""
        ...

    def indoors(self) -> BoolArray:
        """Which nodes are inside a building, as of the last `positions` call."""
        ...


class _Clock:
    """Rejects time running backwards."""

    __slots__ = ("last",)

    def __init__(self, start: float) -> None:
        self.last = start

    def advance(self, t: float) -> None:
        if not t >= self.last:
            raise ValueError(f"time {t!r} is before the last time asked for ({self.last!r})")
        self.last = t


class Stationary:
    """Nodes that never move."""

    def __init__(self, points: FloatArray, indoors: bool = True) -> None:
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or not np.all(np.isfinite(points)):
            raise ValueError("points must be a finite (n, 2) array")
        self._points = points.copy()
        self._indoors = np.full(len(points), indoors, dtype=np.bool_)

    @property
    def size(self) -> int:
        return len(self._points)

    def positions(self, t: float) -> FloatArray:
        return self._points.copy()

    def indoors(self) -> BoolArray:
        return self._indoors.copy()


class Composite:
    """Several models side by side: node indices follow the order of `parts`."""

    def __init__(self, parts: Sequence[Mobility]) -> None:
        self._parts = tuple(parts)

    @property
    def size(self) -> int:
        return sum(part.size for part in self._parts)

    def positions(self, t: float) -> FloatArray:
        if not self._parts:
            return np.empty((0, 2))
        return np.concatenate([part.positions(t) for part in self._parts])

    def indoors(self) -> BoolArray:
        if not self._parts:
            return np.empty(0, dtype=np.bool_)
        return np.concatenate([part.indoors() for part in self._parts])


# --- random waypoint ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RandomWaypointParams:
    """Random waypoint in a rectangle ([random_waypoint] in a scenario)."""

    width: float = param(1000.0, "area width", unit="m", gt=0)
    height: float = param(1000.0, "area height", unit="m", gt=0)
    speed: tuple[float, float] = param(
        (0.5, 1.5), "speed range, uniform per leg; low > 0 avoids the model's speed decay "
        "(Yoon et al. 2003)", unit="m/s", gt=0, length=2, ordered=True)
    pause: tuple[float, float] = param((0.0, 120.0), "pause at each waypoint, uniform",
                                       unit="s", ge=0, length=2, ordered=True)

    def __post_init__(self) -> None:
        check(self)


class RandomWaypoint:
    """Each node walks straight to a uniform random point, pauses, and repeats."""

    def __init__(self, size: int, params: RandomWaypointParams, rng: np.random.Generator,
                 start: float = 0.0) -> None:
        if size < 0:
            raise ValueError("size must be >= 0")
        self._p = params
        self._rng = rng
        self._clock = _Clock(start)
        self._src = self._uniform(size)
        self._dst = self._src.copy()
        self._depart = np.full(size, start)
        self._arrive = np.full(size, start)
        # Start mid-pause so that nodes do not all leave at once.
        self._leave = start + rng.uniform(*params.pause, size)
        self._speed = np.ones(size)

    @property
    def size(self) -> int:
        return len(self._src)

    def _uniform(self, n: int) -> FloatArray:
        return self._rng.uniform((0.0, 0.0), (self._p.width, self._p.height), (n, 2))

    def positions(self, t: float) -> FloatArray:
        self._clock.advance(t)
        for _ in range(_MAX_TRANSITION_ROUNDS):
            due = np.flatnonzero(self._leave <= t)
            if due.size == 0:
                break
            self._new_leg(due)
        else:
            raise RuntimeError("random waypoint: too many legs in one step")
        span = self._arrive - self._depart
        frac = np.where(span > 0, (t - self._depart) / np.where(span > 0, span, 1.0), 1.0)
        frac = np.clip(frac, 0.0, 1.0)[:, None]
        return self._src + (self._dst - self._src) * frac

    def indoors(self) -> BoolArray:
        """Random waypoint walkers are always outdoors."""
        return np.zeros(self.size, dtype=np.bool_)

    def _new_leg(self, due: IntArray) -> None:
        n = due.size
        start = self._leave[due]
        src = self._dst[due]
        dst = self._uniform(n)
        speed = self._rng.uniform(*self._p.speed, n)
        arrive = start + np.hypot(*(dst - src).T) / speed
        self._src[due] = src
        self._dst[due] = dst
        self._depart[due] = start
        self._arrive[due] = arrive
        self._speed[due] = speed
        self._leave[due] = arrive + self._rng.uniform(*self._p.pause, n)


# --- neighbourhood -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NeighbourhoodParams:
    """Homes on a street grid and residents' trips ([neighbourhood] in a scenario)."""

    density: float = param(
        5000.0, "residents per km²; sets the area. Dutch cities: Amsterdam ~5,000–5,500, "
        "The Hague ~6,500, Utrecht ~3,700 per km² of land (CBS)", unit="1/km²", gt=0)
    block: float = param(100.0, "street grid pitch (street centre line to centre line); Dutch "
                         "urban perimeter blocks are ~80–120 m", unit="m", gt=0)
    setback: float = param(10.0, "distance of a home from its street's centre line (half a "
                           "street plus the front of the house)", unit="m", ge=0)
    household_size: float = param(2.0, "residents per home (CBS: ~2.1 nationally, ~1.8–1.9 "
                                  "in the big cities)", ge=1)
    shops: int = param(6, "shops (trip destinations without a device)", ge=0)
    trips_per_day: float = param(
        1.5, "outings (home → destination → home) started per resident per day at home; "
        "the time spent out does not count, so slightly fewer happen. The Dutch make ~2.7 "
        "one-way trips a day (ODiN)", ge=0)
    walk_share: float = param(0.6, "share of outings on foot; the rest by bicycle", ge=0, le=1)
    walk_speed: tuple[float, float] = param((1.1, 1.6), "walking speed, uniform per outing",
                                            unit="m/s", gt=0, length=2, ordered=True)
    cycle_speed: tuple[float, float] = param((3.5, 5.5), "cycling speed, uniform per outing",
                                             unit="m/s", gt=0, length=2, ordered=True)
    nearest: int = param(0, "an outing to a shop or a hub goes to one of this many nearest "
                         "the resident's home, at random; 0: any in the area", ge=0)
    trip_radius: float = param(
        0.0, "visits and strolls go to a block at most this far from the home's block (in "
        "each direction, whole blocks); 0: anywhere in the area. Keeps outings local when "
        "the area grows with the population", unit="m", ge=0)
    weight_shop: float = param(0.3, "relative chance an outing goes to a shop", ge=0)
    weight_hub: float = param(0.2, "relative chance an outing goes to a hub", ge=0)
    weight_visit: float = param(0.3, "relative chance an outing visits another home", ge=0)
    weight_stroll: float = param(0.2, "relative chance an outing goes to a random street point",
                                 ge=0)
    dwell_shop: tuple[float, float] = param((600.0, 1800.0), "time spent at a shop, uniform",
                                            unit="s", ge=0, length=2, ordered=True)
    dwell_hub: tuple[float, float] = param((900.0, 3600.0), "time spent at a hub, uniform",
                                           unit="s", ge=0, length=2, ordered=True)
    dwell_visit: tuple[float, float] = param((1800.0, 7200.0), "time spent visiting, uniform",
                                             unit="s", ge=0, length=2, ordered=True)
    dwell_stroll: tuple[float, float] = param((0.0, 300.0), "pause at a stroll's turning "
                                              "point, uniform", unit="s", ge=0, length=2,
                                              ordered=True)
    hourly: tuple[float, ...] = param(
        DEFAULT_HOURLY, "relative outing start rate per clock hour 0–23 (shape of ODiN "
        "weekday trip starts; approximate)", gt=0, length=24)

    def __post_init__(self) -> None:
        check(self)
        if self.setback * 2 >= self.block:
            raise ScenarioError("setback", "must be less than half of block")
        if self.weight_shop + self.weight_hub + self.weight_visit + self.weight_stroll <= 0:
            raise ScenarioError("weight_shop", "destination weights must not all be zero")


@dataclass(frozen=True, slots=True, eq=False)
class Places:
    """Points on the street grid: where each is (`pos`), its front door on the street centre
    line (`door`), and whether that street runs east-west (`horizontal`)."""

    pos: FloatArray
    door: FloatArray
    horizontal: BoolArray

    def __len__(self) -> int:
        return len(self.pos)

    def take(self, index: IntArray) -> Places:
        return Places(self.pos[index], self.door[index], self.horizontal[index])


@dataclass(frozen=True, slots=True, eq=False)
class Layout:
    """A square street grid of `blocks` x `blocks` blocks with homes, shops and hubs."""

    blocks: int
    block: float
    homes: Places
    shops: Places
    hubs: Places
    resident_home: IntArray = field(repr=False)

    @property
    def width(self) -> float:
        return self.blocks * self.block

    @property
    def residents(self) -> int:
        return len(self.resident_home)


def _frontage(rng: np.random.Generator, n: int, blocks: int, block: float,
              setback: float, near: tuple[IntArray, IntArray, int] | None = None) -> Places:
    """`n` random points facing a street: a block, one of its four sides, a spot along it.

    With `near` = (bx, by, r) the block is drawn within r blocks of (bx[i], by[i]), clipped
    to the grid."""
    if near is None:
        bx = rng.integers(0, blocks, n)
        by = rng.integers(0, blocks, n)
    else:
        bx, by = _blocks_near(rng, *near, blocks)
    side = rng.integers(0, 4, n)  # 0 south, 1 north, 2 west, 3 east
    along = rng.uniform(setback, block - setback, n)
    horizontal = side < 2
    # Street lines are integer multiples of `block`, computed the same way everywhere, so two
    # doors on one street have bit-identical coordinates.
    line = np.where(horizontal, by + (side == 1), bx + (side == 3)) * block
    door = np.where(horizontal[:, None],
                    np.stack([bx * block + along, line], axis=1),
                    np.stack([line, by * block + along], axis=1))
    inward = np.select([side == 0, side == 1, side == 2], [1.0, -1.0, 1.0], -1.0) * setback
    pos = door + np.where(horizontal[:, None], np.stack([np.zeros(n), inward], 1),
                          np.stack([inward, np.zeros(n)], 1))
    return Places(pos, door, horizontal)


def _blocks_near(rng: np.random.Generator, cx: IntArray, cy: IntArray, r: int,
                 blocks: int) -> tuple[IntArray, IntArray]:
    """Per (cx[i], cy[i]), a block at most `r` blocks away in each direction, on the grid."""
    bx = np.clip(cx + rng.integers(-r, r + 1, cx.size), 0, blocks - 1)
    by = np.clip(cy + rng.integers(-r, r + 1, cy.size), 0, blocks - 1)
    return bx, by


def make_layout(residents: int, hubs: int, params: NeighbourhoodParams,
                rng: np.random.Generator) -> Layout:
    """Size the grid for `residents` at the density, then place homes, shops and hubs.

    Homes, shops and hubs sit at uniform random spots along the block edges; residents are
    spread over ceil(residents / household_size) homes as evenly as possible.
    """
    if residents < 0 or hubs < 0:
        raise ValueError("residents and hubs must be >= 0")
    side = math.sqrt(max(residents, 1) / params.density) * 1000.0
    blocks = max(1, round(side / params.block))
    homes = max(1, math.ceil(residents / params.household_size))
    place = _frontage(rng, homes + params.shops + hubs, blocks, params.block, params.setback)
    order = np.arange(len(place))
    resident_home = rng.permutation(np.arange(residents) % homes)
    return Layout(blocks, params.block, place.take(order[:homes]),
                  place.take(order[homes:homes + params.shops]),
                  place.take(order[homes + params.shops:]), resident_home.astype(np.int64))


class Destination:
    """Outing destination kinds (values of `Neighbourhood.destination`)."""

    SHOP = 0
    HUB = 1
    VISIT = 2
    STROLL = 3


_HOME, _OUT, _DWELL, _BACK = 0, 1, 2, 3
_WAYPOINTS = 7  # home, its door, corner, turn, corner, destination door, destination


def _street_route(origin: Places, dest: Places, block: float) -> FloatArray:
    """(m, 7, 2) near-shortest Manhattan routes along the street centre lines.

    Route: origin → its door → a corner of its street segment → an L along the grid → a
    corner of the destination's segment → its door → destination. When both doors are on the
    same street line the corners collapse onto the origin door (straight along the street).
    """
    a, b = origin.door, dest.door

    def corner(door: FloatArray, horizontal: BoolArray, toward: FloatArray) -> FloatArray:
        axis = np.where(horizontal, 0, 1)
        rows = np.arange(len(door))
        coord = door[rows, axis]
        low = np.floor(coord / block) * block
        high = low + block
        goal = toward[rows, axis]
        pick = np.where(np.abs(coord - low) + np.abs(low - goal)
                        <= np.abs(coord - high) + np.abs(high - goal), low, high)
        out = door.copy()
        out[rows, axis] = pick
        return out

    c_a = corner(a, origin.horizontal, b)
    c_b = corner(b, dest.horizontal, c_a)
    same_line = ((origin.horizontal & dest.horizontal & (a[:, 1] == b[:, 1]))
                 | (~origin.horizontal & ~dest.horizontal & (a[:, 0] == b[:, 0])))
    c_a[same_line] = a[same_line]
    c_b[same_line] = a[same_line]
    turn = np.stack([c_b[:, 0], c_a[:, 1]], axis=1)
    return np.stack([origin.pos, a, c_a, turn, c_b, b, dest.pos], axis=1)


class _Locality:
    """Where a resident's local outings may go: each resident's home block, the `nearest`
    shops and hubs to the home (None: any), and homes indexed by block for local visits."""

    def __init__(self, layout: Layout, params: NeighbourhoodParams, home: Places) -> None:
        blocks, block = layout.blocks, layout.block
        home_cell = np.clip(np.floor(layout.homes.pos / block).astype(np.int64), 0, blocks - 1)
        cell = home_cell[layout.resident_home]  # `home` is layout.homes by resident
        self.bx, self.by = cell[:, 0], cell[:, 1]
        self.radius = math.ceil(params.trip_radius / block) if params.trip_radius else 0
        self.shops = _nearest(home.pos, layout.shops.pos, params.nearest)
        self.hubs = _nearest(home.pos, layout.hubs.pos, params.nearest)
        key = home_cell[:, 0] * blocks + home_cell[:, 1]
        self._by_block = np.argsort(key, kind="stable")
        self._start = np.zeros(blocks * blocks + 1, dtype=np.int64)
        np.cumsum(np.bincount(key, minlength=blocks * blocks), out=self._start[1:])
        self._blocks = blocks

    def visit(self, rng: np.random.Generator, residents: IntArray,
              own: IntArray) -> tuple[IntArray, BoolArray]:
        """For each resident, a home in a block within `radius` of theirs, not their own;
        `found` is False where that block has no other home (the outing becomes a stroll)."""
        blocks = self._blocks
        bx, by = _blocks_near(rng, self.bx[residents], self.by[residents], self.radius, blocks)
        key = bx * blocks + by
        lo, count = self._start[key], self._start[key + 1] - self._start[key]
        pick = np.floor(rng.random(residents.size) * count).astype(np.int64)
        other = self._by_block[np.minimum(lo + pick, len(self._by_block) - 1)]
        # Your own home is no visit: take the next home of that block instead.
        mine = other == own
        shifted = self._by_block[np.minimum(lo + (pick + 1) % np.maximum(count, 1),
                                            len(self._by_block) - 1)]
        other = np.where(mine, shifted, other)
        found = (count > 0) & (other != own)
        return other.astype(np.int64), found


def _nearest(points: FloatArray, places: FloatArray, k: int) -> IntArray | None:
    """Per point, the indices of its `k` nearest places (any order); None if k is 0 or
    there are no more than k places (then every place is a candidate)."""
    if k == 0 or len(places) <= k:
        return None
    out = np.empty((len(points), k), dtype=np.int64)
    for lo in range(0, len(points), 4096):  # bounded memory: 4096 x places distances
        d = np.linalg.norm(points[lo:lo + 4096, None, :] - places[None, :, :], axis=2)
        out[lo:lo + 4096] = np.argpartition(d, k - 1, axis=1)[:, :k]
    return out


class Neighbourhood:
    """Residents of a `Layout` who go on outings along the streets and come home.

    Each resident is at home, out (travelling), dwelling at the destination, or on the way
    back. Outings start as a non-homogeneous Poisson process whose rate follows the hourly
    profile (sampled exactly by inverting the cumulative rate), so nights are quiet. A
    destination is a shop, a hub, another home or a random street point; the way back
    retraces the way out at the same speed.
    """

    def __init__(self, layout: Layout, params: NeighbourhoodParams, rng: np.random.Generator,
                 start: float = 0.0, start_hour: float = 8.0) -> None:
        if not 0 <= start_hour < 24:
            raise ValueError("start_hour must be in [0, 24)")
        self._layout = layout
        self._p = params
        self._rng = rng
        self._clock = _Clock(start)
        self._offset = start_hour * 3600.0 - start  # sim time + offset = clock seconds
        n = layout.residents
        self._home = layout.homes.take(layout.resident_home)
        self._local = _Locality(layout, params, self._home)
        self._phase = np.full(n, _HOME, dtype=np.int8)
        self._destination = np.full(n, Destination.STROLL, dtype=np.int8)
        self._route = np.repeat(self._home.pos[:, None, :], _WAYPOINTS, axis=1)
        self._dist = np.zeros((n, _WAYPOINTS))
        self._depart = np.full(n, start)
        self._speed = np.ones(n)
        hourly = np.asarray(params.hourly, dtype=np.float64)
        self._knots = np.arange(25) * 3600.0
        self._cum_rate = np.concatenate(
            [[0.0], np.cumsum(hourly / hourly.sum() * params.trips_per_day)])
        weights = np.array([params.weight_shop if len(layout.shops) else 0.0,
                            params.weight_hub if len(layout.hubs) else 0.0,
                            params.weight_visit if len(layout.homes) > 1 else 0.0,
                            params.weight_stroll])
        if weights.sum() == 0:  # nowhere configured to go: stroll
            weights[Destination.STROLL] = 1.0
        self._weights = weights / weights.sum()
        self._until = self._next_outing(np.full(n, start))

    @property
    def size(self) -> int:
        return self._layout.residents

    @property
    def layout(self) -> Layout:
        return self._layout

    @property
    def phase(self) -> NDArray[np.int8]:
        """Per resident: 0 at home, 1 going out, 2 at the destination, 3 coming back."""
        return self._phase.copy()

    def indoors(self) -> BoolArray:
        """At home, or at a shop, hub or visit (a stroll's turning point is outdoors)."""
        return np.asarray((self._phase == _HOME) | ((self._phase == _DWELL)
                                                    & (self._destination != Destination.STROLL)))

    def positions(self, t: float) -> FloatArray:
        self._clock.advance(t)
        for _ in range(_MAX_TRANSITION_ROUNDS):
            due = np.flatnonzero(self._until <= t)
            if due.size == 0:
                break
            self._transition(due)
        else:
            raise RuntimeError("neighbourhood: too many state changes in one step")
        out = self._home.pos.copy()
        dwelling = np.flatnonzero(self._phase == _DWELL)
        out[dwelling] = self._route[dwelling, -1]
        moving = np.flatnonzero((self._phase == _OUT) | (self._phase == _BACK))
        if moving.size:
            out[moving] = self._along(moving, t)
        return out

    def _along(self, idx: IntArray, t: float) -> FloatArray:
        dist = self._dist[idx]
        travelled = np.minimum(self._speed[idx] * (t - self._depart[idx]), dist[:, -1])
        seg = np.clip((dist <= travelled[:, None]).sum(axis=1) - 1, 0, _WAYPOINTS - 2)
        rows = np.arange(idx.size)
        start, end = dist[rows, seg], dist[rows, seg + 1]
        length = end - start
        frac = np.where(length > 0, (travelled - start) / np.where(length > 0, length, 1.0), 0.0)
        route = self._route[idx]
        p0, p1 = route[rows, seg], route[rows, seg + 1]
        return np.asarray(p0 + (p1 - p0) * np.clip(frac, 0.0, 1.0)[:, None], dtype=np.float64)

    def _transition(self, due: IntArray) -> None:
        phase = self._phase[due]
        now = self._until[due]
        for which, handler in ((_HOME, self._leave_home), (_OUT, self._arrive),
                               (_DWELL, self._head_back), (_BACK, self._arrive_home)):
            mask = phase == which
            if mask.any():
                handler(due[mask], now[mask])

    def _leave_home(self, idx: IntArray, now: FloatArray) -> None:
        n = idx.size
        rng = self._rng
        kind = rng.choice(4, size=n, p=self._weights)
        local = self._local
        dest = self._street_points(idx)  # strolls; others overwritten below
        layout = self._layout
        for k, places, near in ((Destination.SHOP, layout.shops, local.shops),
                                (Destination.HUB, layout.hubs, local.hubs)):
            sel = np.flatnonzero(kind == k)
            if sel.size:
                if near is None:
                    chosen = rng.integers(0, len(places), sel.size)
                else:
                    chosen = near[idx[sel], rng.integers(0, near.shape[1], sel.size)]
                self._put(dest, sel, places.take(chosen))
        sel = np.flatnonzero(kind == Destination.VISIT)
        if sel.size:
            own = layout.resident_home[idx[sel]]
            if local.radius:
                other, found = local.visit(rng, idx[sel], own)
                kind[sel[~found]] = Destination.STROLL
                sel, other = sel[found], other[found]
            else:
                other = (own + 1 + rng.integers(0, len(layout.homes) - 1, sel.size)) % len(
                    layout.homes)
            self._put(dest, sel, layout.homes.take(other))
        origin = self._home.take(idx)
        route = _street_route(origin, dest, layout.block)
        walking = rng.random(n) < self._p.walk_share
        speed = np.where(walking, rng.uniform(*self._p.walk_speed, n),
                         rng.uniform(*self._p.cycle_speed, n))
        dist = np.concatenate(
            [np.zeros((n, 1)), np.cumsum(np.linalg.norm(np.diff(route, axis=1), axis=2), axis=1)],
            axis=1)
        self._route[idx] = route
        self._dist[idx] = dist
        self._speed[idx] = speed
        self._depart[idx] = now
        self._destination[idx] = kind
        self._phase[idx] = _OUT
        self._until[idx] = now + dist[:, -1] / speed

    @staticmethod
    def _put(dest: Places, sel: IntArray, places: Places) -> None:
        dest.pos[sel] = places.pos
        dest.door[sel] = places.door
        dest.horizontal[sel] = places.horizontal

    def _street_points(self, idx: IntArray) -> Places:
        layout = self._layout
        local = self._local
        near = None if not local.radius else (local.bx[idx], local.by[idx], local.radius)
        return _frontage(self._rng, idx.size, layout.blocks, layout.block, 0.0, near)

    def _arrive(self, idx: IntArray, now: FloatArray) -> None:
        dwell = np.empty(idx.size)
        kinds = self._destination[idx]
        p = self._p
        for k, (low, high) in ((Destination.SHOP, p.dwell_shop), (Destination.HUB, p.dwell_hub),
                               (Destination.VISIT, p.dwell_visit),
                               (Destination.STROLL, p.dwell_stroll)):
            mask = kinds == k
            dwell[mask] = self._rng.uniform(low, high, int(mask.sum()))
        self._phase[idx] = _DWELL
        self._until[idx] = now + dwell

    def _head_back(self, idx: IntArray, now: FloatArray) -> None:
        self._route[idx] = self._route[idx, ::-1]
        dist = self._dist[idx]
        self._dist[idx] = dist[:, -1:] - dist[:, ::-1]
        self._depart[idx] = now
        self._phase[idx] = _BACK
        self._until[idx] = now + dist[:, -1] / self._speed[idx]

    def _arrive_home(self, idx: IntArray, now: FloatArray) -> None:
        self._phase[idx] = _HOME
        self._until[idx] = self._next_outing(now)

    def _next_outing(self, now: FloatArray) -> FloatArray:
        """Next start of a non-homogeneous Poisson process after `now` (inverse transform)."""
        per_day = self._cum_rate[-1]
        if per_day == 0:
            return np.full(now.shape, math.inf)
        clock = now + self._offset
        days = np.floor(clock / DAY)
        level = days * per_day + np.interp(clock - days * DAY, self._knots, self._cum_rate)
        target = level + self._rng.exponential(1.0, now.shape)
        days = np.floor(target / per_day)
        rest = target - days * per_day
        when = days * DAY + np.interp(rest, self._cum_rate, self._knots) - self._offset
        return np.asarray(np.maximum(when, now), dtype=np.float64)
