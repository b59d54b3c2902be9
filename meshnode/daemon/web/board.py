"""What the board shows, built from the local API's results (pure functions, no I/O).

`Snapshot` holds the API results the web server read through the daemon (`source.read`);
`build_board` turns one into a `Board` for a language: the alerts in force with their history,
the alerts that ended, the steunpunt's own notices, the neighbourhood channels and the mesh
status. Strings stay plain text here: the templates escape every one of them.

Notices are the hub's own posts on `NOTICE_CHANNEL`: a post there by anyone else is not a
notice, and that channel is not listed among the neighbourhood channels, so nobody can make a
post look like it came from the steunpunt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ENDED_SHOWN",
    "NOTICE_CHANNEL",
    "STALE_AFTER",
    "AlertCard",
    "Board",
    "ChannelSummary",
    "HistoryEntry",
    "KioskItem",
    "MeshStatus",
    "Notice",
    "PostLine",
    "Snapshot",
    "build_board",
    "channel_posts",
    "kiosk_items",
]

NOTICE_CHANNEL = "steunpunt"
STALE_AFTER = 3600  # seconds without a sync after which the board warns its news may be old
ENDED_SHOWN = 5  # alerts that ended, newest first
NOTICES_SHOWN = 10
CHANNELS_SHOWN = 30

ApiResult = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The daemon's state as the local API returned it, read at `taken` (unix time)."""

    taken: int
    whoami: ApiResult
    status: ApiResult
    alerts: ApiResult
    history: ApiResult
    notices: ApiResult
    channels: ApiResult


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    msg_type: str
    sent: int
    received: int
    headline: str
    superseded: bool


@dataclass(frozen=True, slots=True)
class AlertCard:
    """One verified alert in force, in the board's language where the alert has it."""

    id: str
    language: str  # the language of the texts shown: the board's, or the alert's first
    translated: bool  # the alert has the board's language
    event: str
    headline: str
    description: str
    instruction: str
    web: str
    areas: tuple[str, ...]
    severity: str
    urgency: str
    msg_type: str
    actual: bool  # CAP status Actual (not an exercise, test or draft)
    sent: int
    expires: int | None
    issuer: str
    root: str
    covers_here: bool | None
    history: tuple[HistoryEntry, ...]


@dataclass(frozen=True, slots=True)
class EndedAlert:
    headline: str
    state: str  # cancelled, withdrawn or expired
    updated: int | None


@dataclass(frozen=True, slots=True)
class Notice:
    id: str
    text: str
    created: int
    expires: int


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    name: str
    posts: int
    latest: int


@dataclass(frozen=True, slots=True)
class PostLine:
    """A resident's post: the author by fingerprint (and the hub's contact name, if bound)."""

    text: str
    author: str
    author_name: str | None
    created: int


@dataclass(frozen=True, slots=True)
class MeshStatus:
    name: str
    fingerprint: str
    links: int
    last_sync: int | None
    newest: int | None
    stale: bool


@dataclass(frozen=True, slots=True)
class Board:
    generated: int
    alerts: tuple[AlertCard, ...]
    ended: tuple[EndedAlert, ...]
    notices: tuple[Notice, ...]
    channels: tuple[ChannelSummary, ...]
    mesh: MeshStatus


@dataclass(frozen=True, slots=True)
class KioskItem:
    """One screen of the kiosk's rotation: an alert or a notice."""

    alert: AlertCard | None = None
    notice: Notice | None = None


def _info(view: ApiResult, lang: str) -> tuple[Mapping[str, Any], bool]:
    """The alert's info block in `lang` (by language tag prefix), else its first."""
    infos: Sequence[Mapping[str, Any]] = view.get("infos") or [{}]
    for info in infos:
        if str(info.get("language", "")).lower().startswith(lang):
            return info, True
    return infos[0], False


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _history(thread: Mapping[str, Any] | None, lang: str) -> tuple[HistoryEntry, ...]:
    if thread is None:
        return ()
    out = []
    for entry in thread.get("entries", []):
        info, _ = _info(entry, lang)
        out.append(HistoryEntry(
            msg_type=_text(entry.get("msg_type")), sent=int(entry.get("sent") or 0),
            received=int(entry.get("received") or 0), headline=_text(info.get("headline")),
            superseded=entry.get("removed") is not None))
    return tuple(out)


def _thread_of(alert_id: str, threads: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for thread in threads:
        if any(e.get("id") == alert_id for e in thread.get("entries", [])):
            return thread
    return None


def alert_card(view: ApiResult, lang: str,
               threads: Sequence[Mapping[str, Any]] = ()) -> AlertCard:
    """An `alerts` API entry (already verified by the node) as the board shows it."""
    info, translated = _info(view, lang)
    alert_id = _text(view.get("id"))
    return AlertCard(
        id=alert_id, language=_text(info.get("language")), translated=translated,
        event=_text(info.get("event")), headline=_text(info.get("headline")),
        description=_text(info.get("description")),
        instruction=_text(info.get("instruction")), web=_text(info.get("web")),
        areas=tuple(_text(a) for a in info.get("areas", [])),
        severity=_text(info.get("severity") or view.get("severity")),
        urgency=_text(info.get("urgency")), msg_type=_text(view.get("msg_type")),
        actual=view.get("status") == "Actual", sent=int(view.get("sent") or 0),
        expires=view.get("expires") if type(view.get("expires")) is int else None,
        issuer=_text(view.get("issuer")), root=_text(view.get("root")),
        covers_here=view.get("covers_here") if type(view.get("covers_here")) is bool else None,
        history=_history(_thread_of(alert_id, threads), lang))


_SEVERITY_ORDER = {"Extreme": 0, "Severe": 1, "Moderate": 2, "Minor": 3}


def _alerts(snapshot: Snapshot, lang: str) -> tuple[AlertCard, ...]:
    threads = snapshot.history.get("threads", [])
    # A Cancel ends its thread: it is listed among the alerts that ended, not in force.
    cards = [alert_card(v, lang, threads) for v in snapshot.alerts.get("alerts", [])
             if v.get("msg_type") != "Cancel"]
    # Real alerts covering this place first, then by severity, then the newest.
    cards.sort(key=lambda c: (not c.actual, c.covers_here is False,
                              _SEVERITY_ORDER.get(c.severity, 4), -c.sent))
    return tuple(cards)


def _ended(snapshot: Snapshot, lang: str) -> tuple[EndedAlert, ...]:
    out = []
    for thread in snapshot.history.get("threads", []):
        if thread.get("state") == "active" or not thread.get("entries"):
            continue
        info, _ = _info(thread["entries"][0], lang)
        updated = thread.get("updated")
        out.append(EndedAlert(_text(info.get("headline")), _text(thread.get("state")),
                              updated if type(updated) is int else None))
    return tuple(out[:ENDED_SHOWN])


def notices(snapshot: Snapshot) -> tuple[Notice, ...]:
    """The hub's own posts on the notice channel still valid, the newest first."""
    own = snapshot.whoami.get("sign_key")
    out = [Notice(_text(p.get("id")), _text(p.get("text")), int(p.get("created") or 0),
                  int(p.get("expires") or 0))
           for p in snapshot.notices.get("posts", [])
           if p.get("author", {}).get("sign_key") == own
           and int(p.get("expires") or 0) > snapshot.taken]
    out.sort(key=lambda n: -n.created)
    return tuple(out[:NOTICES_SHOWN])


def _channels(snapshot: Snapshot) -> tuple[ChannelSummary, ...]:
    out = [ChannelSummary(_text(c.get("channel")), int(c.get("posts") or 0),
                          int(c.get("latest") or 0))
           for c in snapshot.channels.get("channels", [])
           if c.get("channel") != NOTICE_CHANNEL]
    out.sort(key=lambda c: -c.latest)
    return tuple(out[:CHANNELS_SHOWN])


def _mesh(snapshot: Snapshot) -> MeshStatus:
    status = snapshot.status
    last_sync = status.get("last_sync")
    last_sync = last_sync if type(last_sync) is int else None
    heard = [int(c.get("latest") or 0) for c in snapshot.channels.get("channels", [])]
    heard += [int(e.get("received") or 0) for t in snapshot.history.get("threads", [])
              for e in t.get("entries", [])]
    newest = max(heard, default=0) or None
    stale = last_sync is None or snapshot.taken - last_sync > STALE_AFTER
    return MeshStatus(name=_text(status.get("name")),
                      fingerprint=_text(snapshot.whoami.get("fingerprint")),
                      links=int(status.get("links") or 0), last_sync=last_sync,
                      newest=newest, stale=stale)


def build_board(snapshot: Snapshot, lang: str) -> Board:
    return Board(generated=snapshot.taken, alerts=_alerts(snapshot, lang),
                 ended=_ended(snapshot, lang), notices=notices(snapshot),
                 channels=_channels(snapshot), mesh=_mesh(snapshot))


def kiosk_items(board: Board) -> tuple[KioskItem, ...]:
    """The kiosk's rotation: every alert in force, then every notice."""
    return (tuple(KioskItem(alert=a) for a in board.alerts)
            + tuple(KioskItem(notice=n) for n in board.notices))


def channel_posts(result: ApiResult) -> tuple[PostLine, ...]:
    """A `posts` API result as lines, the newest first."""
    out = []
    for p in result.get("posts", []):
        author = p.get("author", {})
        name = author.get("name")
        out.append(PostLine(_text(p.get("text")), _text(author.get("fingerprint")),
                            # "me" is the hub itself in the API; residents see the steunpunt
                            None if name in (None, "me") else _text(name),
                            int(p.get("created") or 0)))
    out.sort(key=lambda line: -line.created)
    return tuple(out)
