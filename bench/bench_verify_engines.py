"""CPU time of one Ed25519 verification: OpenSSL alone against `ed25519_valid` (which lets
libsodium decide every signature whose R is not of small order), alternating in one sitting.

    python bench/bench_verify_engines.py [--messages 2000] [--runs 3]

Genuine signatures of 300-byte messages (what a hub verifies all day); CPU time of this
process (`time.process_time`), so the load changes the wall time more than these figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import header

from meshnode.crypto.verify import ed25519_valid, weak_public_key


def openssl(key: bytes, sig: bytes, data: bytes) -> bool:
    """The rule as it was verified before: the weak-key refusal, then OpenSSL."""
    if weak_public_key(key):
        return False
    ed25519.Ed25519PublicKey.from_public_bytes(key).verify(sig, data)
    return True


def cpu_us(verify: Callable[[bytes, bytes, bytes], bool], key: bytes,
           work: list[tuple[bytes, bytes]]) -> float:
    start = time.process_time()
    for data, sig in work:
        if not verify(key, sig, data):
            raise AssertionError("a genuine signature did not verify")
    return 1e6 * (time.process_time() - start) / len(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    header("Ed25519 verification: OpenSSL against ed25519_valid (libsodium where it may)")
    private = ed25519.Ed25519PrivateKey.generate()
    key = private.public_key().public_bytes_raw()
    work = [(data, private.sign(data)) for data in (os.urandom(300)
                                                    for _ in range(args.messages))]
    engines: dict[str, Callable[[bytes, bytes, bytes], bool]] = {
        "OpenSSL (cryptography)": openssl, "ed25519_valid": ed25519_valid}
    results: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(args.runs):
        for name, verify in engines.items():
            results[name].append(cpu_us(verify, key, work))
    print(f"load average (1 min) after: {os.getloadavg()[0]:.1f}")
    print("| verifier | CPU µs per verification (range) |")
    print("|---|---:|")
    for name, values in results.items():
        print(f"| {name} | {min(values):.1f}–{max(values):.1f} |")


if __name__ == "__main__":
    main()
