"""CPU per trial opening of a DM that is not the node's (pair tags: every DM a node is handed is
tried), and per verification of a DM's envelope signature, on this machine.

    .venv/bin/python bench/bench_dm_trial.py [N]

Prints microseconds of CPU time (process_time) per call, averaged over N calls (default 3,000),
with `uptime` load (docs/benchmarks.md, "ONE side by side: where the evening's CPU went").
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable

from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import OpenError, open_verified_dm, seal_dm
from meshnode.crypto.signing import verify_message
from meshnode.wire import DmBody

NOW = 1_790_000_000


def per_call(fn: Callable[[], object], n: int) -> float:
    """Microseconds of CPU per call of `fn` (an `OpenError` counts as a finished call)."""
    start = time.process_time()
    for _ in range(n):
        with contextlib.suppress(OpenError):
            fn()
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000
    sender, recipient, relay = Identity.generate(), Identity.generate(), Identity.generate()
    msg = seal_dm(sender, recipient.public, "Alles goed bij jullie?", NOW)
    body = verify_message(msg)
    assert isinstance(body, DmBody)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    trial = per_call(lambda: open_verified_dm(relay, msg.id, body), n)
    envelope = per_call(lambda: verify_message(msg), n)
    print(f"load [{load}]: trial opening of a DM not ours {trial:.0f} us CPU, "
          f"envelope verification {envelope:.0f} us CPU ({n:,} calls each)")


if __name__ == "__main__":
    main()
