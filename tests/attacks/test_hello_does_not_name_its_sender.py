"""Requirement 1: a passive listener holding every identity card cannot name whose sync it hears.

Attacker: a radio that records every Hello it hears and holds every identity card in the mesh
(announces flood, so anyone has them: here 1,000 cards, the residents' among them). For each
card it computes every DM tag a card lets it compute, today's and yesterday's, and looks for
them, blinded with each Hello's nonce, in the Hello's tag field:
- the version 1 tag, an HMAC keyed with the card's X25519 key (what Hellos carried before sync
  version 2: the attack named 4 of 4 senders);
- the pair tag of the listener's own DMs to the card's holder, the one pair secret it has.
Defence (docs/protocol.md §5, §10.1): a Hello presents only pair tags, keyed by an X25519
secret the phone shares with each of its contacts, among random padding; nobody else can
compute them. The positive control shows the search is real: a contact of the phone, holding
its own private key, names the phone.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric import x25519

from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import hello_tag, pair_secret, recipient_tag
from meshnode.crypto.signing import create_announce
from meshnode.events import Send
from meshnode.node import Node
from meshnode.routing.frames import Hello, decode_frame
from meshnode.testing import Mesh
from meshnode.wire import DAY, TAG_SIZE, AnnounceBody, Kind, decode_body

NOW = 1_790_000_000
CARDS = 1_000
RESIDENTS = ("anna", "bram", "carla", "dirk", "eva")
V1_TAG_DOMAIN = b"meshnode/v1/tag\x00"  # the retired public-key tag (protocol version 1)


def cards(residents: Iterable[Identity], strangers: int) -> list[AnnounceBody]:
    """The identity cards a listener collects off the air, decoded: the residents' and
    `strangers` more."""
    people = [*residents, *(Identity.generate() for _ in range(strangers))]
    out = []
    for i, person in enumerate(people):
        body = decode_body(Kind.ANNOUNCE, create_announce(person, f"card {i}", NOW).body)
        assert isinstance(body, AnnounceBody)
        out.append(body)
    return out


def hello_of(node: Node, now: int) -> Hello:
    """The Hello `node` opens a new link with, as the listener hears it."""
    sent = [o.data for o in node.link_up("listener", now) if isinstance(o, Send)]
    node.link_down("listener", now)
    hello = decode_frame(sent[0])
    assert isinstance(hello, Hello)
    return hello


def candidate_tags(card: AnnounceBody, listener: x25519.X25519PrivateKey,
                   day: int) -> list[bytes]:
    """Every DM tag of today and yesterday the listener can compute for the card's holder."""
    out = []
    secret = pair_secret(listener, card.dh_key)
    for d in (day, day - 1):
        v1 = hmac.new(card.dh_key, V1_TAG_DOMAIN + d.to_bytes(4, "big"), hashlib.sha256)
        out.append(v1.digest()[:TAG_SIZE])
        if secret is not None:
            out.append(recipient_tag(secret, card.dh_key, d))
    return out


def named(hello: Hello, book: list[AnnounceBody], listener: x25519.X25519PrivateKey,
          day: int) -> set[bytes]:
    """The signing keys of the cards whose tags the Hello presents."""
    field = set(hello.tags)
    return {card.sign_key for card in book
            if any(hello_tag(hello.nonce, t) in field
                   for t in candidate_tags(card, listener, day))}


def residents() -> tuple[Mesh, dict[str, Node]]:
    """Five residents, each with the other four as contacts."""
    mesh = Mesh()
    nodes = {name: mesh.add(name, NOW) for name in RESIDENTS}
    for name, node in nodes.items():
        node.set_contacts(other.identity.public.dh_key
                          for o, other in nodes.items() if o != name)
    return mesh, nodes


def test_listener_with_every_card_names_no_senders_hello() -> None:
    _, nodes = residents()
    book = cards((n.identity for n in nodes.values()), CARDS - len(nodes))
    assert len(book) == CARDS
    listener = Identity.generate().agreement
    heard = [(name, hello_of(node, NOW + 600 * i + j))
             for i in range(2) for j, (name, node) in enumerate(nodes.items())]
    for name, hello in heard:
        assert len(hello.tags) >= 2 * (len(RESIDENTS) - 1)  # the real tags are in the field
        assert named(hello, book, listener, NOW // DAY) == set(), name


def test_a_contact_does_recognise_the_phone() -> None:
    """The positive control: the search above finds the phone once the listener holds a key
    the phone presents pair tags for (it is a contact), so its empty result is meaningful."""
    _, nodes = residents()
    book = cards((n.identity for n in nodes.values()), 50)
    anna, bram = nodes["anna"], nodes["bram"]
    hello = hello_of(anna, NOW + 10)
    found = named(hello, book, bram.identity.agreement, NOW // DAY)
    # Bram's own pair tags name Anna (a contact of his who presents them) and nobody else.
    assert found == {anna.identity.public.sign_key}
