"""The browser node fades posts as a node does (docs/protocol.md §10.2 "Class"): two hours after
its `created` a post with hops left is of class 0, so a holder with hops to spare offers a
holder of a dead copy no "upgrade" at any contact, while a node that lacks the post still gets
it. Posts are signed here by the Python code; Node.js runs the browser's own modules
(tests/web/js/fading.mjs) against the real clock, as the page does."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post
from meshnode.wire import Routing, encode_message

RUNNER = Path(__file__).parent / "js" / "fading.mjs"


def _copies(created: int, live_hops: int) -> tuple[str, list[str]]:
    post = create_post(Identity.generate(), "wijk", "water bij de kerk", created)
    return post.id.hex(), [encode_message(post.with_routing(Routing(h, 1))).hex()
                           for h in (0, live_hops)]


@pytest.fixture(scope="module")
def run() -> dict[str, Any]:
    now = int(time.time())  # the browser's modules judge by the real clock
    fresh_id, fresh = _copies(now - 60, 2)
    faded_id, faded = _copies(now - 3 * 3_600, 2)
    node = shutil.which("node") or shutil.which("nodejs")
    assert node is not None, "Node.js is needed (apt-get install nodejs; .ci/run installs it)"
    done = subprocess.run([node, str(RUNNER)], capture_output=True, text=True, timeout=120,
                          input=json.dumps({"fresh": fresh, "faded": faded}))
    assert done.returncode == 0, done.stderr
    facts: dict[str, Any] = json.loads(done.stdout)
    facts["ids"] = [fresh_id, faded_id]
    return facts


def test_a_post_with_hops_left_is_class_1_only_until_it_fades(run: dict[str, Any]) -> None:
    assert run["classes_at_live"] == [1, 0]


def test_only_the_fresh_post_upgrades_a_dead_copy_and_nothing_is_sent_twice(
        run: dict[str, Any]) -> None:
    fresh_id, _ = run["ids"]
    assert run["sent_by_live"] == [[fresh_id], []]
    assert run["hops_at_dead"] == [1, 0]


def test_a_node_lacking_a_faded_post_still_gets_it(run: dict[str, Any]) -> None:
    assert run["hops_at_lacking"] == [1, 1]
