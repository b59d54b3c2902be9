"""The local control API's protocol: versioned JSON lines over a Unix socket (docs/api.md).

A client writes requests, one JSON object per line::

    {"v": 1, "id": 7, "op": "post", "args": {"channel": "wijk-noord", "text": "Water at the gym"}}

and the daemon answers each on one line, in order, with the request's id::

    {"v": 1, "id": 7, "ok": true, "result": {"id": "5f0c..."}}
    {"v": 1, "id": 7, "ok": false, "error": {"code": "invalid", "message": "..."}}

After a `subscribe`, event lines (no id) arrive on the same connection::

    {"v": 1, "event": "dm_received", "data": {...}}

Requests are decoded into frozen dataclasses (`decode_request`); everything is bounded before it
is parsed (`MAX_REQUEST` bytes per line, no NaN, no duplicate keys, every field typed and
range-checked), and any malformed request raises `ApiError` with a code from `ErrorCode`.
Results and event data are plain JSON objects whose fields docs/api.md lists. Binary values
(ids, keys) are lowercase hex; a message file for `inject` is base64.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeAlias, get_type_hints

__all__ = [
    "API_VERSION",
    "EVENTS",
    "MAX_REPLY",
    "MAX_REQUEST",
    "OPS",
    "SUPPORTED_VERSIONS",
    "AlertHistory",
    "Alerts",
    "Announce",
    "ApiError",
    "Channels",
    "ContactAdd",
    "ContactRemove",
    "Contacts",
    "DismissKeyWarning",
    "ErrorCode",
    "ErrorReply",
    "EventMessage",
    "Hello",
    "Inbox",
    "Inject",
    "MarkRead",
    "Outbox",
    "Peers",
    "Post",
    "Posts",
    "RejectedAlerts",
    "ReloadTrust",
    "Reply",
    "Request",
    "RequestId",
    "Response",
    "SendDm",
    "Status",
    "Subscribe",
    "Whoami",
    "decode_reply",
    "decode_request",
    "encode_error",
    "encode_event",
    "encode_request",
    "encode_response",
    "not_a_message",
    "op_name",
    "socket_path",
]

API_VERSION = 1
SUPPORTED_VERSIONS = (1,)
MAX_REQUEST = 256 * 1024  # bytes in one request line, newline included
MAX_REPLY = 64 * 1024 * 1024  # bytes a client accepts in one reply line
MAX_ID = 64
MAX_TEXT = 8 * 1024  # a gross bound; the node checks each kind's own limit
MAX_NAME = 64
MAX_MESSAGE_FILE = 16 * 1024
MAX_LIMIT = 1000

EVENTS = (
    "post_received", "dm_received", "dm_carried", "dm_delivered", "alert_received",
    "alert_removed", "trust_updated", "announce_received", "key_warning", "key_warnings_dismissed",
    "rejected",
    "sync_finished", "link_up", "link_down", "read_marked", "overflow",
)


class ErrorCode(StrEnum):
    BAD_REQUEST = "bad_request"  # not JSON, not an object, a field missing or mistyped
    TOO_LARGE = "too_large"  # the request line exceeds MAX_REQUEST
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_OP = "unknown_op"
    INVALID = "invalid"  # well-formed, but the node refuses the content (text too long, ...)
    NOT_FOUND = "not_found"  # no such contact or recipient
    CONFLICT = "conflict"  # a name or key already bound to something else
    BUSY = "busy"  # too many clients, or too many connections from this client
    IDLE = "idle"  # no request for [api] idle_timeout seconds: the connection is closed
    STORAGE_FULL = "storage_full"  # the disk is full: nothing was stored; free space and retry
    INTERNAL = "internal"


class ApiError(Exception):
    """A request failed; `code` is machine-readable, the message says what to do."""

    def __init__(self, code: ErrorCode, message: str, request_id: RequestId | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


RequestId: TypeAlias = int | str


def _hexkey() -> Any:
    return field(default=None, metadata={"encoding": "hex", "size": 32})


@dataclass(frozen=True, slots=True)
class Hello:
    """Versions, software and node id: a cheap liveness check."""


@dataclass(frozen=True, slots=True)
class Status:
    """Links, store usage and the counters of accepted, rejected and relayed messages."""


@dataclass(frozen=True, slots=True)
class Peers:
    """The transport's links, up or being probed."""


@dataclass(frozen=True, slots=True)
class Whoami:
    """This node's identity: id, fingerprint, public keys, announced name."""


@dataclass(frozen=True, slots=True)
class Post:
    channel: str = field(metadata={"max": MAX_NAME})
    text: str = field(metadata={"max": MAX_TEXT})


@dataclass(frozen=True, slots=True)
class SendDm:
    """`to`: a contact name, a fingerprint, or a sign key in hex (announced in the mesh)."""

    to: str = field(metadata={"max": 128})
    text: str = field(metadata={"max": MAX_TEXT})


@dataclass(frozen=True, slots=True)
class Inbox:
    """Direct messages received, newest last; `since` is a unix time."""

    limit: int = field(default=50, metadata={"min": 1, "max": MAX_LIMIT})
    since: int = field(default=0, metadata={"min": 0, "max": 2**40})


@dataclass(frozen=True, slots=True)
class Outbox:
    """Direct messages sent, with their delivery state."""

    limit: int = field(default=50, metadata={"min": 1, "max": MAX_LIMIT})


@dataclass(frozen=True, slots=True)
class Channels:
    """Channels with posts in the store."""


@dataclass(frozen=True, slots=True)
class Posts:
    channel: str = field(metadata={"max": MAX_NAME})
    limit: int = field(default=50, metadata={"min": 1, "max": MAX_LIMIT})


@dataclass(frozen=True, slots=True)
class Alerts:
    """Verified authority alerts held, newest last."""


@dataclass(frozen=True, slots=True)
class AlertHistory:
    """Every alert received (kept by the daemon, bounded), grouped into threads by CAP
    references: an alert with its Updates and Cancel. The newest `limit` threads."""

    limit: int = field(default=50, metadata={"min": 1, "max": MAX_LIMIT})


@dataclass(frozen=True, slots=True)
class RejectedAlerts:
    """Alerts that failed verification, by reason, the most recent first."""

    limit: int = field(default=50, metadata={"min": 1, "max": MAX_LIMIT})


@dataclass(frozen=True, slots=True)
class MarkRead:
    """Mark `channel` read up to `upto` (a local arrival time; default: its newest post)."""

    channel: str = field(metadata={"max": MAX_NAME})
    upto: int | None = field(default=None, metadata={"min": 0, "max": 2**40})


@dataclass(frozen=True, slots=True)
class Inject:
    """A message file (an authority's alert, revocation or certificate), validated in full."""

    data: bytes = field(metadata={"encoding": "base64", "max": MAX_MESSAGE_FILE})


@dataclass(frozen=True, slots=True)
class ReloadTrust:
    """Read the pinned roots (`roots/*.toml`) again: roots pinned since the start take effect
    now. Roots are only added this way; removing one takes a restart."""


@dataclass(frozen=True, slots=True)
class Contacts:
    """The contact book and its key-change warnings."""


@dataclass(frozen=True, slots=True)
class ContactAdd:
    """Bind `name` to keys: both keys, or a fingerprint (or sign key) seen in an announce."""

    name: str = field(metadata={"max": MAX_NAME})
    sign_key: bytes | None = _hexkey()
    dh_key: bytes | None = _hexkey()
    fingerprint: str | None = field(default=None, metadata={"max": 64})
    replace: bool = False


@dataclass(frozen=True, slots=True)
class ContactRemove:
    name: str = field(metadata={"max": MAX_NAME})


@dataclass(frozen=True, slots=True)
class DismissKeyWarning:
    """Delete the key-change warnings about contact `name` (its keys were checked in person)."""

    name: str = field(metadata={"max": MAX_NAME})


@dataclass(frozen=True, slots=True)
class Announce:
    """Publish this node's identity card (name and keys) to the mesh."""

    name: str = field(metadata={"max": MAX_NAME})


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Stream events on this connection; `events` empty means all of `EVENTS`."""

    events: tuple[str, ...] = ()


Request: TypeAlias = (
    Hello | Status | Peers | Whoami | Post | SendDm | Inbox | Outbox | Channels | Posts | Alerts
    | AlertHistory | RejectedAlerts | MarkRead | Inject | Contacts | ContactAdd | ContactRemove
    | DismissKeyWarning | Announce | ReloadTrust | Subscribe
)

OPS: dict[str, type[Request]] = {
    "hello": Hello, "status": Status, "peers": Peers, "whoami": Whoami, "post": Post,
    "dm": SendDm, "inbox": Inbox, "outbox": Outbox, "channels": Channels, "posts": Posts,
    "alerts": Alerts, "alert_history": AlertHistory, "rejected_alerts": RejectedAlerts,
    "mark_read": MarkRead, "inject": Inject, "contacts": Contacts, "contact_add": ContactAdd,
    "contact_remove": ContactRemove, "dismiss_key_warning": DismissKeyWarning,
    "announce": Announce, "reload_trust": ReloadTrust, "subscribe": Subscribe,
}
_NAMES = {cls: name for name, cls in OPS.items()}


def op_name(request: Request) -> str:
    return _NAMES[type(request)]


@dataclass(frozen=True, slots=True)
class Response:
    id: RequestId
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ErrorReply:
    id: RequestId | None
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class EventMessage:
    event: str
    data: dict[str, Any]


Reply: TypeAlias = Response | ErrorReply | EventMessage


# --- encoding ----------------------------------------------------------------------------------


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8") + b"\n"


def encode_request(request: Request, request_id: RequestId) -> bytes:
    args: dict[str, Any] = {}
    for f in fields(request):
        value = getattr(request, f.name)
        if value is None:
            continue
        if isinstance(value, bytes):
            value = (base64.b64encode(value).decode("ascii")
                     if f.metadata.get("encoding") == "base64" else value.hex())
        elif isinstance(value, tuple):
            value = list(value)
        args[f.name] = value
    obj: dict[str, Any] = {"v": API_VERSION, "id": request_id, "op": op_name(request)}
    if args:
        obj["args"] = args
    return _line(obj)


def encode_response(request_id: RequestId, result: dict[str, Any]) -> bytes:
    return _line({"v": API_VERSION, "id": request_id, "ok": True, "result": result})


def encode_error(request_id: RequestId | None, code: ErrorCode, message: str) -> bytes:
    return _line({"v": API_VERSION, "id": request_id, "ok": False,
                  "error": {"code": str(code), "message": message}})


def encode_event(event: str, data: dict[str, Any]) -> bytes:
    return _line({"v": API_VERSION, "event": event, "data": data})


# --- decoding ----------------------------------------------------------------------------------


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _parse(line: bytes, limit: int) -> dict[str, Any]:
    if len(line) > limit:
        raise ApiError(ErrorCode.TOO_LARGE, f"line of {len(line)} bytes exceeds {limit}")
    try:
        obj = json.loads(line.decode("utf-8"), parse_constant=_no_constant,
                         object_pairs_hook=_unique)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, f"not a JSON line: {exc}") from None
    if not isinstance(obj, dict):
        raise ApiError(ErrorCode.BAD_REQUEST, "expected a JSON object")
    if b"\\u" in line:
        # A "\ud800" escape decodes to a lone surrogate, which no UTF-8 reply can echo back.
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(ErrorCode.BAD_REQUEST, "not a JSON line: a lone surrogate "
                           "(\\ud800-\\udfff) in a string") from None
    return obj


def _bad(message: str, request_id: RequestId | None) -> ApiError:
    return ApiError(ErrorCode.BAD_REQUEST, message, request_id)


def _check_id(value: object) -> RequestId:
    if type(value) is int and 0 <= value < 2**53:
        return value
    if type(value) is str and 0 < len(value) <= MAX_ID:
        return value
    raise _bad(f"id must be an integer 0..2^53 or a string of 1..{MAX_ID} characters", None)


def decode_request(line: bytes) -> tuple[RequestId, Request]:
    """Parse one request line; raises `ApiError` (with the id when it could be read)."""
    obj = _parse(line, MAX_REQUEST)
    request_id = _check_id(obj.get("id"))
    version = obj.get("v")
    if version not in SUPPORTED_VERSIONS or type(version) is not int:
        raise ApiError(ErrorCode.UNSUPPORTED_VERSION,
                       f"protocol version {version!r} not supported; this daemon speaks "
                       f"{', '.join(map(str, SUPPORTED_VERSIONS))}", request_id)
    unknown = set(obj) - {"v", "id", "op", "args"}
    if unknown:
        raise _bad(f"unknown member(s) {sorted(unknown)}", request_id)
    op = obj.get("op")
    if type(op) is not str:
        raise _bad("op must be a string", request_id)
    cls = OPS.get(op)
    if cls is None:
        raise ApiError(ErrorCode.UNKNOWN_OP, f"unknown op {op[:40]!r}; known: "
                       f"{', '.join(OPS)}", request_id)
    args = obj.get("args", {})
    if not isinstance(args, dict):
        raise _bad("args must be an object", request_id)
    return request_id, _build(cls, args, request_id)


_HINTS: dict[type, dict[str, Any]] = {}


def _build(cls: type[Request], args: dict[str, Any], request_id: RequestId) -> Request:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    specs = {f.name: f for f in fields(cls)}
    unknown = set(args) - set(specs)
    if unknown:
        raise _bad(f"{_NAMES[cls]}: unknown argument(s) {sorted(unknown)}", request_id)
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        if name not in args:
            if spec.default is MISSING:
                raise _bad(f"{_NAMES[cls]}: argument {name!r} is missing", request_id)
            continue
        values[name] = _value(f"{_NAMES[cls]}.{name}", hints[name], spec.metadata, args[name],
                              request_id)
    if cls is Subscribe:
        wrong = [e for e in values.get("events", ()) if e not in EVENTS]
        if wrong:
            raise _bad(f"subscribe: unknown event(s) {wrong}; known: {', '.join(EVENTS)}",
                       request_id)
    return cls(**values)


def _value(where: str, hint: Any, meta: Any, value: object, request_id: RequestId) -> object:
    optional = hint in (bytes | None, str | None, int | None)
    if value is None and optional:
        return None
    if hint is bool:
        if type(value) is not bool:
            raise _bad(f"{where} must be true or false", request_id)
        return value
    if hint in (int, int | None):
        lo, hi = meta.get("min", 0), meta.get("max", 2**53)
        if type(value) is not int or not lo <= value <= hi:
            raise _bad(f"{where} must be an integer {lo}..{hi}", request_id)
        return value
    if hint in (str, str | None):
        hi = meta.get("max", MAX_TEXT)
        if type(value) is not str or len(value) > hi:
            raise _bad(f"{where} must be a string of at most {hi} characters", request_id)
        return value
    if hint in (bytes, bytes | None):
        if type(value) is not str:
            raise _bad(f"{where} must be a string", request_id)
        try:
            if meta.get("encoding") == "base64":
                if len(value) > 4 * meta["max"] // 3 + 4:
                    raise _bad(f"{where} exceeds {meta['max']} bytes", request_id)
                raw = base64.b64decode(value, validate=True)
            else:
                raw = bytes.fromhex(value)
        except (binascii.Error, ValueError):
            raise _bad(f"{where} is not valid {meta.get('encoding', 'hex')}", request_id) from None
        size = meta.get("size")
        if size is not None and len(raw) != size:
            raise _bad(f"{where} must be {size} bytes", request_id)
        if len(raw) > meta.get("max", MAX_TEXT):
            raise _bad(f"{where} exceeds {meta['max']} bytes", request_id)
        return raw
    if hint == tuple[str, ...]:
        if not isinstance(value, list) or len(value) > len(EVENTS) or not all(
                type(x) is str for x in value):
            raise _bad(f"{where} must be a list of strings", request_id)
        return tuple(value)
    raise AssertionError(f"no decoder for {hint}")  # pragma: no cover


def decode_reply(line: bytes, *, limit: int = MAX_REPLY) -> Reply:
    """Parse one line from the daemon; raises `ApiError` if it is not a valid reply."""
    obj = _parse(line, limit)
    if obj.get("v") != API_VERSION:
        raise _bad(f"reply of protocol version {obj.get('v')!r}", None)
    if "event" in obj:
        event, data = obj["event"], obj.get("data")
        if type(event) is not str or not isinstance(data, dict):
            raise _bad("malformed event", None)
        return EventMessage(event, data)
    request_id = obj.get("id")
    if obj.get("ok") is True and isinstance(obj.get("result"), dict):
        return Response(_check_id(request_id), obj["result"])
    error = obj.get("error")
    if obj.get("ok") is False and isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        if type(code) is str and type(message) is str:
            return ErrorReply(None if request_id is None else _check_id(request_id), code,
                              message)
    raise _bad("malformed reply", None)


def not_a_message(data: bytes, problem: str) -> str:
    """Why a file is not a message, naming the fix for the usual mistake: CAP XML as is."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") and (b"<alert" in data[:4096] or b"<?xml" in head[:6]):
        return ("this is CAP XML, not a signed meshnode message: sign it first with "
                "`meshnode authority sign-alert --cap FILE ...` (docs/authorities.md) and "
                "inject the .msg file that writes")
    return f"not a meshnode message file ({problem})"


@contextmanager
def socket_path(path: Path) -> Iterator[str]:
    """An address for the socket at `path` within AF_UNIX's 108-byte limit.

    Long paths (deep temporary directories) go through the directory's descriptor:
    ``/proc/self/fd/N/api.sock`` (Linux). Use it for `bind` and `connect` inside the block.
    """
    text = os.fspath(path)
    if len(os.fsencode(text)) < 100:
        yield text
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)
