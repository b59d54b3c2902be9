"""Message lists: a workload given message by message instead of drawn at random.

Two formats, so that a scenario of The ONE (contacts plus messages) replays message for
message:
* The ONE's external events (`StandardEventsReader`): `<time> C <id> <from> <to> <size>
  [<response size>]`, one per line. Blank lines, `#` comments and every other event type
  (`CONN`, `S`, `DE`, `A`, `DR`, `R`) are skipped. Sizes are bytes, or ONE's units: `k`, `M`,
  `G` (powers of 1,000) and `kiB`, `MiB`, `GiB` (powers of 1,024). A response size is ignored.
* CSV: `time,id,from,to,size`, with an optional header line (first field not a number).

Each message is a DM from `from` to `to`. Message ids must be unique, times must not decrease
and a message needs two different nodes. Every problem raises `MessageListError` with the
1-based line number. `MessageList.resolve(ids)` maps the node ids onto a world's nodes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sim.textfiles import csv_rows, read_text

__all__ = ["Listed", "MessageList", "MessageListError", "parse_csv", "parse_one",
           "read_messages"]

_UNITS = {"": 1, "k": 1_000, "M": 1_000_000, "G": 1_000_000_000,
          "kiB": 1_024, "MiB": 1_024**2, "GiB": 1_024**3}
_SIZE = re.compile(r"^(\d+)(k|M|G|kiB|MiB|GiB)?$")
_ADDRESS = re.compile(r"^\D*(\d+)$")  # ONE's host address: the digits after a name part


class MessageListError(ValueError):
    """A message list is malformed. `line` is 1-based (0: the list as a whole)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Listed:
    """One message of a list: at `time`, `source` sends `size` bytes to `target` (node ids)."""

    time: float
    id: str
    source: str
    target: str
    size: int


@dataclass(frozen=True, slots=True)
class MessageList:
    """Messages in time order."""

    messages: tuple[Listed, ...]

    def __len__(self) -> int:
        return len(self.messages)

    def resolve(self, ids: Sequence[str]) -> list[tuple[int, int]]:
        """(source, target) node indices of every message, for nodes named `ids` (index i is
        node i). A name matches a node's id exactly, else by ONE's host address (the trailing
        digits: "p12" is host 12). Raises `MessageListError` for a name matching no node."""
        exact = {name: i for i, name in enumerate(ids)}
        by_address: dict[int, int] = {}
        for i, name in enumerate(ids):
            match = _ADDRESS.match(name)
            if match:
                by_address.setdefault(int(match.group(1)), i)

        def node(name: str, what: str, message: Listed) -> int:
            if name in exact:
                return exact[name]
            match = _ADDRESS.match(name)
            if match and int(match.group(1)) in by_address:
                return by_address[int(match.group(1))]
            raise MessageListError(0, f"message {message.id}: {what} {name!r} is not a node "
                                   "of the scenario")

        return [(node(m.source, "sender", m), node(m.target, "recipient", m))
                for m in self.messages]


def _time(text: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise MessageListError(line, f"time is not a number: {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise MessageListError(line, f"time must be finite and >= 0: {text!r}")
    return value


def _size(text: str, line: int) -> int:
    match = _SIZE.match(text)
    if match is None:
        raise MessageListError(line, f"size must be bytes or a number with k, M, G, kiB, MiB "
                               f"or GiB: {text!r}")
    size = int(match.group(1)) * _UNITS[match.group(2) or ""]
    if size <= 0:
        raise MessageListError(line, "size must be > 0")
    return size


class _Builder:
    def __init__(self) -> None:
        self.messages: list[Listed] = []
        self.ids: set[str] = set()
        self.last = -math.inf

    def add(self, line: int, time: str, ident: str, source: str, target: str,
            size: str) -> None:
        t = _time(time, line)
        if t < self.last:
            raise MessageListError(line, f"time {t} is before the previous message's "
                                   f"({self.last})")
        if not (ident and source and target):
            raise MessageListError(line, "empty message or node id")
        if ident in self.ids:
            raise MessageListError(line, f"message id {ident!r} used twice")
        if source == target:
            raise MessageListError(line, f"message {ident} from node {source!r} to itself")
        self.messages.append(Listed(t, ident, source, target, _size(size, line)))
        self.ids.add(ident)
        self.last = t

    def build(self) -> MessageList:
        return MessageList(tuple(self.messages))


def parse_one(lines: Iterable[str]) -> MessageList:
    """The creation events (`C`) of a ONE external events file (see the module docstring)."""
    builder = _Builder()
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.split()
        _time(fields[0], number)  # every ONE event starts with its time
        if len(fields) < 2:
            raise MessageListError(number, "expected '<time> C <id> <from> <to> <size>'")
        if fields[1] != "C":
            continue
        if len(fields) not in (6, 7):
            raise MessageListError(number, f"C needs 6 fields (7 with a response size), got "
                                   f"{len(fields)}")
        builder.add(number, fields[0], *fields[2:6])
    return builder.build()


def parse_csv(lines: Iterable[str]) -> MessageList:
    """`time,id,from,to,size` rows with an optional header (see the module docstring)."""
    builder = _Builder()
    for number, fields in csv_rows(lines, MessageListError):
        if len(fields) != 5:
            raise MessageListError(number, f"expected 5 fields (time,id,from,to,size), got "
                                   f"{len(fields)}")
        builder.add(number, *fields)
    return builder.build()


def read_messages(path: str | Path, fmt: str | None = None) -> MessageList:
    """Read a message list; `fmt` is "one" or "csv" (default: ".csv" files are CSV, else ONE)."""
    return read_text(path, fmt, {"one": parse_one, "csv": parse_csv}, MessageListError,
                     "message list")
