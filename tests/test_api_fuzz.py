"""Fuzzing the local control API (meshnode/daemon/api.py, meshnode/daemon/apiserver.py): byte
mutations of valid request and reply lines, and hostile byte streams, cut at random points, sent
to a real `ApiServer` over its Unix socket. Only `ApiError` escapes the decoders; the server
answers every complete line with a well-formed reply, never dies, and serves the next client
normally.

Structured JSON and arbitrary-bytes cases are in test_api.py. `ci` profile by default;
`HYPOTHESIS_PROFILE=fuzz` for the long run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import trio
from hypothesis import example, given, settings
from hypothesis import strategies as st

from meshnode.daemon import api
from meshnode.daemon.apiserver import ApiServer, EventHub
from tests.fuzzing import mutated_from

REQUESTS = [
    api.encode_request(api.Hello(), 1),
    api.encode_request(api.Post("wijk-noord", "Water bij de sporthal"), "a-1"),
    api.encode_request(api.Inbox(limit=5, since=10), 2),
    api.encode_request(api.Inject(bytes(range(40))), 3),
    api.encode_request(api.ContactAdd("Bram", sign_key=bytes(32), dh_key=b"\x01" * 32), 4),
    api.encode_request(api.Subscribe((api.EVENTS[0],)), 5),
]
REPLIES = [
    api.encode_response(1, {"node": "x", "n": [1, 2, {"a": None}]}),
    api.encode_error(2, api.ErrorCode.BAD_REQUEST, "no"),
    api.encode_error(None, api.ErrorCode.TOO_LARGE, "too large"),
    api.encode_event(api.EVENTS[0], {"id": "ab"}),
]


@given(mutated_from(REQUESTS))
@example(b'{"v":1,"id":1,"op":"inbox","args":{"limit":' + b"9" * 5_000 + b"}}\n")
@example(b'{"v":1,"id":1e999,"op":"hello"}\n')
@example(b'{"v":1,"id":"\\ud800","op":"hello"}\n')
def test_mutated_request_lines(line: bytes) -> None:
    try:
        request_id, request = api.decode_request(line)
    except api.ApiError as exc:
        assert exc.code in api.ErrorCode
        return
    assert api.decode_request(api.encode_request(request, request_id)) == (request_id, request)


@given(mutated_from(REPLIES))
def test_mutated_reply_lines(line: bytes) -> None:
    try:
        reply = api.decode_reply(line)
    except api.ApiError as exc:
        assert exc.code in api.ErrorCode
        return
    assert isinstance(reply, api.Response | api.ErrorReply | api.EventMessage)


async def _answer(request: api.Request) -> dict[str, Any]:
    return {"op": api.op_name(request)}


async def _exchange(path: Path, chunks: list[bytes]) -> list[bytes]:
    """Send `chunks` on one connection, close our side, read every reply line."""
    with api.socket_path(path) as address:
        stream = await trio.open_unix_socket(address)
    async with stream:
        for chunk in chunks:
            await stream.send_all(chunk)
        await stream.send_eof()
        data = bytearray()
        with trio.fail_after(10):
            while block := await stream.receive_some(65_536):
                data += block
    return bytes(data).splitlines()


@st.composite
def hostile_streams(draw: st.DrawFn) -> list[bytes]:
    lines = draw(st.lists(mutated_from(REQUESTS) | st.binary(max_size=200), min_size=1,
                          max_size=6))
    stream = b"".join(lines)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    return [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True) if b > a]


@settings(max_examples=40)
@given(hostile_streams())
@example([b"x" * (api.MAX_REQUEST + 10) + b"\n" + REQUESTS[0]])
@example([b'{"v":1,', b'"id":7,"op":"he', b'llo"}\n'])
def test_the_server_survives_hostile_streams(chunks: list[bytes]) -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
            server = ApiServer(Path(tmp) / "api.sock", _answer, EventHub())
            server.bind()
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(server.serve)
                    replies = await _exchange(server.path, chunks)
                    for line in replies:
                        reply = api.decode_reply(line + b"\n")
                        assert isinstance(reply, api.Response | api.ErrorReply)
                    sent = b"".join(chunks)
                    if len(sent) <= api.MAX_REQUEST:
                        complete = [ln for ln in sent.split(b"\n") if ln.strip()]
                        assert len(replies) == len(complete) or any(
                            b'"subscribe"' in ln for ln in complete)
                    # The server is still there for the next client.
                    after = await _exchange(server.path, [REQUESTS[0]])
                    assert api.decode_reply(after[0] + b"\n") == api.Response(1, {"op": "hello"})
                    nursery.cancel_scope.cancel()
            finally:
                server.close()

    trio.run(main)
