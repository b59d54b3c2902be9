"""The browser node's sync session (meshnode/daemon/web/static/app/node.js) run by Node.js:
two browser nodes reconcile to the union of their messages and finish the exchange, a DM is
opened only by its recipient (who tries every DM) and comes back delivered, a node's Hello
field 3 holds its correspondents' pair tags blinded among padding to a sorted power of two
(8..128) and never a tag in the clear, and a peer's forged messages are never
kept while its garbage frames spend the link's budget until the node closes it; a dead copy
(no hops left) is neither sent nor asked for, its lacker keeps a ghost of it across a restart
and the next sync finds no difference, while a live copy still replaces the ghost and upgrades
a dead copy (§10.2); a side that starts over mid-exchange sends one new Hello, not a storm
(tests/web/js/link.mjs; storage there is a Map where the page has IndexedDB)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

RUNNER = Path(__file__).parent / "js" / "link.mjs"


def test_browser_nodes_sync_seal_and_refuse_hostile_frames() -> None:
    node = shutil.which("node") or shutil.which("nodejs")
    assert node is not None, "Node.js is needed (apt-get install nodejs; .ci/run installs it)"
    done = subprocess.run([node, str(RUNNER)], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip(), done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["failed"] == [], result["failed"]
    assert result["passed"] == 32
