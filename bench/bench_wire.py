"""Messages per second for the wire format and its cryptography.

    python bench/bench_wire.py [--seconds S]
"""

from __future__ import annotations

import argparse
import itertools

from common import header, rate

from meshnode import wire
from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import open_dm, seal_dm
from meshnode.crypto.signing import create_post, verify_message

NOW = 1_790_000_000
TEXT = "Drinkwater bij de sporthal tot 18:00. Neem eigen flessen mee. " * 3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    anna, bram = Identity.generate(), Identity.generate()
    counter = itertools.count()
    post_bytes = wire.encode_message(create_post(anna, "wijk-noord", TEXT, NOW))
    dm = seal_dm(anna, bram.public, TEXT, NOW)
    dm_bytes = wire.encode_message(dm)

    cases = {
        "post encode+sign": lambda: wire.encode_message(
            create_post(anna, "wijk-noord", TEXT, NOW + next(counter))),
        "post decode+verify": lambda: verify_message(wire.decode_message(post_bytes)),
        "dm seal (sign+HPKE+envelope sign+encode)": lambda: wire.encode_message(
            seal_dm(anna, bram.public, TEXT, NOW)),
        "dm decode+open (verify+HPKE+inner verify)": lambda: open_dm(
            bram, wire.decode_message(dm_bytes)),
        "decode only (post, bounded)": lambda: wire.decode_body(
            wire.Kind.POST, wire.decode_message(post_bytes).body),
    }
    header("wire format and crypto throughput (single thread)")
    print(f"post: {len(post_bytes)} bytes on the wire; dm: {len(dm_bytes)} bytes "
          f"(text {len(TEXT.encode())} bytes)")
    print(f"| {'operation':<44} | {'msgs/s':>10} | {'µs/msg':>8} |")
    print(f"|{'-' * 46}|{'-' * 12}|{'-' * 10}|")
    for name, fn in cases.items():
        per_s, _ = rate(fn, min_seconds=args.seconds)
        print(f"| {name:<44} | {per_s:>10,.0f} | {1e6 / per_s:>8.1f} |")


if __name__ == "__main__":
    main()
