"""Which pair tags a node presents in its Hello (docs/protocol.md §10, field 3)."""

from __future__ import annotations

from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import hello_tag, pair_secret, recipient_tag
from meshnode.events import DmCarried, DmReceived, Send
from meshnode.node import NodeConfig
from meshnode.routing.frames import MAX_TAGS, Hello, decode_frame
from meshnode.routing.pairtags import MAX_CONTACTS, MIN_FIELD, PairTags, field_size
from meshnode.testing import Mesh

NOW = 1_790_000_000


def test_the_field_is_a_power_of_two_from_8_to_128_entries() -> None:
    sizes = {n: field_size(n) for n in (0, 1, 8, 9, 16, 17, 100, 128, 129, 1_000)}
    assert sizes == {0: 8, 1: 8, 8: 8, 9: 16, 16: 16, 17: 32, 100: 128, 128: 128, 129: 128,
                     1_000: 128}
    assert MIN_FIELD == 8 and MAX_TAGS == 128


def test_contacts_come_first_then_the_latest_correspondents_up_to_the_limit() -> None:
    me = Identity.generate()
    contacts = [Identity.generate().public.dh_key for _ in range(MAX_CONTACTS - 1)]
    pairs = PairTags(me)
    pairs.set_contacts(contacts)
    assert pairs.contacts == MAX_CONTACTS - 1
    older, newer = Identity.generate().public.dh_key, Identity.generate().public.dh_key
    pairs.correspond(older)
    pairs.correspond(newer)
    pairs.correspond(contacts[0])  # already presented: changes nothing
    assert pairs.contacts == MAX_CONTACTS
    day = NOW // 86_400
    tags = pairs.tags(day)
    assert len(tags) == 2 * MAX_CONTACTS  # today's and yesterday's, no duplicates
    assert len(set(tags)) == len(tags)
    # The newest correspondent took the last place; the older one is not presented.
    alone = PairTags(me)
    alone.set_contacts([newer])
    assert alone.tags(day)[0] in tags
    alone.set_contacts([older])
    assert alone.tags(day)[0] not in tags


def test_a_reply_is_recognised_without_the_user_adding_a_contact() -> None:
    """Anna writes to Bram, who is not in her contacts nor she in his. Bram's reply is carried
    by a relay that hands its last copy only to a recipient it recognises: it recognises Anna
    because she presents the pair tag of replies from the people she wrote to."""
    mesh = Mesh()
    anna, bram = mesh.add("anna", NOW), mesh.add("bram", NOW)
    mesh.add("relay", NOW, NodeConfig(seed=9, spray_copies=1))  # only to the recipient
    mesh.add("carla", NOW)
    mesh.local("anna", anna.send_dm(bram.identity.public, "gaat het?", NOW)[1], NOW)
    mesh.connect("anna", "bram", NOW + 10)
    mesh.disconnect("anna", "bram", NOW + 11)
    assert [e.text for e in mesh.of("bram", DmReceived)] == ["gaat het?"]  # type: ignore[attr-defined]
    # Bram, having opened Anna's DM, presents the tag of her next one too.
    hello = decode_frame(next(o.data for o in bram.link_up("x", NOW + 15)
                              if isinstance(o, Send)))
    secret = pair_secret(bram.identity.agreement, anna.identity.public.dh_key)
    assert isinstance(hello, Hello) and secret is not None
    tag = recipient_tag(secret, bram.identity.public.dh_key, NOW // 86_400)
    assert hello_tag(hello.nonce, tag) in hello.tags
    bram.link_down("x", NOW + 15)
    mesh.local("bram", bram.send_dm(anna.identity.public, "ja", NOW + 20)[1], NOW + 20)
    mesh.connect("bram", "relay", NOW + 30)
    mesh.disconnect("bram", "relay", NOW + 31)
    mesh.connect("relay", "carla", NOW + 40)  # not the recipient: the copy stays
    mesh.disconnect("relay", "carla", NOW + 41)
    assert not mesh.of("carla", DmCarried) and not mesh.of("carla", DmReceived)
    mesh.connect("relay", "anna", NOW + 50)
    assert [e.text for e in mesh.of("anna", DmReceived)] == ["ja"]  # type: ignore[attr-defined]
