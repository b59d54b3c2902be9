"""Requirements 1, 8 and 10: nothing static on the air, first and repeat contacts look the
same, and no secret is shared by the whole network.

Attacker: a strong radio (or many cheap ones along a street) that records every advert and
every sync it can hear, to follow one phone around. Defence: the advert carries only the
shared service UUID and `advert_token(secret, epoch)`, an HMAC of a random per-device secret
that changes every 15 minutes (`meshnode/transport/ble_token.py`, `ble_profile.py`); the GATT
INFO value is the same for every device; sync frames never carry a node id or key, and a node
greets every peer the same way before it knows who the peer is (`Node.link_up`); its own DM
tags (pair tags shared with its contacts, fixed for a UTC day) travel blinded with each Hello's
fresh nonce, among padding.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import replace
from pathlib import Path

from meshnode.crypto.identity import Identity
from meshnode.crypto.sealing import pair_secret, recipient_tag
from meshnode.events import DmCarried, DmReceived, Send
from meshnode.node import NodeConfig
from meshnode.routing.frames import Hello, decode_frame, encode_frame
from meshnode.routing.pairtags import MIN_FIELD
from meshnode.testing import Mesh
from meshnode.transport.ble_profile import (
    SERVICE_UUID,
    Info,
    advertising_data,
    encode_info,
    encode_token_value,
    uuid_le,
)
from meshnode.transport.ble_token import (
    EPOCH_SECONDS,
    advert_token,
    epoch_of,
    load_or_create_secret,
)
from meshnode.wire import DAY
from tests.attacks.peers import NOW, recording

FLAGS = bytes((2, 0x01, 0x06))


def advert(secret: bytes, now: int, profile: str = "service-data") -> bytes:
    """The legacy advertising payload a device sends at `now`, byte for byte."""
    return advertising_data(profile, advert_token(secret, epoch_of(now)))


def token_value(secret: bytes, now: int) -> bytes:
    """What the TOKEN characteristic reads at `now` (a device that can connect)."""
    return encode_token_value(advert_token(secret, epoch_of(now)), central=True)


def constant_positions(adverts: list[bytes]) -> dict[int, int]:
    return {i: adverts[0][i] for i in range(len(adverts[0]))
            if all(a[i] == adverts[0][i] for a in adverts)}


def test_a_devices_adverts_share_nothing_across_epochs_that_others_lack() -> None:
    devices = [secrets.token_bytes(32) for _ in range(6)]
    times = [NOW + k * EPOCH_SECONDS for k in range(8)]
    heard = {d: [advert(d, t) for t in times] for d in devices}
    everyone = [a for ads in heard.values() for a in ads]
    shared = constant_positions(everyone)
    assert len(everyone[0]) <= 31
    for ads in heard.values():
        # What stays the same for one device stays the same for every device: no handle.
        assert constant_positions(ads) == shared
    assert len(set(everyone)) == len(everyone)
    # Within one epoch the advert does not change, so a scanner can tell devices apart only
    # for 15 minutes.
    d = devices[0]
    start = epoch_of(NOW) * EPOCH_SECONDS
    last = start + EPOCH_SECONDS - 1
    assert advert(d, start) == advert(d, last) != advert(d, last + 1)


def test_the_uuid_advert_is_the_same_everywhere_and_the_token_read_rotates() -> None:
    """The iOS-style advert carries nothing per device; the token it leaves to GATT has the
    same properties as the service-data advert's."""
    devices = [secrets.token_bytes(32) for _ in range(6)]
    times = [NOW + k * EPOCH_SECONDS for k in range(8)]
    adverts = {advert(d, t, "uuid") for d in devices for t in times}
    assert adverts == {FLAGS + bytes((17, 0x07)) + uuid_le(SERVICE_UUID)}
    read = {d: [token_value(d, t) for t in times] for d in devices}
    everyone = [v for values in read.values() for v in values]
    for values in read.values():
        assert constant_positions(values) == constant_positions(everyone)
    assert len(set(everyone)) == len(everyone)


def test_the_advert_secret_is_per_device_not_per_identity(tmp_path: Path) -> None:
    """The same identity restored on a new phone advertises unrelated tokens; no two devices
    share a secret (requirement 10)."""
    one = load_or_create_secret(tmp_path / "phone-1" / "adv.secret")
    two = load_or_create_secret(tmp_path / "phone-2" / "adv.secret")
    assert one != two
    assert load_or_create_secret(tmp_path / "phone-1" / "adv.secret") == one
    epoch = epoch_of(NOW)
    identity = Identity.generate()
    keyed_by_identity = [identity.public.sign_key, identity.public.dh_key,
                         identity.node_id.ljust(32, b"\0")]
    token = advert_token(one, epoch)
    assert token != advert_token(two, epoch)
    assert all(token != advert_token(k, epoch) for k in keyed_by_identity)
    assert encode_info(Info()) == encode_info(Info())  # INFO: the same bytes on every device


def identifying(identity: Identity) -> list[bytes]:
    pub = identity.public
    fp = base64.b32decode(pub.fingerprint.replace(" ", ""))
    return [pub.node_id, pub.sign_key, pub.dh_key, fp, pub.node_id.hex().encode(),
            pub.fingerprint.encode()]


def test_first_and_repeat_contacts_look_the_same() -> None:
    mesh = Mesh()
    anna = mesh.add("anna", NOW)
    bram = mesh.add("bram", NOW)
    mesh.add("carla", NOW)
    anna.set_contacts([bram.identity.public.dh_key])
    other = Identity.generate()
    mesh.local("bram", mesh.nodes["bram"].post("wijk", "hallo", NOW)[1], NOW)
    _, outs = mesh.nodes["bram"].send_dm(anna.identity.public, "hoi", NOW)
    mesh.local("bram", outs, NOW)
    mesh.local("bram", mesh.nodes["bram"].send_dm(other.public, "hoi", NOW)[1], NOW)
    mesh.connect("anna", "bram", NOW + 10)
    mesh.disconnect("anna", "bram", NOW + 11)
    t = NOW + 20
    repeat = [o.data for o in anna.link_up("bram", t) if isinstance(o, Send)]
    first = [o.data for o in anna.link_up("carla", t) if isinstance(o, Send)]
    assert len(repeat) == len(first) == 1
    h1, h2 = decode_frame(repeat[0]), decode_frame(first[0])
    assert isinstance(h1, Hello) and isinstance(h2, Hello)
    assert h1.nonce != h2.nonce
    # The pair tags are blinded with each Hello's fresh nonce and padded: no tag repeats across
    # contacts, and with nonce and tags set aside the two Hellos are the same bytes.
    assert len(h1.tags) == len(h2.tags) == MIN_FIELD and not set(h1.tags) & set(h2.tags)
    assert len(repeat[0]) == len(first[0])
    # So is the digest of the held set: anna's set did not change between the two Hellos.
    assert h1.digest and h2.digest and h1.digest != h2.digest
    blank = {"nonce": b"\0" * len(h1.nonce), "tags": (), "digest": b""}
    assert encode_frame(replace(h1, **blank)) == encode_frame(replace(h2, **blank))


def test_own_dm_tags_do_not_link_syncs_on_one_day() -> None:
    """Requirement 1: a phone's DM tags are fixed for a day; its Hellos must not carry them in
    the clear, or a passive radio links every sync of that phone that day. Defence: the Hello
    names each tag as H(nonce || tag) (meshnode.crypto.sealing.hello_tag); a relay holding a DM
    still recognises the recipient, so DMs for it still go first and are handed over."""
    mesh = Mesh()
    anna = mesh.add("anna", NOW)
    bram = mesh.add("bram", NOW, NodeConfig(seed=1, spray_copies=1))  # hands DMs to recipients only
    mesh.add("carla", NOW)
    anna.set_contacts([bram.identity.public.dh_key])
    secret = pair_secret(anna.identity.agreement, bram.identity.public.dh_key)
    assert secret is not None
    mine = {recipient_tag(secret, anna.identity.public.dh_key, NOW // DAY - d) for d in (0, 1)}
    seen: list[bytes] = []
    for i in range(3):
        t = NOW + 100 * i
        hello = decode_frame(next(o.data for o in anna.link_up("bram", t) if isinstance(o, Send)))
        assert isinstance(hello, Hello)
        assert not mine & set(hello.tags)
        assert not set(seen) & set(hello.tags)
        seen.extend(hello.tags)
        anna.link_down("bram", t + 1)
    _, outs = mesh.nodes["bram"].send_dm(anna.identity.public, "hoi", NOW + 400)
    mesh.local("bram", outs, NOW + 400)
    mesh.connect("bram", "carla", NOW + 410)
    assert not mesh.of("carla", DmCarried) and not mesh.of("carla", DmReceived)
    mesh.connect("anna", "bram", NOW + 420)
    assert [e.text for e in mesh.of("anna", DmReceived)] == ["hoi"]  # type: ignore[attr-defined]


def test_no_sync_frame_names_the_node() -> None:
    """Everything a node sends in a full sync (its Hello, reconciliation, wants, the messages of
    others it relays, DMs to it) holds none of its ids, keys or fingerprint."""
    mesh = Mesh()
    anna = mesh.add("anna", NOW)
    bram = mesh.add("bram", NOW)
    for i in range(5):
        mesh.local("bram", bram.post("wijk", f"bericht {i}", NOW + i)[1], NOW + i)
    mesh.local("bram", bram.send_dm(anna.identity.public, "hoi", NOW)[1], NOW)
    mesh.connect("anna", "bram", NOW + 10)
    mesh.disconnect("anna", "bram", NOW + 11)
    carla = recording()
    mesh.nodes["carla"] = carla
    mesh.connect("anna", "carla", NOW + 20)
    sent = [data for link, data in carla.heard if link == "anna"]
    assert carla.store.usage().count == 6  # the sync really happened
    assert len(sent) > 3
    blob = b"".join(sent)
    for secret in identifying(anna.identity):
        assert secret not in blob
