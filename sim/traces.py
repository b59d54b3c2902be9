"""Contact traces from other tools: read, validate, replay, and write.

Two formats:
* The ONE simulator's connectivity events: `<time> CONN <a> <b> up|down [<interface>]`, one
  per line; blank lines, `#` comments and other ONE event types (lines whose first field is a
  time and second field is not CONN) are skipped.
* CSV: `time,a,b,up|down[,interface]`, with an optional header line (first field not a number).

Node ids are free-form strings mapped to dense indices 0..n-1: numeric ids in numeric order,
otherwise in string order. Times must not decrease.

A pair may hold several connections at once, and they merge into one contact, from the first
`up` to the `down` that closes the last of them (a meshnode device has one radio: one link per
pair). ONE reports one connection per interface, without naming it (its multi-interface hosts,
such as the Helsinki scenario's trams, connect over Bluetooth and a long-range radio), so an
`up` for a pair already up is another connection, closed by its own `down`; overlapping
sightings of one pair in a converted real trace merge the same way. A line naming its
interface can be up only once per interface. In strict mode (the default) a `down` with no
connection of the pair (on that interface) up, or a named interface up twice, is an error;
lenient mode skips such lines. Every problem raises `TraceError` with the 1-based line number.

Zero-length contacts (an `up` and a `down` at the same time, common in iMote traces whose
scans found a device once) are kept: the link opens and closes at that instant and carries
nothing, and the oracle, which charges each hop its transfer time, cannot use it either.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from sim.contacts import Intervals
from sim.textfiles import csv_rows, read_text

__all__ = ["Trace", "TraceError", "format_one", "from_intervals", "parse_csv", "parse_one",
           "read_trace", "write_one"]


class TraceError(ValueError):
    """A trace line is malformed or inconsistent. `line` is 1-based (0: the trace as a whole)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True, eq=False)
class Trace:
    """Link events in time order: at `time[k]` the link (a[k], b[k]) went up (`up[k]`) or down.

    a < b are dense node indices; `ids[i]` is node i's id in the source file.
    """

    time: NDArray[np.float64]
    a: NDArray[np.int64]
    b: NDArray[np.int64]
    up: NDArray[np.bool_]
    ids: tuple[str, ...]

    @property
    def size(self) -> int:
        """Number of nodes."""
        return len(self.ids)

    @property
    def end(self) -> float:
        """Time of the last event (0 for an empty trace)."""
        return float(self.time[-1]) if len(self.time) else 0.0

    def __len__(self) -> int:
        return len(self.time)

    def between(self, after: float, until: float) -> slice:
        """Index range of the events with after < time <= until, for stepwise replay."""
        lo = int(np.searchsorted(self.time, after, side="right"))
        hi = int(np.searchsorted(self.time, until, side="right"))
        return slice(lo, max(lo, hi))

    def intervals(self, end: float | None = None) -> Intervals:
        """Contact intervals up to `end` (default: the last event).

        The trace is cut at `end`: events after it are ignored and links still up then close
        at `end`, so a run shorter than its trace gets the contacts it actually replayed.
        """
        close = self.end if end is None else end
        stop = int(np.searchsorted(self.time, close, side="right"))
        open_since: dict[tuple[int, int], float] = {}
        rows: list[tuple[float, float, int, int]] = []
        for t, a, b, up in zip(self.time[:stop].tolist(), self.a[:stop].tolist(),
                               self.b[:stop].tolist(), self.up[:stop].tolist(), strict=True):
            if up:
                open_since.setdefault((a, b), t)
            elif (a, b) in open_since:
                rows.append((open_since.pop((a, b)), t, a, b))
        rows.extend((t, close, a, b) for (a, b), t in open_since.items())
        rows.sort()
        return Intervals.from_rows(rows, self.size)


def _id_order(ids: Iterable[str]) -> list[str]:
    unique = set(ids)
    try:
        return sorted(unique, key=lambda s: (int(s), s))
    except ValueError:
        return sorted(unique)


def _time(text: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TraceError(line, f"time is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise TraceError(line, f"time must be finite: {text!r}")
    return value


class _Builder:
    """Collects validated events; maps ids to indices at the end."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.rows: list[tuple[float, str, str, bool]] = []
        # pair -> connections up, by interface ("": lines that name none, any number of them)
        self.up: dict[tuple[str, str], dict[str, int]] = {}
        self.last = -math.inf

    def add(self, line: int, time_text: str, a: str, b: str, state: str,
            interface: str = "") -> None:
        t = _time(time_text, line)
        if t < self.last:
            raise TraceError(line, f"time {t} is before the previous event ({self.last})")
        if not a or not b:
            raise TraceError(line, "empty node id")
        if a == b:
            raise TraceError(line, f"link from node {a!r} to itself")
        word = state.strip().lower()
        if word not in ("up", "down"):
            raise TraceError(line, f"state must be up or down, not {state!r}")
        up = word == "up"
        pair = (a, b) if a < b else (b, a)
        connections = self.up.setdefault(pair, {})
        count = connections.get(interface, 0)
        if (count > 0 and up and interface) or (count == 0 and not up):
            if self.strict:
                on = f" on interface {interface}" if interface else ""
                raise TraceError(line, f"link {a}-{b}{on} is already {word}")
            return
        self.last = t
        opened = any(connections.values())
        connections[interface] = count + (1 if up else -1)
        if up and not opened:  # the pair's first connection: the contact begins
            self.rows.append((t, a, b, True))
        elif not up and not any(connections.values()):  # its last one closed: it ends
            self.rows.append((t, a, b, False))

    def trace(self) -> Trace:
        ids = _id_order(x for _, a, b, _ in self.rows for x in (a, b))
        index = {name: i for i, name in enumerate(ids)}
        n = len(self.rows)
        a = np.fromiter((index[r[1]] for r in self.rows), dtype=np.int64, count=n)
        b = np.fromiter((index[r[2]] for r in self.rows), dtype=np.int64, count=n)
        return Trace(np.fromiter((r[0] for r in self.rows), dtype=np.float64, count=n),
                     np.minimum(a, b), np.maximum(a, b),
                     np.fromiter((r[3] for r in self.rows), dtype=np.bool_, count=n), tuple(ids))


def parse_one(lines: Iterable[str], *, strict: bool = True) -> Trace:
    """Parse The ONE's connectivity events (see the module docstring)."""
    builder = _Builder(strict)
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.split()
        if len(fields) < 2 or fields[1] != "CONN":
            _time(fields[0], number)  # another ONE event type has a time first
            if len(fields) < 2:
                raise TraceError(number, "expected '<time> CONN <a> <b> up|down'")
            continue
        if len(fields) not in (5, 6):
            raise TraceError(number, f"CONN needs 5 fields (6 with an interface), got "
                             f"{len(fields)}")
        builder.add(number, *fields[:1], *fields[2:])
    return builder.trace()


def parse_csv(lines: Iterable[str], *, strict: bool = True) -> Trace:
    """Parse `time,a,b,up|down` rows with an optional header (see the module docstring)."""
    builder = _Builder(strict)
    for number, fields in csv_rows(lines, TraceError):
        if len(fields) not in (4, 5):
            raise TraceError(number, "expected 4 fields (time,a,b,up|down) or 5 (with an "
                             f"interface), got {len(fields)}")
        builder.add(number, *fields)
    return builder.trace()


def read_trace(path: str | Path, fmt: str | None = None, *, strict: bool = True) -> Trace:
    """Read a trace file; `fmt` is "one" or "csv" (default: ".csv" files are CSV, else ONE)."""
    return read_text(path, fmt, {"one": lambda f: parse_one(f, strict=strict),
                                  "csv": lambda f: parse_csv(f, strict=strict)},
                      TraceError, "trace")


def from_intervals(intervals: Intervals, ids: tuple[str, ...] | None = None) -> Trace:
    """The link events of contact intervals (at equal times, links go down before others
    come up, except that a zero-length contact comes up before it goes down)."""
    names = ids if ids is not None else tuple(str(i) for i in range(intervals.size))
    if len(names) != intervals.size:
        raise ValueError("need one id per node")
    time = np.concatenate([intervals.up, intervals.down])
    a = np.concatenate([intervals.a, intervals.a])
    b = np.concatenate([intervals.b, intervals.b])
    k = len(intervals)
    up = np.concatenate([np.ones(k, np.bool_), np.zeros(k, np.bool_)])
    # At equal times: downs, then ups, then the downs of zero-length contacts (after their up).
    rank = np.concatenate([np.ones(k, np.int8), np.where(intervals.down > intervals.up, 0, 2)])
    order = np.lexsort((b, a, rank, time))
    return Trace(time[order], a[order], b[order], up[order], names)


def format_one(trace: Trace) -> Iterator[str]:
    """Lines (without newline) of `trace` in The ONE's connectivity format."""
    for t, a, b, up in zip(trace.time.tolist(), trace.a.tolist(), trace.b.tolist(),
                           trace.up.tolist(), strict=True):
        time = str(int(t)) if float(t).is_integer() else repr(t)
        yield f"{time} CONN {trace.ids[a]} {trace.ids[b]} {'up' if up else 'down'}"


def write_one(trace: Trace, path: str | Path, comments: Iterable[str] = ()) -> None:
    """Write `trace` as a ONE connectivity file, `comments` first as `#` lines."""
    with Path(path).open("w", encoding="utf-8", newline="\n") as handle:
        for comment in comments:
            handle.write(f"# {comment}\n")
        for line in format_one(trace):
            handle.write(line + "\n")
