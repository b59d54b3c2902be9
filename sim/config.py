"""Typed configuration records: declared parameters, validation, and TOML-table loading.

A parameter is a dataclass field declared with `param(default, doc, **rules)`; its rules
(bounds, choices, ordered pairs, lengths) are checked whenever the record is built, from TOML
or from Python, and a violation raises `ScenarioError` naming the key. `load(cls, table)`
turns a parsed TOML table into the record, rejecting unknown keys and wrong types; nested
records (plain `field(default_factory=Record)` fields) are sections, tuples of records are
arrays of tables. `describe(cls)` lists every parameter for the docs.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar, cast

__all__ = ["Parameter", "ScenarioError", "check", "describe", "load", "param", "parse_duration"]

T = TypeVar("T")

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|min|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class ScenarioError(ValueError):
    """A scenario key is unknown or its value is invalid. `key` is the dotted path."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason


def param(default: T, doc: str, *, unit: str = "", gt: float | None = None,
          ge: float | None = None, le: float | None = None, lt: float | None = None,
          choices: tuple[str, ...] = (), ordered: bool = False, length: int | None = None,
          min_length: int = 0) -> T:
    """Declare a parameter field. `unit` "s" also accepts duration strings ("15m", "24h")."""
    rules = {"doc": doc, "unit": unit, "gt": gt, "ge": ge, "le": le, "lt": lt,
             "choices": choices, "ordered": ordered, "length": length,
             "min_length": min_length}
    return dataclasses.field(default=default, metadata=rules)


def parse_duration(value: object, key: str) -> float:
    """Seconds from a number or a string such as "90s", "15m", "2h", "3d"."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ScenarioError(key, f"not a duration: {value!r} (use e.g. 30, \"90s\", \"2h\")")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return _float(value, key)


def _float(value: object, key: str) -> float:
    if type(value) not in (int, float):
        raise ScenarioError(key, f"must be a number, not {type(value).__name__}")
    result = float(cast(float, value))
    if not math.isfinite(result):
        raise ScenarioError(key, "must be finite")
    return result


def _check_number(value: float, key: str, rules: Mapping[str, Any]) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ScenarioError(key, "must be finite")
    if rules.get("gt") is not None and not value > rules["gt"]:
        raise ScenarioError(key, f"must be > {rules['gt']}")
    if rules.get("ge") is not None and not value >= rules["ge"]:
        raise ScenarioError(key, f"must be >= {rules['ge']}")
    if rules.get("lt") is not None and not value < rules["lt"]:
        raise ScenarioError(key, f"must be < {rules['lt']}")
    if rules.get("le") is not None and not value <= rules["le"]:
        raise ScenarioError(key, f"must be <= {rules['le']}")


def check(record: object) -> None:
    """Check every declared rule of a dataclass record (call from `__post_init__`)."""
    for f in dataclasses.fields(cast(Any, record)):
        rules = f.metadata
        if "unit" not in rules:
            continue
        value = getattr(record, f.name)
        if value is None:
            continue
        if isinstance(value, str):
            if rules["choices"] and value not in rules["choices"]:
                raise ScenarioError(f.name, f"must be one of {', '.join(rules['choices'])}")
        elif isinstance(value, tuple):
            if rules["length"] is not None and len(value) != rules["length"]:
                raise ScenarioError(f.name, f"must have {rules['length']} items")
            if len(value) < rules["min_length"]:
                raise ScenarioError(f.name, f"must have at least {rules['min_length']} items")
            for item in value:
                if isinstance(item, str):
                    if rules["choices"] and item not in rules["choices"]:
                        raise ScenarioError(f.name,
                                            f"items must be one of {', '.join(rules['choices'])}")
                elif isinstance(item, int | float):
                    _check_number(item, f.name, rules)
            if rules["ordered"] and list(value) != sorted(value):
                raise ScenarioError(f.name, "must be in ascending order (low, high)")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            _check_number(value, f.name, rules)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _convert(hint: Any, value: object, key: str, unit: str) -> object:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        members = [m for m in typing.get_args(hint) if m is not type(None)]
        return _convert(members[0], value, key, unit)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list):
            raise ScenarioError(key, f"must be an array, not {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            item_hints = [args[0]] * len(value)
        else:
            if len(value) != len(args):
                raise ScenarioError(key, f"must be an array of {len(args)} items")
            item_hints = list(args)
        return tuple(_convert(h, v, f"{key}[{i}]", unit)
                     for i, (h, v) in enumerate(zip(item_hints, value, strict=True)))
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ScenarioError(key, f"must be a table, not {type(value).__name__}")
        return load(cast(type[Any], hint), value, key)
    if hint is bool:
        if type(value) is not bool:
            raise ScenarioError(key, "must be true or false")
        return value
    if hint is int:
        if type(value) is not int:
            raise ScenarioError(key, f"must be an integer, not {type(value).__name__}")
        return value
    if hint is float:
        return parse_duration(value, key) if unit == "s" else _float(value, key)
    if hint is str:
        if type(value) is not str:
            raise ScenarioError(key, f"must be a string, not {type(value).__name__}")
        return value
    raise TypeError(f"unsupported parameter type {hint!r} for {key}")  # a bug in a record


def load(cls: type[T], table: Mapping[str, object], where: str = "") -> T:
    """Build record `cls` from a TOML table; missing keys keep their defaults.

    Raises ScenarioError (key = dotted path) for unknown keys, wrong types and broken rules.
    """
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cast(Any, cls)) if f.init}
    kwargs: dict[str, object] = {}
    for key, value in table.items():
        spec = known.get(key)
        if spec is None:
            raise ScenarioError(_join(where, key), f"unknown key (known: {', '.join(known)})")
        kwargs[key] = _convert(hints[key], value, _join(where, key), spec.metadata.get("unit", ""))
    try:
        return cls(**kwargs)
    except ScenarioError as error:
        raise ScenarioError(_join(where, error.key), error.reason) from None


@dataclasses.dataclass(frozen=True, slots=True)
class Parameter:
    key: str
    default: str
    doc: str


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def describe(cls: type[object], where: str = "") -> Iterator[Parameter]:
    """Every parameter of record `cls` (recursing into sections) with its default and doc."""
    hints = typing.get_type_hints(cls)
    instance = cls()
    for f in dataclasses.fields(cast(Any, cls)):
        key = _join(where, f.name)
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            yield from describe(cast(type[object], hint), key)
            continue
        args = typing.get_args(hint)
        if typing.get_origin(hint) is tuple and args and dataclasses.is_dataclass(args[0]):
            count = len(getattr(instance, f.name))
            yield Parameter(key, f"{count} table{'s' * (count != 1)}",
                            str(f.metadata.get("doc", "")))
            yield from describe(cast(type[object], args[0]), f"{key}[]")
            continue
        default = getattr(instance, f.name)
        doc = str(f.metadata.get("doc", ""))
        unit = f.metadata.get("unit", "")
        if unit and unit != "s":
            doc = f"{doc} [{unit}]"
        elif unit == "s":
            doc = f"{doc} [s, or \"15m\"/\"2h\"]"
        yield Parameter(key, "—" if default is None else _show(default), doc)
