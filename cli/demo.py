"""`meshnode demo`: the protocol end to end, in-process, with no configuration.

Three residents (Anna, Bram and a relay, Carla) exchange real wire bytes: a signed post, a sealed
direct message that Carla carries without learning who wrote it or for whom, its receipt, and
two forgeries that are refused. Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import (
    OpenError,
    addressed_to,
    create_receipt,
    open_dm,
    receipt_matches,
    seal_dm,
)
from meshnode.crypto.signing import SignatureError, create_announce, create_post, verify_message
from meshnode.wire import (
    DmBody,
    Message,
    PostBody,
    ReceiptBody,
    WireError,
    decode_message,
    encode_message,
)


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the protocol end to end in-process (no setup needed)")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(handler=run)


def _relay(data: bytes) -> Message:
    """What a relay does with bytes it receives: bounded decode, then verify."""
    return decode_message(data)


def run(args: argparse.Namespace) -> int:
    console = Console(quiet=args.json)
    now = int(time.time())
    anna, bram, carla = Identity.generate(), Identity.generate(), Identity.generate()
    results: dict[str, object] = {}

    console.rule("[bold]meshnode demo: three residents, real wire bytes")
    people = Table("who", "node id", "fingerprint (compare in person)")
    for name, who in (("Anna", anna), ("Bram", bram), ("Carla (relay)", carla)):
        people.add_row(name, who.node_id.hex(), who.fingerprint)
    console.print(people)

    card = encode_message(create_announce(anna, "Anna", now))
    console.print(f"Anna announces herself: {len(card)} bytes, self-signed")

    post_bytes = encode_message(create_post(anna, "wijk-noord", "Water at the school gym", now))
    post = verify_message(_relay(post_bytes))
    assert isinstance(post, PostBody)
    console.print(
        f"Anna posts to #{post.channel}: {len(post_bytes)} bytes; Carla verifies it: "
        f"[green]author {anna.node_id.hex()[:8]}…, signature valid[/]"
    )
    results["post_bytes"] = len(post_bytes)

    forged = bytearray(post_bytes)
    forged[-40] ^= 0x01
    try:
        verify_message(_relay(bytes(forged)))
        console.print("[red]forged post accepted (this is a bug)[/]")
        results["forged_post_refused"] = False
    except (SignatureError, WireError) as exc:
        console.print(f"A post with one flipped bit is refused: [yellow]{exc}[/]")
        results["forged_post_refused"] = True

    dm_bytes = encode_message(seal_dm(anna, bram.public, "Are you OK? We have spare water.", now))
    carried = _relay(dm_bytes)
    outer = verify_message(carried)
    assert isinstance(outer, DmBody)
    console.print(
        f"Anna seals a DM to Bram: {len(dm_bytes)} bytes. Carla sees tag {outer.tag.hex()[:12]}…, "
        f"for her: {addressed_to(carla, outer)}, for Bram: {addressed_to(bram, outer)}"
    )
    try:
        open_dm(carla, carried)
        results["relay_could_open"] = True
    except OpenError as exc:
        console.print(f"Carla tries to open it: [yellow]{exc}[/]")
        results["relay_could_open"] = False

    opened = open_dm(bram, _relay(encode_message(carried)))
    console.print(
        f"Bram opens it: [green]“{opened.text}”[/] from "
        f"{'Anna' if opened.sender == anna.public else 'someone else'} "
        f"(fingerprint {opened.sender.fingerprint[:9]}…)"
    )
    results["dm_delivered"] = opened.text

    receipt_bytes = encode_message(create_receipt(opened, now + 1))
    receipt = verify_message(_relay(receipt_bytes))
    assert isinstance(receipt, ReceiptBody)
    purged = receipt_matches(receipt, carried.id, outer)
    console.print(
        f"Bram's receipt ({len(receipt_bytes)} bytes) lets Carla drop her copy: {purged}; "
        "it names no one"
    )
    results["receipt_purges_copy"] = purged
    console.rule("done")
    if args.json:
        print(json.dumps(results, indent=2))
    ok = results["forged_post_refused"] and not results["relay_could_open"] and purged
    return 0 if ok else 1
