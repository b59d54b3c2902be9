"""Requirements 2 and 3: a display name is bound to its key and never replaced silently; key
changes are visible and fingerprints can be compared out of band.

Attacker: a phone app that announces itself as "Bram" (a neighbour's name), forges Bram's
identity card with its own agreement key (to read DMs meant for him), or posts in his name.
Defence: announces and posts are verified against the key they name (`verify_message`);
names shown for authors and senders come only from the local contact book
(`Service.names`); the book binds a name to one key pair and records a `KeyWarning` when the
mesh shows that name or key with other keys (`ContactBook.check_announce`); rebinding needs
`replace` and leaves a warning (`ContactBook.add`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from meshnode.crypto.authority import TrustStore
from meshnode.crypto.identity import Identity, PublicIdentity
from meshnode.crypto.signing import create_announce, sign_body
from meshnode.daemon import api
from meshnode.daemon.api import ApiError
from meshnode.daemon.contacts import ContactBook
from meshnode.daemon.inbox import Inbox
from meshnode.daemon.service import Service, ServiceInfo
from meshnode.events import AnnounceReceived, Rejected
from meshnode.node import Node
from meshnode.store.memory import MemoryStore
from meshnode.wire import AnnounceBody, PostBody, encode_message
from tests.attacks.peers import NOW, Bench


def service(tmp_path: Path, node: Node) -> Service:
    info = ServiceInfo(str(tmp_path), lambda: [], lambda: {}, lambda: {})
    return Service(node, Inbox(tmp_path / "inbox.db"), ContactBook(tmp_path / "contacts.db"),
                   info, name="me", started=0.0)


def test_a_forged_identity_card_or_post_in_someones_name_is_refused() -> None:
    bram, eve = Identity.generate(), Identity.generate()
    bench = Bench.make()
    bench.link("eve")
    card = AnnounceBody(bram.public.sign_key, eve.public.dh_key, "Bram", NOW, NOW + 86_400)
    post = PostBody(bram.public.sign_key, "wijk", NOW, NOW + 3_600, "Kom naar de brug!")
    for body in (card, post):
        out = bench.send("eve", sign_body(body, eve.signing))
        assert [o.reason.split(":")[0] for o in out if isinstance(o, Rejected)] == ["invalid"]
    assert bench.node.store.usage().count == 0
    assert not any(isinstance(o, AnnounceReceived) for o in bench.outputs)


def test_someone_else_announcing_a_contacts_name_is_flagged_not_adopted(tmp_path: Path) -> None:
    bram, eve = Identity.generate(), Identity.generate()
    node = Node(Identity.generate(), MemoryStore(1 << 20), TrustStore(()), NOW)
    svc = service(tmp_path, node)
    svc.contacts.add("Bram", bram.public, NOW)
    out = node.inject(encode_message(create_announce(eve, "Bram", NOW)), NOW).outputs
    published = svc.record(out, NOW)
    warnings = [data for name, data in published if name == "key_warning"]
    assert len(warnings) == 1
    assert warnings[0]["new_fingerprint"] == eve.fingerprint
    assert warnings[0]["old_fingerprint"] == bram.fingerprint
    # The name still leads to Bram's keys; Eve's card is shown as unknown, by her fingerprint.
    assert svc.resolve("Bram") == bram.public
    [card] = [data for name, data in published if name == "announce_received"]
    assert card["known"] is False and card["fingerprint"] == eve.fingerprint
    assert svc.names(eve.public.sign_key) is None


def test_a_key_change_is_never_silent(tmp_path: Path) -> None:
    bram = Identity.generate()
    new_phone = Identity.generate()
    node = Node(Identity.generate(), MemoryStore(1 << 20), TrustStore(()), NOW)
    svc = service(tmp_path, node)
    svc.contacts.add("Bram", bram.public, NOW)
    # Bram's signing key seen with another agreement key (only his key can sign that card).
    moved = PublicIdentity(bram.public.sign_key, new_phone.public.dh_key)
    assert svc.contacts.check_announce("Bram", moved, NOW) is not None
    assert [w.name for w in svc.contacts.warnings()] == ["Bram"]
    # Re-binding the name needs an explicit replace (after comparing fingerprints), which is
    # the user acting on the warning: it clears it.
    with pytest.raises(ApiError, match="compare fingerprints"):
        svc.handle(api.ContactAdd("Bram", new_phone.public.sign_key, new_phone.public.dh_key),
                   NOW)
    assert svc.resolve("Bram") == bram.public
    svc.handle(api.ContactAdd("Bram", new_phone.public.sign_key, new_phone.public.dh_key,
                              replace=True), NOW + 1)
    assert svc.resolve("Bram") == new_phone.public
    assert svc.contacts.warnings() == []


def test_fingerprints_compared_out_of_band_must_match_the_keys(tmp_path: Path) -> None:
    bram, eve = Identity.generate(), Identity.generate()
    node = Node(Identity.generate(), MemoryStore(1 << 20), TrustStore(()), NOW)
    svc = service(tmp_path, node)
    with pytest.raises(ApiError, match="fingerprint does not match"):
        svc.handle(api.ContactAdd("Bram", eve.public.sign_key, eve.public.dh_key,
                                  fingerprint=bram.fingerprint), NOW)
    assert svc.contacts.all() == []
    # Spacing and case do not matter to the comparison, the bits do.
    svc.handle(api.ContactAdd("Bram", bram.public.sign_key, bram.public.dh_key,
                              fingerprint=bram.fingerprint.lower().replace(" ", "")), NOW)
    assert svc.resolve("Bram") == bram.public
    assert bram.fingerprint != eve.fingerprint and len(bram.fingerprint.replace(" ", "")) == 32
