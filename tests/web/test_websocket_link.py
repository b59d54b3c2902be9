"""The hub's WebSocket transport against a real hub daemon (a separate process, `[web]` on):
a `Node` in this process, linked over a real WebSocket at ``/sync``, is a mesh peer like a UDP
or BLE one (meshnode.transport.websocket, docs/steunpunt.md).

The tests run in file order on one hub: the hostile ones come last, because the hub bans the
host (127.0.0.1) for a while after it closed one of its links for misbehaviour.
"""

from __future__ import annotations

import time

import trio

from meshnode.daemon import api
from meshnode.events import PostReceived
from meshnode.routing.frames import MAX_FRAME
from tests.daemons import wait_for
from tests.web.conftest import Steunpunt
from tests.web.wsnode import WsPeer, new_node, send_raw


def _sync_url(spot: Steunpunt) -> str:
    return spot.url.replace("http://", "ws://") + "/sync"


def _hub_posts(spot: Steunpunt, channel: str) -> list[str]:
    return [p["text"] for p in spot.hub.request(api.Posts(channel, limit=100))["posts"]]


def test_a_websocket_peer_exchanges_posts_with_the_hub_and_the_mesh_beyond(
        steunpunt: Steunpunt) -> None:
    steunpunt.peer.request(api.Post("wijk-zuid", "Stroom terug in de Dorpsstraat"))
    wait_for("the hub to hold the peer's post",
             lambda: "Stroom terug in de Dorpsstraat" in _hub_posts(steunpunt, "wijk-zuid"))
    peer = WsPeer(new_node(), _sync_url(steunpunt))
    posted = peer.node.post("wijk-zuid", "Water bij de sporthal, neem flessen mee",
                            int(time.time()))
    assert posted.verdict.accepted, posted

    def got_the_mesh_post() -> bool:
        return any(isinstance(e, PostReceived) and e.post.text == "Stroom terug in de Dorpsstraat"
                   for e in peer.events)

    trio.run(peer.sync, got_the_mesh_post)
    water = "Water bij de sporthal, neem flessen mee"
    wait_for("the hub to hold the browser peer's post",
             lambda: water in _hub_posts(steunpunt, "wijk-zuid"))
    wait_for("the UDP peer to hold it too",
             lambda: water in [
                 p["text"] for p in steunpunt.peer.request(
                     api.Posts("wijk-zuid", limit=100))["posts"]])
    assert peer.closed_by_node is None
    peers = steunpunt.hub.request(api.Status())
    assert peers["transport"]["ws_links_up_total"] >= 1


def _port(spot: Steunpunt) -> int:
    return int(spot.url.rsplit(":", 1)[1])


def _ws_stats(spot: Steunpunt) -> dict[str, int]:
    stats = spot.hub.request(api.Status())["transport"]
    return {k[3:]: v for k, v in stats.items() if k.startswith("ws_")}


def test_a_text_message_ends_the_link_and_its_host_waits(steunpunt: Steunpunt) -> None:
    code = trio.run(lambda: send_raw(_port(steunpunt), ["hello?"], source="127.0.0.2"))
    assert code == 1003
    again = trio.run(lambda: send_raw(_port(steunpunt), [], source="127.0.0.2"))
    assert again == 403  # banned for a while: refused at the handshake
    assert _ws_stats(steunpunt)["penalized"] >= 1
    # Another host is unaffected: its link stays open until we give up on it.
    assert trio.run(lambda: send_raw(_port(steunpunt), [], source="127.0.0.3",
                                     timeout=1.0)) is None


def test_garbage_frames_spend_the_peers_malformed_frame_budget(steunpunt: Steunpunt) -> None:
    # Far more than the budget: the hub closes the link with most of them still unread.
    garbage: list[bytes | str] = [b"\xc1not a sync frame %d" % i for i in range(400)]
    code = trio.run(lambda: send_raw(_port(steunpunt), garbage, source="127.0.0.4"))
    assert code == 1008  # the node closed the link: "too many malformed frames"
    assert trio.run(lambda: send_raw(_port(steunpunt), [], source="127.0.0.4")) == 403
    # The hub's own mesh link is untouched.
    assert any(p["transport"] == "udp" and p["state"] == "up"
               for p in steunpunt.hub.request(api.Peers())["peers"])


def test_a_frame_over_the_size_limit_is_refused_unread(steunpunt: Steunpunt) -> None:
    huge: list[bytes | str] = [bytes(MAX_FRAME + 1)]
    assert trio.run(lambda: send_raw(_port(steunpunt), huge, source="127.0.0.5")) == 1009


def test_one_host_gets_at_most_its_share_of_links(steunpunt: Steunpunt) -> None:
    async def crowd() -> list[int | None]:
        codes: list[int | None] = []

        async def one() -> None:
            codes.append(await send_raw(_port(steunpunt), [], source="127.0.0.6", timeout=8.0))

        async with trio.open_nursery() as nursery:
            for _ in range(12):
                nursery.start_soon(one)
        return codes

    codes = trio.run(crowd)
    assert codes.count(403) == 4  # 8 links per host; the rest refused
    assert codes.count(None) == 8
