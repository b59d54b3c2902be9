"""The browser node's JavaScript modules (meshnode/daemon/web/static/app/) against the protocol
vectors, tests/vectors/v1.json, run by Node.js (Debian's `nodejs`, in .ci/run): messages round
trip byte for byte with their ids and signatures, the vector DM opens for its recipient only,
every refused input is refused, the Ed25519 rule of §3.1 holds, frames decode, the
reconciliation payloads are the vectors' byte for byte in both roles, a whole session learns
what the vectors learn (the difference, the peer's flags, the ghosts), and edited payloads are
refused without effect (§10.2)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

RUNNER = Path(__file__).parent / "js" / "vectors.mjs"


def test_the_browser_modules_pass_every_protocol_vector() -> None:
    node = shutil.which("node") or shutil.which("nodejs")
    assert node is not None, "Node.js is needed (apt-get install nodejs; .ci/run installs it)"
    done = subprocess.run([node, str(RUNNER)], capture_output=True, text=True, timeout=120)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["failed"] == [], result["failed"]
    assert result["passed"] >= 130
