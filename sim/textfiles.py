"""Reading the line-based input files of other tools (contact traces, message lists).

Both come as The ONE's space-separated events or as CSV with an optional header; these
helpers hold what the two readers share. Errors are raised through the caller's `error`
factory, `error(line, reason)` with a 1-based line number (0: the file as a whole).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TextIO, TypeVar

__all__ = ["csv_rows", "read_text"]

T = TypeVar("T")
ErrorFactory = Callable[[int, str], Exception]


def csv_rows(lines: Iterable[str], error: ErrorFactory) -> Iterator[tuple[int, list[str]]]:
    """(line number, stripped fields) of each CSV row, skipping blank lines, `#` comments and
    a header (a first row whose first field is not a number)."""
    seen_row = False
    for number, raw in enumerate(lines, start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            fields = [f.strip() for f in next(csv.reader([raw]))]
        except csv.Error as problem:
            raise error(number, f"bad CSV: {problem}") from None
        if not seen_row:
            seen_row = True
            try:
                float(fields[0])
            except ValueError:
                continue  # the header
        yield number, fields


def read_text(path: str | Path, fmt: str | None, parsers: dict[str, Callable[[TextIO], T]],
              error: ErrorFactory, what: str) -> T:
    """Parse the UTF-8 file `path` with `parsers[fmt]`; without `fmt`, ".csv" files are "csv"
    and others "one"."""
    path = Path(path)
    kind = fmt or ("csv" if path.suffix.lower() == ".csv" else "one")
    if kind not in parsers:
        raise ValueError(f"unknown {what} format {kind!r}")
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return parsers[kind](handle)
    except UnicodeDecodeError as problem:
        raise error(0, f"{path}: not UTF-8 text ({problem.reason})") from None
