"""Daemons SIGKILLed at random moments while they sync a backlog over UDP and store posts made
through their APIs: nothing a daemon had accepted is lost, its store opens sound, and the
sync resumes until every node holds everything.

Accepted means the API acknowledged the post, or the daemon published `post_received` for it
(which it does only after the store committed it). The moments are drawn from a seed that a
failure message quotes; set MESHNODE_FAULT_SEED to replay one."""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from pathlib import Path

import pytest

from meshnode.daemon import api
from meshnode.daemon.client import DaemonNotRunning
from meshnode.daemon.localnet import LocalNet, LocalNode
from meshnode.wire import decode_message
from tests.daemons import Events, links_up, make_posts, prefill, wait_for
from tests.faults.helpers import fault_config, store_ids

pytestmark = pytest.mark.slow
ROUNDS = 5
BACKLOG = 600


class Poster(threading.Thread):
    """Posts through the nodes' APIs in turn until stopped; records what each acknowledged."""

    def __init__(self, nodes: list[LocalNode]) -> None:
        super().__init__(daemon=True)
        self.nodes = nodes
        self.acked: dict[str, set[str]] = {n.name: set() for n in nodes}
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.start()

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            node = self.nodes[i % len(self.nodes)]
            i += 1
            try:
                got = node.request(api.Post("wijk-noord", f"post {i} via {node.name}"),
                                   timeout=2.0)
            except (OSError, ValueError, api.ApiError, DaemonNotRunning):
                time.sleep(0.01)  # that node is down (or going down): not acknowledged
                continue
            with self.lock:
                self.acked[node.name].add(got["id"])

    def of(self, name: str) -> set[str]:
        with self.lock:
            return set(self.acked[name])

    def stop(self) -> set[str]:
        self.halt.set()
        self.join(10)
        with self.lock:
            return set().union(*self.acked.values())


def _received(events: Events) -> set[str]:
    """What the daemon reported stored, read to the end of its (now closed) event stream."""
    events.join(5)
    with contextlib.suppress(OSError):
        events.client.close()
    return {e["id"] for e in events.of("post_received")}


def _posts(node: LocalNode) -> int:
    return int(node.request(api.Status())["store"]["by_kind"].get("post", 0))


def test_sigkill_at_random_moments_loses_nothing_accepted(tmp_path: Path) -> None:
    seed = int(os.environ.get("MESHNODE_FAULT_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    backlog = make_posts(BACKLOG)
    with LocalNet.line(tmp_path, ["A", "B", "C"], fault_config()) as net:
        for node in net.nodes:
            node.setup()
        prefill(net["A"], backlog)  # B and C start out syncing it: the first kills land mid-sync
        for node in net.nodes:
            node.start()
        for node in net.nodes:
            node.wait_ready()
        events = {n.name: Events(n, ("post_received",)) for n in net.nodes}
        accepted: dict[str, set[str]] = {n.name: set() for n in net.nodes}
        poster = Poster(net.nodes)
        try:
            for round_ in range(ROUNDS):
                victim = rng.choice(net.nodes)
                time.sleep(rng.uniform(0.05, 1.2))
                victim.kill()
                accepted[victim.name] |= poster.of(victim.name) | _received(
                    events[victim.name])
                held = store_ids(victim.data_dir)  # SQLite's integrity check and the store's
                lost = accepted[victim.name] - held
                assert not lost, (f"seed {seed}, round {round_}: {victim.name} lost "
                                  f"{len(lost)} of {len(accepted[victim.name])} accepted posts")
                victim.start()
                victim.wait_ready()
                events[victim.name] = Events(victim, ("post_received",))
        finally:
            everything = poster.stop() | {decode_message(r).id.hex() for r in backlog}
            for e in events.values():
                with contextlib.suppress(OSError):
                    e.close()
        assert any(accepted.values()), f"seed {seed}: no kill caught an accepted post"

        wait_for("the links", lambda: links_up(net["B"], 2)(), 30)
        # A post whose acknowledgement was cut by a kill may exist too: the nodes agree on
        # a superset of what was accepted.
        wait_for(f"every node holding the same {len(everything)} posts or more (seed {seed})",
                 lambda: len({_posts(n) for n in net.nodes}) == 1
                 and _posts(net["A"]) >= len(everything), 60)
        assert net.stop() == {"A": 0, "B": 0, "C": 0}
        held = {node.name: store_ids(node.data_dir) for node in net.nodes}
        assert held["A"] == held["B"] == held["C"], f"seed {seed}: the stores differ"
        assert everything <= held["A"], f"seed {seed}: {len(everything - held['A'])} lost"
