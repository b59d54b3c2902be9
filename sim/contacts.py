"""Contact detection: which node pairs are within radio range, step by step.

`pairs_grid` bins nodes into a uniform grid of cells at least `range` wide and compares each
node only with nodes in its own and four of its eight neighbouring cells (each neighbouring
pair of cells is visited once), all in numpy. `pairs_brute` is the all-pairs reference. A pair
is in contact when its distance is <= range (inclusive), computed identically in both.
Two nodes that are both indoors (in different buildings) need the shorter indoor range
(`drop_indoor`). `ContactDetector` gives the same sets step by step, recomputing only nodes
that moved.

`diff_pairs` turns two consecutive contact sets into links going up and down, and
`ContactRecorder` accumulates those into contact intervals (`Intervals`), the input of the
oracle bound and of trace export.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["ContactDetector", "ContactRecorder", "Intervals", "diff_pairs", "drop_indoor",
           "pairs_brute", "pairs_grid"]

FloatArray = NDArray[np.float64]
PairArray = NDArray[np.int64]

# Cells are a hair wider than the range, so that two points within range are never more than
# one cell apart even after the rounding of (x - origin) / cell.
_CELL_MARGIN = 1.0 + 1e-9
# The four "forward" neighbours; with the cell itself they cover each adjacent pair once.
_FORWARD = ((1, -1), (1, 0), (1, 1), (0, 1))


def _check(positions: FloatArray, radius: float) -> FloatArray:
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError("positions must be an (n, 2) array")
    if not np.all(np.isfinite(pos)):
        raise ValueError("positions must be finite")
    if not (radius > 0 and np.isfinite(radius)):
        raise ValueError("range must be a finite number > 0")
    return pos


def _within(x: FloatArray, y: FloatArray, i: PairArray, j: PairArray,
            radius: float) -> NDArray[np.bool_]:
    dx = x.take(i) - x.take(j)
    dy = y.take(i) - y.take(j)
    return np.asarray(dx * dx + dy * dy <= radius * radius)


def _empty() -> PairArray:
    return np.empty((0, 2), dtype=np.int64)


def _ordered(i: PairArray, j: PairArray) -> PairArray:
    """Pairs as (min, max) rows, sorted lexicographically."""
    if len(i) == 0:
        return _empty()
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    n = int(hi.max()) + 1
    keys = np.sort(lo * n + hi)
    return np.stack([keys // n, keys % n], axis=1)


def pairs_brute(positions: FloatArray, radius: float, indoor: NDArray[np.bool_] | None = None,
                indoor_radius: float | None = None) -> PairArray:
    """All pairs (i < j) in contact, by comparing every pair. For tests: O(n²) memory.

    Pairs of two nodes that are both `indoor` need to be within `indoor_radius` instead.
    """
    pos = _check(positions, radius)
    i, j = np.triu_indices(len(pos), k=1)
    i, j = i.astype(np.int64), j.astype(np.int64)
    x, y = pos[:, 0].copy(), pos[:, 1].copy()
    keep = _within(x, y, i, j, radius)
    if indoor is not None and indoor_radius is not None:
        walls = indoor[i] & indoor[j]
        keep = np.where(walls, _within(x, y, i, j, indoor_radius), keep)
    return _ordered(i[keep], j[keep])


def drop_indoor(pairs: PairArray, positions: FloatArray, indoor: NDArray[np.bool_],
                indoor_radius: float) -> PairArray:
    """`pairs` without those whose nodes are both `indoor` and farther apart than
    `indoor_radius` (two buildings: exterior walls shorten the range)."""
    if len(pairs) == 0:
        return pairs
    both = indoor.take(pairs[:, 0]) & indoor.take(pairs[:, 1])
    if not both.any():
        return pairs
    x, y = positions[:, 0], positions[:, 1]
    far = both & ~_within(x, y, pairs[:, 0], pairs[:, 1], indoor_radius)
    return np.compress(~far, pairs, axis=0)


class _Grid:
    """Nodes bucketed into square cells, sorted by cell so that each cell is one run."""

    def __init__(self, pos: FloatArray, radius: float,
                 hint: NDArray[np.int64] | None = None) -> None:
        cell = radius * _CELL_MARGIN
        x, y = pos[:, 0], pos[:, 1]
        cx = np.floor((x - x.min()) / cell).astype(np.int64)
        cy = np.floor((y - y.min()) / cell).astype(np.int64) + 1
        self.height = int(cy.max()) + 2  # a spare row below and above: keys never wrap
        key = cx * self.height + cy
        if hint is None:
            self.order = np.argsort(key, kind="stable")  # rank -> node
        else:
            # The previous order is nearly sorted when few nodes moved (keys order cells by
            # (cx, cy) whatever the origin), and timsort is linear on nearly sorted input.
            self.order = hint.take(np.argsort(key.take(hint), kind="stable"))
        self.key = key.take(self.order)
        # Coordinates in rank order: members of a cell are contiguous in memory.
        self.x = x.take(self.order)
        self.y = y.take(self.order)
        self.radius = radius

    def offset(self, dx: int, dy: int) -> int:
        return dx * self.height + dy

    def run(self, target: NDArray[np.int64]) -> tuple[PairArray, PairArray]:
        """[first, last) rank range of the cell with each key in `target`."""
        return (np.searchsorted(self.key, target, side="left"),
                np.searchsorted(self.key, target, side="right"))

    def within(self, owner: PairArray, first: PairArray,
               last: PairArray) -> tuple[PairArray, PairArray]:
        """Ranks (o, r) with o from `owner`, r in [first, last) of o's row, within range."""
        counts = last - first
        total = int(counts.sum())
        if total == 0:
            return _empty()[:, 0], _empty()[:, 0]
        own = np.repeat(owner, counts)
        offsets = np.cumsum(counts) - counts
        other = np.arange(total, dtype=np.int64) - np.repeat(offsets - first, counts)
        keep = _within(self.x, self.y, own, other, self.radius)
        return own[keep], other[keep]


def pairs_grid(positions: FloatArray, radius: float) -> PairArray:
    """All pairs (i < j) within `radius`, as an (m, 2) int64 array sorted by (i, j)."""
    return _pairs_full(_check(positions, radius), radius, None)[0]


def _pairs_full(pos: FloatArray, radius: float,
                hint: NDArray[np.int64] | None) -> tuple[PairArray, NDArray[np.int64] | None]:
    """All pairs within range, and the grid order (a hint for the next snapshot)."""
    n = len(pos)
    if n < 2:
        return _empty(), None
    grid = _Grid(pos, radius, hint)
    rank = np.arange(n, dtype=np.int64)
    # Same cell: only later members, so each pair is seen once.
    found = [grid.within(rank, rank + 1, np.searchsorted(grid.key, grid.key, side="right"))]
    for dx, dy in _FORWARD:
        found.append(grid.within(rank, *grid.run(grid.key + grid.offset(dx, dy))))
    i = grid.order.take(np.concatenate([f[0] for f in found]))
    j = grid.order.take(np.concatenate([f[1] for f in found]))
    return _ordered(i, j), grid.order


class ContactDetector:
    """Contact sets for a sequence of position snapshots, recomputing only what moved.

    `pairs(positions, indoor)` returns exactly `pairs_brute(positions, radius, indoor,
    indoor_radius)`. Pairs of two nodes that kept both position and indoor flag are carried
    over from the previous call; only nodes that changed are looked up in the grid, which
    makes mostly-stationary populations (residents at home) several times cheaper. When more
    than `full_share` of the nodes changed it recomputes everything.
    """

    def __init__(self, radius: float, indoor_radius: float | None = None,
                 full_share: float = 0.3) -> None:
        if not (radius > 0 and np.isfinite(radius)):
            raise ValueError("range must be a finite number > 0")
        if indoor_radius is not None and not 0 < indoor_radius <= radius:
            raise ValueError("indoor range must be > 0 and <= range")
        self.radius = radius
        self.indoor_radius = indoor_radius
        self.full_share = full_share
        self._pos: FloatArray | None = None
        self._indoor: NDArray[np.bool_] | None = None
        self._pairs = _empty()
        self._order: NDArray[np.int64] | None = None

    def pairs(self, positions: FloatArray,
              indoor: NDArray[np.bool_] | None = None) -> PairArray:
        """The contact set at this snapshot: unique (i < j) rows sorted by (i, j)."""
        pos = _check(positions, self.radius)
        n = len(pos)
        flags = (np.zeros(n, dtype=np.bool_) if indoor is None or self.indoor_radius is None
                 else np.asarray(indoor, dtype=np.bool_))
        if flags.shape != (n,):
            raise ValueError("indoor must have one flag per node")
        previous = self._pos
        if previous is None or self._indoor is None or previous.shape != pos.shape:
            result, self._order = self._full(pos, flags, None)
        else:
            moved = np.any(pos != previous, axis=1) | (flags != self._indoor)
            count = int(moved.sum())
            if count == 0:
                result = self._pairs
            elif count > self.full_share * n or n < 2:
                result, self._order = self._full(pos, flags, self._order)
            else:
                result = self._update(pos, flags, moved)
        self._pos = pos.copy()
        self._indoor = flags.copy()
        self._pairs = result
        return result

    def _walls(self, pairs: PairArray, pos: FloatArray, flags: NDArray[np.bool_]) -> PairArray:
        if self.indoor_radius is None:
            return pairs
        return drop_indoor(pairs, pos, flags, self.indoor_radius)

    def _full(self, pos: FloatArray, flags: NDArray[np.bool_],
              hint: NDArray[np.int64] | None) -> tuple[PairArray, NDArray[np.int64] | None]:
        pairs, order = _pairs_full(pos, self.radius, hint)
        return self._walls(pairs, pos, flags), order

    def _update(self, pos: FloatArray, flags: NDArray[np.bool_],
                moved: NDArray[np.bool_]) -> PairArray:
        n = len(pos)
        old = self._pairs
        kept = np.compress(~(moved.take(old[:, 0]) | moved.take(old[:, 1])), old, axis=0)
        grid = _Grid(pos, self.radius, self._order)
        self._order = grid.order
        rank_of = np.empty(n, dtype=np.int64)
        rank_of[grid.order] = np.arange(n, dtype=np.int64)
        query = rank_of.take(np.flatnonzero(moved))
        own_parts, other_parts = [], []
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                own, other = grid.within(query, *grid.run(grid.key[query] + grid.offset(dx, dy)))
                own_parts.append(own)
                other_parts.append(other)
        i = grid.order.take(np.concatenate(own_parts))
        j = grid.order.take(np.concatenate(other_parts))
        # i moved; keep (i, j) once: j did not move, or both moved and i < j.
        keep = (i != j) & (~moved.take(j) | (i < j))
        fresh = self._walls(_ordered(i[keep], j[keep]), pos, flags)
        # Merge the small sorted fresh set into the large sorted kept set: O(pairs).
        slot = np.searchsorted(_keys(kept, n), _keys(fresh, n)) + np.arange(len(fresh))
        merged = np.empty((len(kept) + len(fresh), 2), dtype=np.int64)
        is_old = np.ones(len(merged), dtype=np.bool_)
        is_old[slot] = False
        merged[np.flatnonzero(is_old)] = kept
        merged[slot] = fresh
        return merged


def _keys(pairs: PairArray, n: int) -> NDArray[np.int64]:
    return pairs[:, 0] * n + pairs[:, 1]


def diff_pairs(before: PairArray, after: PairArray) -> tuple[PairArray, PairArray]:
    """(up, down): pairs in `after` but not `before`, and in `before` but not `after`.

    Both inputs hold unique (i < j) rows; the outputs are sorted by (i, j).
    """
    if len(before) == 0 or len(after) == 0:
        return _ordered(after[:, 0], after[:, 1]), _ordered(before[:, 0], before[:, 1])
    n = int(max(before.max(), after.max())) + 1
    kb, ka = _keys(before, n), _keys(after, n)
    up = np.setdiff1d(ka, kb, assume_unique=True)
    down = np.setdiff1d(kb, ka, assume_unique=True)
    return (np.stack([up // n, up % n], axis=1).astype(np.int64),
            np.stack([down // n, down % n], axis=1).astype(np.int64))


@dataclass(frozen=True, slots=True, eq=False)
class Intervals:
    """Contact intervals: pair (a[k], b[k]) was in contact from up[k] to down[k] (seconds).

    a < b, up <= down; `size` is the number of nodes (indices are 0..size-1).
    """

    up: FloatArray
    down: FloatArray
    a: NDArray[np.int64]
    b: NDArray[np.int64]
    size: int

    def __post_init__(self) -> None:
        n = len(self.up)
        if not (len(self.down) == len(self.a) == len(self.b) == n):
            raise ValueError("interval arrays must have equal lengths")
        if n and not (np.all(np.isfinite(self.up)) and np.all(self.down >= self.up)):
            raise ValueError("intervals need finite up times and down >= up")
        if n and not (np.all(self.a < self.b) and self.a.min() >= 0
                      and self.b.max() < self.size):
            raise ValueError("intervals need 0 <= a < b < size")

    def __len__(self) -> int:
        return len(self.up)

    def until_death(self, died_at: FloatArray) -> Intervals:
        """These contacts as far as both nodes were alive: each ends by the earlier death
        (`died_at[i]`, +inf for never) of its two nodes; contacts from then on are dropped."""
        death = np.minimum(died_at.take(self.a), died_at.take(self.b))
        keep = self.up < death
        return Intervals(self.up[keep], np.minimum(self.down, death)[keep], self.a[keep],
                         self.b[keep], self.size)

    @staticmethod
    def from_rows(rows: list[tuple[float, float, int, int]], size: int) -> Intervals:
        """From (up, down, a, b) rows in any node order (a and b are swapped if needed)."""
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
        a = arr[:, 2].astype(np.int64)
        b = arr[:, 3].astype(np.int64)
        return Intervals(arr[:, 0].copy(), arr[:, 1].copy(), np.minimum(a, b),
                         np.maximum(a, b), size)


class ContactRecorder:
    """Turns a sequence of contact sets (one per time step) into links up/down and intervals.

    Call `step(t, pairs)` with non-decreasing t; it returns (up, down) for that step. A pair
    found at step t is taken to come up at t and to go down at the first step where it is
    missing, so times are quantised to the step. `intervals(end)` closes open contacts at
    `end`.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._current = _empty()
        self._since = np.empty(0)
        self._t = -np.inf
        self._done: list[tuple[FloatArray, FloatArray, PairArray]] = []

    @property
    def current(self) -> PairArray:
        return self._current

    def step(self, t: float, pairs: PairArray) -> tuple[PairArray, PairArray]:
        """Record the contact set at time t: unique (i < j) rows, e.g. from `pairs_grid`."""
        if not t >= self._t:
            raise ValueError("time must not decrease")
        n = self._size
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        if len(pairs):
            if not (np.all(pairs[:, 0] < pairs[:, 1]) and pairs.min() >= 0
                    and pairs.max() < n):
                raise ValueError("pairs must be rows (i, j) with 0 <= i < j < size")
            keys = _keys(pairs, n)
            if not np.all(keys[1:] > keys[:-1]):
                keys = np.unique(keys)
                pairs = np.stack([keys // n, keys % n], axis=1)
        self._t = t
        up, down = diff_pairs(self._current, pairs)
        if len(down):
            keys = _keys(self._current, n)
            gone = np.isin(keys, _keys(down, n), assume_unique=True)
            self._done.append((self._since[gone], np.full(int(gone.sum()), t),
                               self._current[gone]))
        # Carry each surviving pair's start time into the new (sorted) contact set.
        since = np.full(len(pairs), t)
        if len(self._current) and len(pairs):
            new_keys, old_keys = _keys(pairs, n), _keys(self._current, n)
            pos = np.searchsorted(old_keys, new_keys)
            pos = np.minimum(pos, len(old_keys) - 1)
            kept = old_keys[pos] == new_keys
            since[kept] = self._since[pos[kept]]
        self._current = pairs
        self._since = since
        return up, down

    def intervals(self, end: float) -> Intervals:
        """All contacts so far, open ones ending at `end` (>= last step time)."""
        if not end >= self._t and len(self._current):
            raise ValueError("end is before the last step")
        parts = [*self._done, (self._since, np.full(len(self._current), end), self._current)]
        up = np.concatenate([p[0] for p in parts])
        down = np.concatenate([p[1] for p in parts])
        pairs = np.concatenate([p[2] for p in parts]).reshape(-1, 2)
        order = np.lexsort((pairs[:, 1], pairs[:, 0], up))
        return Intervals(up[order], down[order], pairs[order, 0].copy(), pairs[order, 1].copy(),
                         self._size)
