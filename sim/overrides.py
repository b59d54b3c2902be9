"""Scenario sources and `--set key=value` overrides, applied to the TOML table and re-parsed.

A source is a scenario file path or a bundled name. Overrides are dotted keys as in the
parameter table (`ble.range=30`, `scenario.duration=30m`, `workload.alerts[0].at=15m`);
values are TOML values, and anything that is not valid TOML is taken as a string, so
`30m` and `epidemic` need no quotes. The merged table is validated by `sim.config.load`
exactly like a file, so every error is a `ScenarioError` naming the dotted key.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sim.config import ScenarioError, load
from sim.scenario import Scenario, bundled_names

__all__ = ["Source", "apply", "load_scenario", "parse_assignment", "parse_value", "read_source",
           "scenario_from_table", "split_values", "with_settings"]

_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


@dataclass(frozen=True, slots=True)
class Source:
    """A scenario's parsed TOML table and the directory its relative paths start from."""

    name: str
    table: dict[str, Any]
    base: str


def read_source(source: str) -> Source:
    """Read a scenario file (an existing path, or anything ending in .toml) or a bundled name."""
    path = Path(source)
    if source.endswith(".toml") or path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ScenarioError("", f"no scenario file {source!r} (give a path or one of: "
                                f"{', '.join(bundled_names())})") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ScenarioError("", f"{source}: cannot read ({error})") from None
        base = path.resolve().parent
    elif source in bundled_names():
        root = resources.files("sim") / "scenarios"
        text = (root / f"{source}.toml").read_text(encoding="utf-8")
        with resources.as_file(root / f"{source}.toml") as bundled_path:
            base = bundled_path.resolve().parent
    else:
        raise ScenarioError("", f"no bundled scenario or file {source!r} (bundled: "
                            f"{', '.join(bundled_names())}; or give a path to a .toml file)")
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError("", f"{source}: not valid TOML: {error}") from None
    return Source(source, table, str(base))


def scenario_from_table(table: dict[str, Any], base: str) -> Scenario:
    """Validate a scenario table (as `parse_scenario` does a file) and resolve its trace file."""
    scenario = load(Scenario, table)
    if scenario.trace.file:
        resolved = (Path(base) / scenario.trace.file).resolve()
        scenario = dataclasses.replace(
            scenario, trace=dataclasses.replace(scenario.trace, file=str(resolved)))
    return scenario


def with_settings(source: Source, settings: Iterable[str]) -> Source:
    """`source` with each `KEY=VALUE` of `settings` applied to its table in turn, one value
    each, as `meshnode sim run --set` takes them."""
    table = source.table
    for text in settings:
        key, (value,) = parse_assignment(text, many=False)
        table = apply(table, key, value)
    return Source(source.name, table, source.base)


def load_scenario(source: str, settings: Iterable[str] = ()) -> Scenario:
    """The scenario `source` (a file or a bundled name) with `settings` applied, validated."""
    settled = with_settings(read_source(source), settings)
    return scenario_from_table(settled.table, settled.base)


def parse_value(text: str) -> object:
    """A TOML value (`4`, `2.5`, `true`, `[1, 2]`, `"x"`); otherwise the text as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def split_values(text: str) -> list[str]:
    """Split `v1,v2,...` at commas outside brackets and quotes."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_assignment(text: str, *, many: bool) -> tuple[str, list[object]]:
    """`key=value` (or `key=v1,v2,...` when `many`) into the key and its parsed values."""
    key, sep, rest = text.partition("=")
    key = key.strip()
    if not sep or not key or not rest.strip():
        raise ScenarioError(key, f"expected KEY=VALUE{',VALUE...' if many else ''}, "
                            f"e.g. ble.range=20, not {text!r}")
    for segment in key.split("."):
        if _SEGMENT.match(segment) is None:
            raise ScenarioError(key, "not a dotted scenario key (see `meshnode sim params`)")
    raw = split_values(rest) if many else [rest.strip()]
    if any(not r for r in raw):
        raise ScenarioError(key, "empty value")
    return key, [parse_value(r) for r in raw]


def apply(table: dict[str, Any], key: str, value: object) -> dict[str, Any]:
    """A copy of `table` with dotted `key` set to `value` (tables created as needed)."""
    result = copy.deepcopy(table)
    node: dict[str, Any] = result
    segments = key.split(".")
    for depth, segment in enumerate(segments):
        match = _SEGMENT.match(segment)
        if match is None:
            raise ScenarioError(key, "not a dotted scenario key (see `meshnode sim params`)")
        name, index = match.group(1), match.group(2)
        where = ".".join(segments[:depth + 1])
        last = depth == len(segments) - 1
        if index is not None:
            array = node.get(name)
            if not isinstance(array, list) or int(index) >= len(array):
                raise ScenarioError(where, "no such entry in the scenario file (set the "
                                    "array in the file first)")
            if last:
                array[int(index)] = value
                return result
            entry = array[int(index)]
            if not isinstance(entry, dict):
                raise ScenarioError(where, "is not a table")
            node = entry
        elif last:
            node[name] = value
        else:
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise ScenarioError(where, "is a value, not a section")
            node = child
    return result
