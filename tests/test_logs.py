"""Structured logs: one event per line, key=value or JSON, fields kept."""

from __future__ import annotations

import io
import json
import logging

from meshnode.daemon.logs import setup_logging


def _emit(fmt: str) -> str:
    stream = io.StringIO()
    handler = setup_logging("info", fmt, stream=stream)
    try:
        log = logging.getLogger("meshnode.test")
        log.info("link_up", extra={"fields": {"link": "udp:10.0.0.2:4917", "n": 3}})
        log.info("said", extra={"fields": {"text": 'a "quoted" value'}})
        log.debug("hidden")
    finally:
        logging.getLogger().removeHandler(handler)
    return stream.getvalue()


def test_key_value_lines() -> None:
    lines = _emit("kv").splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(" info meshnode.test link_up link=udp:10.0.0.2:4917 n=3")
    assert lines[1].endswith(' said text="a \\"quoted\\" value"')


def test_json_lines() -> None:
    first, second = (json.loads(line) for line in _emit("json").splitlines())
    assert first["event"] == "link_up" and first["link"] == "udp:10.0.0.2:4917"
    assert first["n"] == 3 and first["level"] == "info" and first["logger"] == "meshnode.test"
    assert first["ts"].endswith("Z")
    assert second["text"] == 'a "quoted" value'
