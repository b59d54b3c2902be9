"""Structured logs on the stdlib `logging`: one event per line, as key=value pairs or JSON.

Code logs an event name as the message and its data as ``extra={"fields": {...}}``::

    log.info("link_up", extra={"fields": {"link": "udp:10.0.0.2:4917"}})

`KeyValueFormatter` writes ``2027-03-01T12:00:00.123Z info meshnode.udp link_up
link=udp:10.0.0.2:4917``; `JsonFormatter` writes ``{"ts": ..., "level": ..., "logger": ...,
"event": ..., "link": ...}``. `setup_logging` installs one of them on the root logger.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

__all__ = ["JsonFormatter", "KeyValueFormatter", "fields", "setup_logging"]


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of a record (empty for plain log calls)."""
    value = getattr(record, "fields", None)
    return dict(value) if isinstance(value, dict) else {}


def _timestamp(record: logging.LogRecord) -> str:
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{base}.{int(record.msecs):03d}Z"


def _kv(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in ' ="\n\t\\'):
        return json.dumps(text, ensure_ascii=False)
    return text


class KeyValueFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER EVENT key=value ...``; values with spaces or quotes are quoted."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), record.levelname.lower(), record.name,
                 _kv(record.getMessage())]
        parts += [f"{k}={_kv(v)}" for k, v in fields(record).items()]
        if record.exc_info:
            parts.append(f"exception={_kv(self.formatException(record.exc_info))}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, then the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"ts": _timestamp(record), "level": record.levelname.lower(),
                               "logger": record.name, "event": record.getMessage()}
        for key, value in fields(record).items():
            out.setdefault(key, value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(level: str = "info", fmt: str = "kv", file: str = "",
                  stream: TextIO | None = None) -> logging.Handler:
    """Send every log record at `level` or above to `file` (or standard error) in `fmt`."""
    handler: logging.Handler
    if file:
        handler = logging.FileHandler(file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
