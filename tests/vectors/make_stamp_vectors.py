"""Write the proof-of-work stamp vectors (tests/vectors/stamps.json, docs/protocol.md §15).

Run when the stamp rule changes: `python tests/vectors/make_stamp_vectors.py`. Keys and times
are those of the version-1 vectors (make_vectors.py). Every stamp here is the first nonce,
counting from 0, that reaches its work, so any implementation of `mint` reproduces it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent.parent))

from meshnode.crypto.signing import create_post  # noqa: E402
from meshnode.crypto.stamp import (  # noqa: E402
    STAMP_BITS,
    STAMP_DOMAIN,
    STAMP_SIZE,
    mint_stamp,
    stamp_day,
    stamp_digest,
    stamp_worth,
)
from meshnode.wire import Routing, encode_message  # noqa: E402
from tests.vectors.make_vectors import CREATED, person  # noqa: E402

OUT = HERE / "stamps.json"
CHANNEL, TEXT = "wijk-noord", "Wie heeft er stroom? / Who has power?"


def first_worth_exactly(key: bytes, day: int, bits: int) -> bytes:
    """The first nonce worth exactly `bits` (a stamp one bit too weak for `bits` + 1)."""
    nonce = 0
    while stamp_worth(key, day, candidate := nonce.to_bytes(STAMP_SIZE, "big")) != bits:
        nonce += 1
    return candidate


def case(name: str, key: bytes, day: int, nonce: bytes) -> dict[str, Any]:
    worth = stamp_worth(key, day, nonce)
    return {"why": name, "key": key.hex(), "day": day, "nonce": nonce.hex(),
            "digest": stamp_digest(key, day, nonce).hex(), "worth": worth,
            "accepted": worth >= STAMP_BITS}


def main() -> None:
    anna, bram = person("anna"), person("bram")
    akey, bkey = anna.public.sign_key, bram.public.sign_key
    day = stamp_day(CREATED)
    good = mint_stamp(akey, day)
    weak = first_worth_exactly(akey, day, STAMP_BITS - 1)
    brams = mint_stamp(bkey, day)
    yesterday = mint_stamp(akey, day - 1)
    stamps = [case("valid: Anna's key, the day of `created`", akey, day, good),
              case(f"too weak: worth {STAMP_BITS - 1} bits", akey, day, weak),
              case("another author's stamp (Bram's, same day) on Anna's key", akey, day, brams),
              case("Anna's stamp of the day before", akey, day, yesterday)]
    messages = []
    for why, stamp, verdict in (("stamped post", good, None),
                                ("post without a stamp", None, "stamp"),
                                ("post with a stamp too weak", weak, "stamp"),
                                ("post with Bram's stamp", brams, "stamp"),
                                ("post with the day before's stamp", yesterday, "stamp")):
        msg = create_post(anna, CHANNEL, TEXT, CREATED, ttl=86_400, stamp=stamp)
        messages.append({"why": why, "channel": CHANNEL, "text": TEXT, "created": CREATED,
                         "expires": CREATED + 86_400,
                         "stamp": None if stamp is None else stamp.hex(),
                         "body": msg.body.hex(), "sig": msg.sig.hex(), "id": msg.id.hex(),
                         "message": encode_message(msg.with_routing(Routing(8, 1))).hex(),
                         "refusal": verdict})
    vectors = {"domain": STAMP_DOMAIN.hex(), "bits": STAMP_BITS, "signer": "anna",
               "now": CREATED + 60, "stamps": stamps, "messages": messages}
    OUT.write_text(json.dumps(vectors, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
