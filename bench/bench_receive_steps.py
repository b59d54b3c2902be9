"""CPU per received post, step by step, of this tree against another commit.

    python bench/bench_receive_steps.py [--base main] [--runs 3] [--messages 2000]

Times the steps a hub's core thread takes for each received post, in isolation, over
`--messages` pre-encoded posts (50 per author, as bench_hub_core.py gets them): decoding the
frame, the envelope and the body, the signature check, building the stored record, asking a
message for its id five times (as the intake and the node did), encoding a decoded message
for the store, and the per-author quota. Each figure is the best of 5 rounds, in µs of CPU
time of the calling thread (`time.thread_time`) per message, so a loaded machine disturbs it
less than wall time. With `--base`, that commit's tree (`git archive`) and this one run
alternately, `--runs` times each, every run a fresh process importing its tree through
`PYTHONPATH`.
"""

from __future__ import annotations

import os
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def one(messages: int) -> dict[str, float]:
    """Each step's µs of CPU per message, with whatever `meshnode` PYTHONPATH gives."""
    from meshnode.crypto.verify import ed25519_valid
    from meshnode.daemon.harness import make_posts
    from meshnode.routing.frames import Msg, decode_frame, encode_frame
    from meshnode.routing.limits import AuthorQuota
    from meshnode.store.base import StoredMessage
    from meshnode.wire import Kind, PostBody, decode_body, decode_message, encode_message

    raws = make_posts(messages)
    frames = [encode_frame(Msg(raw)) for raw in raws]
    msgs = [decode_message(raw) for raw in raws]
    bodies = [decode_body(Kind.POST, m.body) for m in msgs]
    posts = [b for b in bodies if isinstance(b, PostBody)]

    def ids() -> None:
        for msg in (decode_message(raw) for raw in raws):
            for _ in range(5):
                _ = msg.id

    def quota() -> None:
        q = AuthorQuota()
        for i, body in enumerate(posts):
            q.allow(body.author, body.created + i % 50)

    steps: dict[str, Callable[[], object]] = {
        "decode frame": lambda: [decode_frame(f) for f in frames],
        "decode envelope": lambda: [decode_message(raw) for raw in raws],
        "decode body": lambda: [decode_body(Kind.POST, m.body) for m in msgs],
        "verify signature": lambda: [ed25519_valid(b.author, m.sig, m.signed_bytes)
                                     for m, b in zip(msgs, posts, strict=True)],
        "build stored record": lambda: [
            StoredMessage(id=m.id, kind=1, raw=raw, priority=3, created=b.created,
                          expires=b.expires, received=b.created, channel=b.channel)
            for m, raw, b in zip(msgs, raws, posts, strict=True)],
        "decode envelope, then id x5": ids,
        "encode a decoded message": lambda: [encode_message(m) for m in msgs],
        "author quota": quota,
    }
    return {name: 1e6 * min(timeit.Timer(step, timer=time.thread_time).repeat(
        number=1, repeat=5)) / messages for name, step in steps.items()}


def main() -> None:
    sys.path.insert(0, str(HERE / "bench"))
    from bench_hub_receive import compare_trees, span

    compared = compare_trees(__file__, __doc__, 2_000, one)
    if compared is None:
        return
    args, runs = compared
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print()
    labels = {"this": "this tree", "base": args.base}
    print("| µs of CPU per message | " + " | ".join(labels[name] for name in runs) + " |")
    print("|---|" + "---:|" * len(runs))
    for step in (s for s in runs["this"][0] if s != "load"):  # run_one adds the load
        print(f"| {step} | " + " | ".join(
            span([float(str(r[step])) for r in rs], 2) for rs in runs.values()) + " |")


if __name__ == "__main__":
    main()
