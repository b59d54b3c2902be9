"""Pure renderings of the daemon's API results (docs/api.md) into Rich text for the TUI views.

Every function takes the JSON objects the API returns and the UI language, and returns a Rich
renderable; none does I/O. Times are shown in local time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from meshnode.daemon.tls import EXPIRY_WARN_DAYS
from tui import palette
from tui.i18n import Lang, refusal, text

__all__ = [
    "SEVERITY_STYLE",
    "delivery_state",
    "render_alerts",
    "render_conversation",
    "render_posts",
    "render_qr",
    "render_status",
    "size",
    "when",
]

SEVERITY_STYLE = palette.SEVERITY


def when(ts: object, *, short: bool = False) -> str:
    if not isinstance(ts, int | float) or isinstance(ts, bool) or ts <= 0:
        return "-"
    return time.strftime("%H:%M" if short else "%Y-%m-%d %H:%M", time.localtime(ts))


def size(n: object, lang: Lang = Lang.EN) -> str:
    """Bytes in binary units, named as such (KiB, MiB), with a decimal comma in Dutch."""
    value = float(n) if isinstance(n, int | float) else 0.0
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            shown = f"{value:.0f}" if unit == "B" else f"{value:.1f}"
            return f"{shown.replace('.', ',') if lang is Lang.NL else shown} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def pick_info(alert: Mapping[str, Any], lang: Lang) -> dict[str, Any]:
    infos = [i for i in alert.get("infos", []) if isinstance(i, dict)]
    for info in infos:
        if str(info.get("language", "")).lower().startswith(lang.value):
            return info
    return infos[0] if infos else {}


_STATE_NOTE = {"cancelled": "alerts.cancelled", "withdrawn": "alerts.withdrawn",
               "expired": "alerts.expired"}


def _alert_panel(thread: Mapping[str, Any], lang: Lang) -> RenderableType:
    entries = [e for e in thread.get("entries", []) if isinstance(e, dict)] or [{}]
    alert = entries[-1]
    state = str(thread.get("state", "active"))
    info = pick_info(alert, lang)
    severity = str(alert.get("severity") or info.get("severity") or "Unknown")
    style = SEVERITY_STYLE.get(severity, SEVERITY_STYLE["Unknown"])
    parts: list[RenderableType] = []
    shown = text(lang, f"severity.{severity}") if severity in SEVERITY_STYLE else severity
    head = Text(f" {shown.upper()} ", style=style)
    head.append(f" {info.get('headline') or info.get('event') or alert.get('identifier')}",
                style="bold")
    parts.append(head)
    parts.append(Text(text(lang, "alerts.verified", issuer=alert.get("issuer"),
                           root=alert.get("root")), style=palette.GOOD))
    covers = alert.get("covers_here")
    key = ("alerts.covers.yes" if covers is True else
           "alerts.covers.no" if covers is False else "alerts.covers.unknown")
    parts.append(Text(text(lang, key), style=palette.DANGER if covers is True else "italic"))
    if state in _STATE_NOTE:
        parts.append(Text(text(lang, _STATE_NOTE[state]), style="bold reverse"))
    parts.append(Text(text(lang, "alerts.sent", when=when(alert.get("sent")),
                           severity=shown, expires=when(alert.get("expires"))),
                      style=palette.MUTED))
    for label, value in (("alerts.what", info.get("description")),
                         ("alerts.todo", info.get("instruction")),
                         ("alerts.more", info.get("web")),
                         ("alerts.area", ", ".join(info.get("areas") or []))):
        if value:
            parts.append(_block(text(lang, label), str(value)))
    if len(entries) > 1:
        parts.append(Text(text(lang, "alerts.history"), style="bold"))
        for entry in reversed(entries):
            line = Text(f"  {when(entry.get('sent'))}  {entry.get('msg_type')}  ")
            line.append(str(pick_info(entry, lang).get("headline", "")))
            if entry.get("removed"):
                line.append(f"  ({text(lang, 'alerts.superseded')})", style=palette.MUTED)
            parts.append(line)
    border = (palette.SEVERITY_BORDER.get(severity, palette.SEVERITY_BORDER["Unknown"])
              if state == "active" else palette.PANEL_BORDER)
    return Panel(Group(*parts), border_style=border, expand=True)


def _block(label: str, value: str) -> Text:
    """A labelled block; NL-Alert texts often open with the heading themselves ("Wat moet u
    doen? ..."), so the label is not repeated then."""
    if value.lower().startswith(label.lower()):
        head = value[:len(label) + 1] if value[len(label):len(label) + 1] in "?:" else \
            value[:len(label)]
        block = Text()  # the heading styled, not the whole block (a Text's style spreads)
        block.append(head, style="bold underline")
        block.append(value[len(head):])
        return block
    block = Text()
    block.append(label + ":", style="bold underline")
    block.append(" " + value)
    return block


def render_alerts(threads: Sequence[Mapping[str, Any]], rejected: Sequence[Mapping[str, Any]],
                  lang: Lang) -> RenderableType:
    """The alerts view: refused alerts first (API `rejected_alerts`), then each alert thread
    (API `alert_history`), newest first."""
    parts: list[RenderableType] = []
    for refused in rejected:
        why, detail = refusal(str(refused.get("reason", "")), lang)
        body = Text(text(lang, "alerts.unverified", reason=why), style=palette.UNVERIFIED)
        if detail:
            body.append("\n" + text(lang, "alerts.unverified.detail", detail=detail),
                        style=palette.UNVERIFIED)
        body.append("\n" + text(lang, "alerts.unverified.seen", when=when(refused.get("last_seen")),
                                 count=refused.get("count", 1)), style=palette.UNVERIFIED)
        parts.append(Panel(body, border_style=palette.UNVERIFIED_BORDER))
    parts.extend(_alert_panel(t, lang) for t in threads)
    if not parts:
        parts.append(Text(text(lang, "alerts.none"), style="italic"))
    return Group(*parts)


def _who(person: Mapping[str, Any], lang: Lang) -> str:
    name = person.get("name")
    if name == "me":
        return text(lang, "messages.me")
    short = str(person.get("fingerprint", ""))[:9]
    return f"{name}" if name else f"? {short}"


def render_posts(channel: str | None, posts: Sequence[dict[str, Any]],
                 lang: Lang) -> RenderableType:
    if channel is None:
        return Text(text(lang, "channels.none"), style="italic")
    if not posts:
        return Text(text(lang, "channels.empty", channel=channel), style="italic")
    out = Text()
    for post in sorted(posts, key=lambda p: p.get("created", 0)):
        if out:
            out.append("\n")
        out.append(f"{when(post.get('created'), short=True)} ", style=palette.MUTED)
        out.append(_who(post.get("author", {}), lang), style=palette.NAME)
        out.append(f": {post.get('text', '')}")
    return out


def delivery_state(dm: Mapping[str, Any], lang: Lang) -> str:
    if dm.get("delivered"):
        return text(lang, "messages.delivered")
    handovers = dm.get("handovers") or 0
    if handovers:
        return text(lang, "messages.carried", n=handovers)
    return text(lang, "messages.queued")


def render_conversation(contact: Mapping[str, Any] | None, inbox: Sequence[dict[str, Any]],
                        outbox: Sequence[dict[str, Any]], lang: Lang) -> RenderableType:
    """Messages with one contact, oldest first; sent ones carry their delivery state."""
    if contact is None:
        return Text(text(lang, "messages.pick"), style="italic")
    key = contact.get("sign_key")
    items: list[tuple[int, bool, dict[str, Any]]] = []
    items += [(m.get("received") or m.get("created", 0), False, m) for m in inbox
              if m.get("from", {}).get("sign_key") == key]
    items += [(m.get("created", 0), True, m) for m in outbox
              if m.get("to", {}).get("sign_key") == key]
    out = Text()
    for ts, mine, message in sorted(items, key=lambda item: item[0]):
        if out:
            out.append("\n")
        out.append(f"{when(ts, short=True)} ", style=palette.MUTED)
        if mine:
            out.append(text(lang, "messages.me"), style=palette.GOOD)
            out.append(f": {message.get('text', '')} ")
            out.append(f"[{delivery_state(message, lang)}]", style=f"italic {palette.NOTICE}")
        else:
            out.append(str(contact.get("name")), style=palette.NAME)
            out.append(f": {message.get('text', '')}")
    return out


def render_status(status: Mapping[str, Any], lang: Lang) -> RenderableType:
    store = status.get("store", {})
    counters = status.get("counters", {})
    inbox = status.get("inbox", {})
    lines = [
        text(lang, "status.node", name=status.get("name") or "-",
             fingerprint=status.get("fingerprint", "")),
        text(lang, "status.links", links=status.get("links", 0),
             last_sync=when(status.get("last_sync")) if status.get("last_sync")
             else text(lang, "status.never")),
        text(lang, "status.store", messages=store.get("messages", 0),
             used=size(store.get("used_bytes", 0), lang),
             capacity=size(store.get("capacity_bytes", 0), lang)),
        text(lang, "status.counters", accepted=counters.get("accepted_total", 0),
             rejected=counters.get("rejected_total", 0),
             duplicates=counters.get("duplicates", 0), relayed=counters.get("relayed", 0)),
        text(lang, "status.inbox", received=inbox.get("received", 0), sent=inbox.get("sent", 0)),
        text(lang, "status.roots", roots=", ".join(status.get("roots", [])) or "-"),
    ]
    clock = status.get("clock") or {}
    if clock.get("behind"):
        lines.insert(0, text(lang, "status.clock_behind", minutes=int(clock["behind"]) // 60,
                             floor=when(clock.get("floor"))))
    lines.extend(_https_lines((status.get("web") or {}).get("https"), lang))
    recovery = status.get("recovery")
    if recovery:
        lines.append(text(lang, "status.recovered", moved_to=recovery.get("moved_to"),
                          dms=recovery.get("dms_restored", 0),
                          posts=recovery.get("posts_restored", 0),
                          lost=recovery.get("dms_not_restored", 0)))
    return Text("\n".join(lines))


def _https_lines(https: Mapping[str, Any] | None, lang: Lang) -> list[str]:
    """The board's HTTPS certificate (`meshnode status`'s web.https): its names and end, and
    a loud line once it expires within 30 days (the daemon's warnings, docs/steunpunt.md)."""
    if not https:
        return []
    until = when(https.get("not_after"))
    lines = [text(lang, "status.https", names=", ".join(https.get("names", [])), until=until)]
    days = int(https.get("days_left", 0))
    if days < 0:
        lines.append(text(lang, "status.https_expired", until=until))
    elif days < EXPIRY_WARN_DAYS:
        lines.append(text(lang, "status.https_expiring", days=days, until=until))
    return lines


def render_qr(data: str) -> Text | None:
    """`data` as a QR code in half-block characters (two modules a cell); None without segno."""
    try:
        import segno
    except ImportError:
        return None
    rows = [list(row) for row in segno.make(data, error="m").matrix_iter(scale=1, border=2)]
    if len(rows) % 2:
        rows.append([0] * len(rows[0]))
    out = Text(style="#000000 on #ffffff")
    glyphs = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}
    for top, bottom in zip(rows[::2], rows[1::2], strict=True):
        if out:
            out.append("\n")
        out.append("".join(glyphs[bool(a), bool(b)] for a, b in zip(top, bottom, strict=True)))
    return out
