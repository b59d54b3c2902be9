"""The local control API: the codec (round trips, hostile lines) and the socket server of a
real daemon process (errors answered and counted, limits, events, permissions)."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshnode.daemon import api
from meshnode.daemon.client import ApiClient
from meshnode.daemon.localnet import LocalNet, LocalNode
from tests.daemons import fast_config, wait_for

texts = st.text(max_size=40)
keys = st.binary(min_size=32, max_size=32)
limits = st.integers(1, api.MAX_LIMIT)
requests = st.one_of(
    st.sampled_from([api.Hello(), api.Status(), api.Peers(), api.Whoami(), api.Channels(),
                     api.Alerts(), api.Contacts()]),
    st.builds(api.Post, texts, texts),
    st.builds(api.SendDm, texts, texts),
    st.builds(api.Inbox, limits, st.integers(0, 2**40)),
    st.builds(api.Outbox, limits),
    st.builds(api.Posts, texts, limits),
    st.builds(api.AlertHistory, limits),
    st.builds(api.RejectedAlerts, limits),
    st.builds(api.MarkRead, texts, st.none() | st.integers(0, 2**40)),
    st.builds(api.Inject, st.binary(max_size=3000)),
    st.builds(api.ContactAdd, texts, st.none() | keys, st.none() | keys, st.none() | texts,
              st.booleans()),
    st.builds(api.ContactRemove, texts),
    st.builds(api.Announce, texts),
    st.builds(api.Subscribe, st.lists(st.sampled_from(api.EVENTS), max_size=4).map(tuple)),
)
ids = st.integers(0, 2**53 - 1) | st.text(min_size=1, max_size=64)


@given(request=requests, request_id=ids)
def test_every_request_round_trips(request: api.Request, request_id: api.RequestId) -> None:
    line = api.encode_request(request, request_id)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert api.decode_request(line) == (request_id, request)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)


@given(op=st.sampled_from([*api.OPS, "nope"]), args=st.dictionaries(
    st.sampled_from(["channel", "text", "to", "limit", "since", "data", "name", "sign_key",
                     "dh_key", "fingerprint", "replace", "events", "upto", "extra"]), json_values,
    max_size=5), version=st.sampled_from([1, 2, "1", None]), request_id=json_values)
def test_hostile_requests_raise_api_error_or_decode_fully(op: str, args: dict[str, Any],
                                                          version: object,
                                                          request_id: object) -> None:
    line = json.dumps({"v": version, "id": request_id, "op": op, "args": args}).encode() + b"\n"
    try:
        decoded_id, request = api.decode_request(line)
    except api.ApiError as exc:
        assert exc.code in api.ErrorCode
        return
    assert type(request) is api.OPS[op] and decoded_id == request_id
    assert api.decode_request(api.encode_request(request, decoded_id)) == (decoded_id, request)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_api_error_or_decode(data: bytes) -> None:
    try:
        _, request = api.decode_request(data)
    except api.ApiError as exc:
        assert exc.code in api.ErrorCode
        return
    assert type(request) in api.OPS.values()


@pytest.mark.parametrize(("line", "code"), [
    (b"x" * (api.MAX_REQUEST + 1), api.ErrorCode.TOO_LARGE),
    (b'{"v":1,"id":1,"op":"inbox","args":{"limit":NaN}}', api.ErrorCode.BAD_REQUEST),
    (b'{"v":1,"id":1,"id":2,"op":"hello"}', api.ErrorCode.BAD_REQUEST),
    (b"[" * 50_000, api.ErrorCode.BAD_REQUEST),
    (b'{"v":true,"id":1,"op":"hello"}', api.ErrorCode.UNSUPPORTED_VERSION),
    (b'{"v":1,"id":1,"op":"hello","x":1}', api.ErrorCode.BAD_REQUEST),
    (b'{"v":1,"id":true,"op":"hello"}', api.ErrorCode.BAD_REQUEST),
    (b'{"v":1,"id":1,"op":"inbox","args":{"limit":0}}', api.ErrorCode.BAD_REQUEST),
    (b'{"v":1,"id":1,"op":"contact_add","args":{"name":"a","sign_key":"00"}}',
     api.ErrorCode.BAD_REQUEST),
    (b'{"v":1,"id":1,"op":"inject","args":{"data":"%%%"}}', api.ErrorCode.BAD_REQUEST),
    (b'{"v":1,"id":1,"op":"mark_read","args":{"channel":"a","upto":-1}}',
     api.ErrorCode.BAD_REQUEST),
    (b'{"v":1,"id":1,"op":"mark_read","args":{"channel":"a","upto":true}}',
     api.ErrorCode.BAD_REQUEST),
    (b'{"v":1,"id":1,"op":"alert_history","args":{"limit":1001}}', api.ErrorCode.BAD_REQUEST),
    (b'{"v":1,"id":1,"op":"subscribe","args":{"events":["everything"]}}',
     api.ErrorCode.BAD_REQUEST),
])
def test_malformed_requests_get_the_right_code(line: bytes, code: api.ErrorCode) -> None:
    with pytest.raises(api.ApiError) as info:
        api.decode_request(line)
    assert info.value.code is code


@given(request_id=ids, result=st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
@settings(max_examples=50)
def test_replies_round_trip(request_id: api.RequestId, result: dict[str, Any]) -> None:
    assert api.decode_reply(api.encode_response(request_id, result)) == api.Response(
        request_id, result)
    assert api.decode_reply(api.encode_error(request_id, api.ErrorCode.INVALID, "no")) == \
        api.ErrorReply(request_id, "invalid", "no")
    assert api.decode_reply(api.encode_event("link_up", result)) == api.EventMessage(
        "link_up", result)


def test_long_socket_paths_are_reachable(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with api.socket_path(deep / "api.sock") as address:
        assert len(address) < 108
        server.bind(address)
    server.listen(1)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with api.socket_path(deep / "api.sock") as address:
        client.connect(address)
    client.close()
    server.close()


# --- a real daemon ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    base = fast_config()
    config = dataclasses.replace(base, api=dataclasses.replace(base.api, max_clients=4))
    with LocalNet.line(tmp_path_factory.mktemp("api"), ["A"], config) as net:
        net.start()
        yield net.nodes[0]


def _raw(node: LocalNode) -> ApiClient:
    client = node.client(timeout=10)
    client.connect()
    return client


def test_garbage_on_a_connection_is_answered_counted_and_the_connection_goes_on(
        node: LocalNode) -> None:
    before = node.request(api.Status())["api"]["bad_requests"]
    bad = [
        (b"not json\n", None, "bad_request"),
        (b"[1, 2]\n", None, "bad_request"),
        (b'{"v": 1}\n', None, "bad_request"),
        (b"\xff\xfe\n", None, "bad_request"),
        (b'{"v": 9, "id": 1, "op": "hello"}\n', 1, "unsupported_version"),
        (b'{"v": 1, "id": 2, "op": "launch"}\n', 2, "unknown_op"),
        (b'{"v": 1, "id": 3, "op": "post", "args": {"channel": 5}}\n', 3, "bad_request"),
    ]
    with _raw(node) as client:
        for line, request_id, code in bad:
            client.send_raw(line)
            reply = client.read_reply()
            assert isinstance(reply, api.ErrorReply)
            assert (reply.id, reply.code) == (request_id, code)
        assert client.request(api.Hello())["node_id"] == node.identity.node_id.hex()
    status = node.request(api.Status())
    assert status["api"]["bad_requests"] - before == len(bad)


def test_an_oversized_request_ends_only_its_connection(node: LocalNode) -> None:
    with _raw(node) as client:
        client.send_raw(b"x" * (api.MAX_REQUEST + 10))
        reply = client.read_reply()
        assert isinstance(reply, api.ErrorReply) and reply.code == "too_large"
        with pytest.raises(ConnectionError):
            client.read_reply()
    assert node.request(api.Hello())


def test_a_request_cut_short_by_a_hangup_is_still_answered(node: LocalNode) -> None:
    with _raw(node) as client:
        client.send_raw(b'{"v": 1, "id": 5, "op": "who')
        assert client._sock is not None
        client._sock.shutdown(socket.SHUT_WR)
        reply = client.read_reply()
        assert isinstance(reply, api.ErrorReply) and reply.code == "bad_request"
    with _raw(node) as client:
        client.send_raw(b'{"v": 1, "id": 6, "op": "whoami"}')
        assert client._sock is not None
        client._sock.shutdown(socket.SHUT_WR)
        reply = client.read_reply()
        assert isinstance(reply, api.Response) and reply.id == 6


def test_subscribers_receive_events_as_they_happen(node: LocalNode) -> None:
    with _raw(node) as listener:
        assert listener.request(api.Subscribe(("post_received",))) == {
            "events": ["post_received"]}
        with pytest.raises(api.ApiError) as info:
            listener.request(api.Subscribe())
        assert info.value.code is api.ErrorCode.INVALID
        posted = node.request(api.Post("wijk-west", "De bakker heeft brood"))
        event = next(listener.events())
        assert event.event == "post_received"
        assert event.data["id"] == posted["id"] and event.data["text"] == "De bakker heeft brood"
        assert event.data["author"]["name"] == "me"


def _answered(node: LocalNode) -> ApiClient:
    """A connection the daemon serves (it may not have seen an earlier hang-up yet)."""
    for _ in range(100):
        client = _raw(node)
        try:
            client.request(api.Hello())
            return client
        except (api.ApiError, OSError):
            client.close()
            time.sleep(0.05)
    raise AssertionError("no free client slot")


def test_subscribers_that_vanish_do_not_disturb_the_daemon(node: LocalNode) -> None:
    for _ in range(3):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with api.socket_path(node.socket) as address:
            sock.connect(address)
        sock.sendall(api.encode_request(api.Subscribe(), 1))
        sock.recv(1000)
        # Hang up hard, with unread events queued behind us.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for i in range(5):
            node.request(api.Post("wijk-west", f"event {i}"))
        sock.close()
        node.request(api.Post("wijk-west", "after"))
    assert node.request(api.Hello())
    assert node.process is not None and node.process.poll() is None


def test_too_many_clients_are_told_to_come_back(node: LocalNode) -> None:
    held = [_answered(node) for _ in range(4)]
    try:
        extra = _raw(node)
        reply = extra.read_reply()
        assert isinstance(reply, api.ErrorReply) and reply.code == "busy"
        extra.close()
    finally:
        for c in held:
            c.close()

    def refused() -> int:
        try:
            return int(node.request(api.Status())["api"]["refused"])
        except (api.ApiError, OSError):  # the daemon has not seen the hang-ups yet: busy
            return 0

    wait_for("a slot", lambda: refused() >= 1, 5)


def test_other_users_cannot_open_the_socket(node: LocalNode) -> None:
    if os.geteuid() != 0:
        pytest.skip("switching to another user needs root")
    pid = os.fork()
    if pid == 0:  # the child becomes "nobody" and tries the socket
        code = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            with api.socket_path(node.socket) as address:
                s.connect(address)
            code = 1
        except PermissionError:
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
