"""What the daemon does for each API request and with each node event, on a real Node and a
real SQLite store (no sockets: the service is synchronous)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshnode.crypto.authority import RootKey, TrustStore
from meshnode.crypto.identity import Identity, PublicIdentity
from meshnode.crypto.sealing import seal_dm
from meshnode.crypto.signing import create_announce
from meshnode.crypto.trustfile import read_public_key
from meshnode.daemon import api
from meshnode.daemon.api import ApiError, ErrorCode
from meshnode.daemon.contacts import ContactBook
from meshnode.daemon.inbox import Inbox
from meshnode.daemon.service import Service, ServiceInfo
from meshnode.events import (
    AlertRemoved,
    AnnounceReceived,
    DmCarried,
    DmDelivered,
    DmReceived,
    PostReceived,
    Refusal,
    Rejected,
    Send,
    SyncFinished,
)
from meshnode.node import Node
from meshnode.store import SqliteStore
from meshnode.wire import AnnounceBody, Kind, decode_body, encode_message
from tests.daemons import make_authority


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    authority = make_authority(tmp_path / "authority")
    name, key = read_public_key(authority.root_pub, role="root")
    store = SqliteStore(tmp_path / "messages.db", 4 * 1024 * 1024)
    node = Node(Identity.generate(), store, TrustStore((RootKey(key, name),)),
                int(time.time()))
    inbox, contacts = Inbox(tmp_path / "inbox.db"), ContactBook(tmp_path / "contacts.db")
    info = ServiceInfo(str(tmp_path), lambda: [{"link": "x"}], lambda: {"malformed": 2},
                       lambda: {"requests": 1})
    svc = Service(node, inbox, contacts, info, name="Hub")
    svc.authority = authority  # type: ignore[attr-defined]
    yield svc
    store.close()
    inbox.close()
    contacts.close()


def now() -> int:
    return int(time.time())


def test_posts_are_signed_stored_and_listed(service: Service) -> None:
    result, outputs = service.handle(api.Post("wijk-noord", "Water at the gym"), now())
    assert service.node.store.has(bytes.fromhex(result["id"]))
    assert not any(isinstance(o, Send) for o in outputs)  # no links yet
    channels = service.handle(api.Channels(), now())[0]["channels"]
    assert [(c["channel"], c["posts"]) for c in channels] == [("wijk-noord", 1)]
    [post] = service.handle(api.Posts("wijk-noord"), now())[0]["posts"]
    assert post["text"] == "Water at the gym" and post["author"]["name"] == "me"


def test_a_post_the_node_refuses_is_an_error_with_the_reason(service: Service) -> None:
    with pytest.raises(ApiError) as info:
        service.handle(api.Post("Not A Channel!", "x"), now())
    assert info.value.code is ErrorCode.INVALID and "channel" in info.value.message
    for i in range(60):
        service.handle(api.Post("wijk-noord", f"post {i}"), now())
    with pytest.raises(ApiError) as info:
        service.handle(api.Post("wijk-noord", "one too many"), now())
    assert "quota" in info.value.message


def test_direct_messages_need_a_known_recipient(service: Service) -> None:
    with pytest.raises(ApiError) as info:
        service.handle(api.SendDm("Bram", "hi"), now())
    assert info.value.code is ErrorCode.NOT_FOUND
    assert "meshnode contacts add" in info.value.message
    bram = Identity.generate().public
    service.handle(api.ContactAdd("Bram", sign_key=bram.sign_key, dh_key=bram.dh_key), now())
    for to in ("Bram", bram.fingerprint, bram.fingerprint.replace(" ", "").lower(),
               bram.sign_key.hex()):
        result, _ = service.handle(api.SendDm(to, f"hi via {to}"), now())
        assert result["to"]["name"] == "Bram"
    sent = service.handle(api.Outbox(), now())[0]["messages"]
    assert len(sent) == 4 and all(m["delivered"] is None for m in sent)


def test_identity_cards_from_the_mesh_resolve_fingerprints(service: Service) -> None:
    carla = Identity.generate()
    service.node.inject(encode_message(create_announce(carla, "Carla", now())), now())
    result, _ = service.handle(api.ContactAdd("Carla", fingerprint=carla.fingerprint), now())
    assert result["contact"]["dh_key"] == carla.public.dh_key.hex()
    with pytest.raises(ApiError) as info:
        service.handle(api.ContactAdd("Dirk", fingerprint="AAAA BBBB"), now())
    assert info.value.code is ErrorCode.NOT_FOUND and "--keys" in info.value.message


def test_inject_verifies_alerts_and_reports_duplicates_and_forgeries(service: Service) -> None:
    alert = service.authority.alert()  # type: ignore[attr-defined]
    first, _ = service.handle(api.Inject(alert), now())
    assert first["accepted"] is True and first["kind"] == "alert"
    again, _ = service.handle(api.Inject(alert), now())
    assert again == {**first, "accepted": False, "duplicate": True}
    [shown] = service.handle(api.Alerts(), now())[0]["alerts"]
    assert shown["id"] == first["id"] and shown["issuer"] == "Test region"
    forged = bytearray(service.authority.alert(seq=2))  # type: ignore[attr-defined]
    forged[len(forged) // 2] ^= 1
    with pytest.raises(ApiError) as info:
        service.handle(api.Inject(bytes(forged)), now())
    assert info.value.code is ErrorCode.INVALID and "bad signature" in info.value.message
    with pytest.raises(ApiError, match="not a meshnode message"):
        service.handle(api.Inject(b"\x00garbage"), now())


def test_a_dm_opened_for_us_is_in_the_inbox_before_it_is_published(service: Service) -> None:
    anna = Identity.generate()
    msg = seal_dm(anna, service.node.identity.public, "Are you OK?", now())
    event = DmReceived(msg.id, anna.public, "Are you OK?", now())
    published = service.record([event], now())
    assert published[0][0] == "dm_received"
    assert published[0][1]["from"]["known"] is False
    [dm] = service.handle(api.Inbox(), now())[0]["messages"]
    assert dm["text"] == "Are you OK?" and dm["from"]["sign_key"] == anna.public.sign_key.hex()


def test_delivery_states_are_recorded(service: Service) -> None:
    bram = Identity.generate().public
    service.handle(api.ContactAdd("Bram", sign_key=bram.sign_key, dh_key=bram.dh_key), now())
    dm_id = bytes.fromhex(service.handle(api.SendDm("Bram", "hi"), now())[0]["id"])
    service.record([DmCarried(dm_id, 2)], now())
    service.record([DmDelivered(dm_id)], now())
    [sent] = service.handle(api.Outbox(), now())[0]["messages"]
    assert sent["handovers"] == 2 and sent["delivered"] is not None


def test_a_changed_key_behind_a_contact_name_raises_a_warning(service: Service) -> None:
    bram, impostor = Identity.generate(), Identity.generate()
    service.handle(api.ContactAdd("Bram", sign_key=bram.public.sign_key,
                                  dh_key=bram.public.dh_key), now())
    card = create_announce(impostor, "Bram", now())
    body = decode_body(Kind.ANNOUNCE, card.body)
    assert isinstance(body, AnnounceBody)
    published = service.record([AnnounceReceived(card.id, body)], now())
    assert [name for name, _ in published] == ["announce_received", "key_warning"]
    assert published[1][1]["name"] == "Bram"
    contacts = service.handle(api.Contacts(), now())[0]
    assert contacts["contacts"][0]["sign_key"] == bram.public.sign_key.hex()  # unchanged
    assert len(contacts["warnings"]) == 1
    assert service.record([AnnounceReceived(card.id, body)], now()) == [published[0]]


def test_key_warnings_are_dismissed_or_cleared_by_a_rebind_and_announced(
        service: Service, caplog: pytest.LogCaptureFixture) -> None:
    bram, impostor = Identity.generate(), Identity.generate()
    service.handle(api.ContactAdd("Bram", sign_key=bram.public.sign_key,
                                  dh_key=bram.public.dh_key), now())
    for who in (impostor, Identity.generate()):
        card = create_announce(who, "Bram", now())
        body = decode_body(Kind.ANNOUNCE, card.body)
        assert isinstance(body, AnnounceBody)
        service.record([AnnounceReceived(card.id, body)], now())
    assert service.handle(api.Status(), now())[0]["key_warnings"] == 2
    with pytest.raises(ApiError) as info:
        service.handle(api.DismissKeyWarning("Nobody"), now())
    assert info.value.code is ErrorCode.NOT_FOUND and "contacts list" in info.value.message
    with caplog.at_level(logging.WARNING, logger="meshnode.service"):
        result, _ = service.handle(api.DismissKeyWarning("Bram"), now())
    assert result == {"name": "Bram", "dismissed": 2}
    assert "key_warnings_cleared" in caplog.text
    assert service.record([], now()) == [("key_warnings_dismissed",
                                          {"name": "Bram", "dismissed": 2})]
    assert service.handle(api.Contacts(), now())[0]["warnings"] == []
    assert service.handle(api.DismissKeyWarning("Bram"), now())[0]["dismissed"] == 0
    assert service.record([], now()) == []
    card = create_announce(impostor, "Bram", now())  # a new warning; the user checks and rebinds
    body = decode_body(Kind.ANNOUNCE, card.body)
    assert isinstance(body, AnnounceBody)
    service.record([AnnounceReceived(card.id, body)], now())
    service.handle(api.ContactAdd("Bram", sign_key=impostor.public.sign_key,
                                  dh_key=impostor.public.dh_key, replace=True), now())
    assert service.handle(api.Contacts(), now())[0]["warnings"] == []
    assert service.record([], now()) == [("key_warnings_dismissed",
                                          {"name": "Bram", "dismissed": 1})]


def test_status_whoami_and_announce(service: Service) -> None:
    status = service.handle(api.Status(), now())[0]
    assert status["name"] == "Hub" and status["transport"] == {"malformed": 2}
    assert status["roots"] == ["Test root"] and status["store"]["messages"] == 0
    me = service.handle(api.Whoami(), now())[0]
    assert PublicIdentity(bytes.fromhex(me["sign_key"]), bytes.fromhex(me["dh_key"])) == \
        service.node.identity.public
    result, _ = service.handle(api.Announce("Hub Noord"), now())
    assert service.node.store.has(bytes.fromhex(result["id"]))
    assert service.handle(api.Whoami(), now())[0]["name"] == "Hub Noord"
    [peer] = service.handle(api.Peers(), now())[0]["peers"]
    assert peer["link"] == "x" and peer["last_sync"] is None
    with pytest.raises(ApiError) as info:
        service.handle(api.ContactRemove("nobody"), now())
    assert info.value.code is ErrorCode.NOT_FOUND and "'nobody'" in info.value.message


def test_alert_history_refusals_syncs_and_read_marks_are_recorded(service: Service) -> None:
    t = now()
    alert = service.authority.alert()  # type: ignore[attr-defined]
    result, outputs = service.handle(api.Inject(alert), t)
    published = service.record(outputs, t)
    assert [name for name, _ in published] == ["alert_received"]
    [thread] = service.handle(api.AlertHistory(), t)[0]["threads"]
    assert thread["state"] == "active" and thread["entries"][0]["id"] == result["id"]
    assert thread["entries"][0]["received"] == t and thread["entries"][0]["removed"] is None
    service.record([AlertRemoved(bytes.fromhex(result["id"]), "superseded by Update")], t + 1)
    [thread] = service.handle(api.AlertHistory(), t)[0]["threads"]
    assert thread["entries"][0]["removed"] == {"at": t + 1, "reason": "superseded by Update"}
    service.record([Rejected("udp:x", Kind.ALERT, Refusal.ALERT, "unknown root"),
                    Rejected("udp:x", Kind.ALERT, Refusal.RATE, "peer sends too fast"),
                    Rejected("udp:x", Kind.POST, Refusal.QUOTA, "post quota")], t)
    [refused] = service.handle(api.RejectedAlerts(), t)[0]["rejected"]
    assert (refused["reason"], refused["link"], refused["count"]) == (
        "alert unknown root", "udp:x", 1)
    assert service.handle(api.Status(), t)[0]["last_sync"] is None
    service.record([SyncFinished("x", 3, 4)], t + 2)
    assert service.handle(api.Status(), t)[0]["last_sync"] == t + 2
    [peer] = service.handle(api.Peers(), t)[0]["peers"]
    assert (peer["last_sync"], peer["last_sync_sent"], peer["last_sync_received"]) == (t + 2, 3, 4)
    service.handle(api.Post("wijk-noord", "mine"), t)
    [channel] = service.handle(api.Channels(), t)[0]["channels"]
    assert channel["unread"] == 0 and channel["read_upto"] == 0  # one's own post
    read, _ = service.handle(api.MarkRead("wijk-noord"), t + 3)
    assert read == {"channel": "wijk-noord", "read_upto": t, "unread": 0}
    assert service.record([], t + 3) == [("read_marked", read)]
    assert service.handle(api.MarkRead("wijk-noord", upto=t - 5), t + 3)[0]["read_upto"] == t
    assert service.record([], t + 3) == []  # the mark did not move: nothing to tell


def test_events_nobody_reads_are_counted_and_recorded_without_their_views(
        service: Service) -> None:
    """A hub with no API client listening builds no event views, but every event still does
    what it means here (alert history, refused alerts, sync marks, the inbox) and is counted."""
    t = now()
    nobody = lambda name: False  # noqa: E731
    _, outputs = service.handle(api.Post("wijk-noord", "hello"), t)
    [post] = [out for out in outputs if isinstance(out, PostReceived)]
    assert service.record(outputs, t, wanted=nobody) == []
    alert, outputs = service.handle(api.Inject(service.authority.alert()), t)  # type: ignore[attr-defined]
    assert [name for name, _ in service.record(outputs, t, wanted=nobody)] == ["alert_received"]
    [thread] = service.handle(api.AlertHistory(), t)[0]["threads"]
    assert thread["entries"][0]["id"] == alert["id"]
    anna = Identity.generate()
    dm = seal_dm(anna, service.node.identity.public, "Are you OK?", t)
    assert service.record([Rejected("udp:x", Kind.ALERT, Refusal.ALERT, "unknown root"),
                           SyncFinished("x", 3, 4),
                           DmReceived(dm.id, anna.public, "Are you OK?", t)],
                          t + 1, wanted=nobody) == [
        ("rejected", {"link": "udp:x", "kind": "alert", "refusal": "alert",
                      "reason": "alert unknown root"})]
    assert service.handle(api.RejectedAlerts(), t)[0]["rejected"][0]["count"] == 1
    assert service.handle(api.Status(), t)[0]["last_sync"] == t + 1
    [kept] = service.handle(api.Inbox(), t)[0]["messages"]
    assert kept["text"] == "Are you OK?"
    assert service.handle(api.Status(), t)[0]["api"]["events_published"] == 5
    only_posts = service.record([post, SyncFinished("x", 1, 1)], t,
                                wanted=lambda name: name == "post_received")
    assert [(name, data["text"]) for name, data in only_posts] == [("post_received", "hello")]
