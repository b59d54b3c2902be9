"""Bounded msgpack decoding and field validation shared by every decoder.

Every byte string that arrives from the network passes through `unpack_bounded` and is then
checked field by field with `Fields`. Anything malformed raises `WireError`, and nothing else:
callers can rely on a single exception type for hostile input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn

import msgpack

__all__ = ["Fields", "WireError", "pack", "pack_ordered", "unpack_bounded"]


class WireError(Exception):
    """Malformed or out-of-bounds input: `field` names what was wrong, `rule` the rule broken."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


def pack(obj: object) -> bytes:
    """Canonical encoding: bin for bytes, str for text, maps with ascending integer keys."""
    return msgpack.packb(_sorted(obj), use_bin_type=True)  # type: ignore[no-any-return]


def pack_ordered(obj: object) -> bytes:
    """`pack` for structures whose maps are already built in ascending key order (hot paths:
    envelopes and sync frames); the decoders' canonical checks catch any that are not."""
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


def _sorted(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _sorted(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list | tuple):
        return [_sorted(x) for x in obj]
    return obj


def _refuse_ext(code: int, data: bytes) -> NoReturn:
    raise WireError("msgpack", f"extension type {code} is not allowed")


def unpack_bounded(
    data: bytes,
    *,
    what: str,
    max_size: int,
    max_items: int = 64,
    max_bin: int | None = None,
    max_str: int | None = None,
) -> Any:
    """Decode one msgpack object from `data` with every length bounded before allocation.

    `max_items` bounds each array and map; `max_bin`/`max_str` default to `max_size`. Nesting
    depth is bounded by the C unpacker's fixed stack, whose overflow is reported as WireError.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise WireError(what, "expected bytes")
    size = len(data)
    if size > max_size:
        raise WireError(what, f"{size} bytes exceeds the limit of {max_size}")
    if size == 0:
        raise WireError(what, "empty input")
    try:
        # One C call (no Unpacker object to build and feed): every received frame, envelope
        # and body comes through here. It refuses trailing bytes itself (`ExtraData`).
        return msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            # Our maps are keyed by small integers; msgpack's strict_map_key=True would only admit
            # str/bytes keys, so key types are checked by `Fields` instead.
            strict_map_key=False,
            max_bin_len=max_size if max_bin is None else max_bin,
            max_str_len=max_size if max_str is None else max_str,
            max_array_len=max_items,
            max_map_len=max_items,
            max_ext_len=0,
            ext_hook=_refuse_ext,
            timestamp=0,
        )
    except WireError:
        raise
    except msgpack.ExtraData as exc:
        raise WireError(what, "trailing bytes after the object") from exc
    except msgpack.OutOfData as exc:
        raise WireError(what, "truncated") from exc
    except msgpack.exceptions.StackError as exc:
        raise WireError(what, "nesting too deep") from exc
    except msgpack.exceptions.FormatError as exc:
        raise WireError(what, "invalid msgpack type byte") from exc
    except UnicodeDecodeError as exc:
        raise WireError(what, "text is not valid UTF-8") from exc
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
        # msgpack reports over-long lengths and unhashable map keys through these; name the
        # cause but never let the raw error escape.
        raise WireError(what, _explain(exc)) from exc


def _explain(exc: Exception) -> str:
    text = str(exc)
    if "incomplete input" in text:  # how `unpackb` reports input that ends inside an object
        return "truncated"
    if "max_ext_len" in text:
        return "extension types are not allowed"
    for limit, meaning in (("max_array_len", "array"), ("max_map_len", "map"),
                           ("max_bin_len", "bytes field"), ("max_str_len", "text field")):
        if limit in text:
            return f"{meaning} longer than allowed ({text})"
    return f"malformed msgpack ({type(exc).__name__}: {text})"


class Fields:
    """Typed, range-checked access to one decoded msgpack map with small integer keys.

    `done()` must be called after the last field: unknown keys are an error, so a body has
    exactly one meaning.
    """

    def __init__(self, obj: object, where: str, *, allowed: frozenset[int]) -> None:
        if not isinstance(obj, dict):
            raise WireError(where, "expected a map")
        for key in obj:
            if type(key) is not int:
                raise WireError(where, f"map key {key!r} is not an integer")
            if key not in allowed:
                raise WireError(where, f"unknown field key {key}")
        self._obj: Mapping[int, object] = obj
        self.where = where

    def _name(self, name: str) -> str:
        return f"{self.where}.{name}"

    def has(self, key: int) -> bool:
        return key in self._obj

    def _get(self, key: int, name: str) -> object:
        if key not in self._obj:
            raise WireError(self._name(name), "missing")
        return self._obj[key]

    def uint(self, key: int, name: str, *, lo: int = 0, hi: int = 2**63 - 1) -> int:
        value = self._get(key, name)
        return check_int(value, self._name(name), lo=lo, hi=hi)

    def opt_uint(self, key: int, name: str, *, lo: int = 0, hi: int = 2**63 - 1) -> int | None:
        return self.uint(key, name, lo=lo, hi=hi) if key in self._obj else None

    def bin(self, key: int, name: str, *, size: int | None = None, lo: int = 0, hi: int) -> bytes:
        value = self._get(key, name)
        return check_bin(value, self._name(name), size=size, lo=lo, hi=hi)

    def opt_bin(self, key: int, name: str, *, size: int | None = None, lo: int = 0,
                hi: int) -> bytes | None:
        return self.bin(key, name, size=size, lo=lo, hi=hi) if key in self._obj else None

    def text(self, key: int, name: str, *, lo: int = 0, hi: int) -> str:
        value = self._get(key, name)
        return check_text(value, self._name(name), lo=lo, hi=hi)

    def opt_text(self, key: int, name: str, *, lo: int = 0, hi: int) -> str | None:
        return self.text(key, name, lo=lo, hi=hi) if key in self._obj else None

    def array(self, key: int, name: str, *, lo: int = 0, hi: int) -> list[object]:
        value = self._get(key, name)
        if not isinstance(value, list):
            raise WireError(self._name(name), "expected an array")
        if not lo <= len(value) <= hi:
            raise WireError(self._name(name), f"{len(value)} items, allowed {lo}..{hi}")
        return value

    def raw(self, key: int, name: str) -> object:
        return self._get(key, name)


def check_int(value: object, field: str, *, lo: int, hi: int) -> int:
    if type(value) is not int:
        raise WireError(field, f"expected an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise WireError(field, f"{value} outside {lo}..{hi}")
    return value


def check_bin(value: object, field: str, *, size: int | None = None, lo: int = 0, hi: int) -> bytes:
    if type(value) is not bytes:
        raise WireError(field, f"expected bytes, got {type(value).__name__}")
    if size is not None and len(value) != size:
        raise WireError(field, f"{len(value)} bytes, expected exactly {size}")
    if not lo <= len(value) <= hi:
        raise WireError(field, f"{len(value)} bytes, allowed {lo}..{hi}")
    return value


# C0 controls but tab and newline, DEL, and the C1 controls (docs/protocol.md §1.1).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# What a one-line name may not hold besides: tab, newline, the bidirectional controls that
# reorder what a reader sees, and invisible characters that make two names look alike.
_NAME_REFUSED = re.compile("[\t\n\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064"
                           "\u2066-\u2069\ufeff]")


def check_text(value: object, field: str, *, lo: int = 0, hi: int) -> str:
    """Text bounded in UTF-8 bytes; control characters other than newline and tab are refused."""
    if type(value) is not str:
        raise WireError(field, f"expected text, got {type(value).__name__}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise WireError(field, "text is not valid Unicode (lone surrogate)") from exc
    if not lo <= size <= hi:
        raise WireError(field, f"{size} UTF-8 bytes, allowed {lo}..{hi}")
    if _CONTROL.search(value):
        raise WireError(field, "contains control characters")
    return value


def check_name(value: object, field: str, *, lo: int = 1, hi: int) -> str:
    """A one-line name people read: `check_text`, and no tab, newline, bidirectional control
    or invisible character, and no white space (Unicode White_Space) at either end."""
    text = check_text(value, field, lo=lo, hi=hi)
    if _NAME_REFUSED.search(text):
        raise WireError(field, "contains a line break, bidirectional control or invisible "
                               "character")
    if text != text.strip():
        raise WireError(field, "leading or trailing white space")
    return text
