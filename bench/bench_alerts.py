"""Authority alerts: chain verifications per second (with and without the certificate cache),
CAP XML imports per second, and the bytes of a typical NL-Alert on the wire.

    python bench/bench_alerts.py [--seconds S]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from common import header, rate

from meshnode import wire
from meshnode.alerts.capxml import import_cap
from meshnode.alerts.compact import encode_alert
from meshnode.alerts.examples import example_authority, example_nl_alert
from meshnode.crypto.authority import (
    CertCache,
    SequenceWindow,
    sign_alert,
    verify_alert,
)

NOW = 1_790_000_000
CAP_DIR = Path(__file__).parent.parent / "tests" / "data" / "cap"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    authority = example_authority(NOW, root_name="bench root")
    trust, issuer, cert_msg = authority.trust, authority.issuer, authority.cert_msg
    alert = example_nl_alert(NOW)
    msgs = [sign_alert(issuer, cert_msg, alert, seq) for seq in range(1, 2001)]
    raw = wire.encode_message(msgs[0])
    cycle = itertools.cycle(msgs)
    cache = CertCache()

    def fresh_window() -> None:
        verify_alert(next(cycle), trust, NOW, seqs=SequenceWindow())

    def with_cache() -> None:
        verify_alert(next(cycle), trust, NOW, seqs=SequenceWindow(), cache=cache)

    cap_files = [p for p in sorted(CAP_DIR.iterdir()) if p.suffix in (".xml", ".cap")
                 and b"urn:oasis:names:tc:emergency:cap:1.2" in p.read_bytes()]
    documents = itertools.cycle([p.read_bytes() for p in cap_files])

    header("authority alerts (single thread)")
    print(f"typical NL-Alert (nl + en, one polygon): compact CAP {len(encode_alert(alert)):,} "
          f"bytes, whole signed message with certificate {len(raw):,} bytes")
    print(f"| {'operation':<48} | {'per second':>10} | {'µs each':>8} |")
    print(f"|{'-' * 50}|{'-' * 12}|{'-' * 10}|")
    for name, fn in (
        ("verify alert chain, no certificate cache", fresh_window),
        ("verify alert chain, certificate cached", with_cache),
        (f"import CAP XML (cycling {len(cap_files)} real files, trim on)",
         lambda: import_cap(next(documents), trim=True)),
    ):
        per_s, _ = rate(fn, min_seconds=args.seconds)
        print(f"| {name:<48} | {per_s:>10,.0f} | {1e6 / per_s:>8.1f} |")


if __name__ == "__main__":
    main()
