"""`meshnode tui`: the resident's and operator's terminal UI, a client of the daemon's local API.

It never opens the store: everything comes from the API socket (`tui.link.ApiLink`). A
connection task connects, subscribes to events and refreshes the views; when the daemon is not
there (or goes away) the app shows how to start it and retries every `RETRY` seconds.
An alert (verified, or one that failed verification) arriving while the app is open switches to
the Alerts tab.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    DataTable,
    Footer,
    Input,
    OptionList,
    Static,
    TabbedContent,
    TabPane,
)
from textual.widgets.option_list import Option

from meshnode import api
from meshnode.api import ApiError
from tui.i18n import Lang, text
from tui.link import ApiLink
from tui.render import (
    render_alerts,
    render_conversation,
    render_posts,
    render_qr,
    render_status,
)

__all__ = ["RETRY", "MeshApp"]

RETRY = 1.0  # seconds between connection attempts
MAX_UNVERIFIED = 3  # failed alerts kept on screen
TABS = ("alerts", "channels", "messages", "peers")


class MeshApp(App[None]):
    """The TUI on the daemon whose API socket is `socket`."""

    TITLE = "meshnode"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #offline { padding: 1 2; height: 1fr; border: heavy $error; }
    #keywarning { background: $error; color: $text; text-style: bold; padding: 0 1;
                  display: none; }
    #keywarning.shown { display: block; }
    #channel-list, #contact-list { width: 24; height: 1fr; }
    #posts-scroll, #conversation-scroll { height: 1fr; border: round $primary; }
    #post-channel { width: 20; }
    #whoami { height: auto; color: $text-muted; }
    Input { height: 3; }
    .inputs { height: auto; }
    #messages-row { height: 1fr; }
    #peer-table { height: 1fr; }
    #status-body { height: auto; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "show_tab('alerts')", "Alerts"),
        Binding("f2", "show_tab('channels')", "Channels"),
        Binding("f3", "show_tab('messages')", "Messages"),
        Binding("f4", "show_tab('peers')", "Status"),
        Binding("f6", "toggle_language", "Nederlands"),
        Binding("f7", "show_qr", "QR"),
        Binding("f5", "refresh", "Refresh", show=False),
        Binding("ctrl+q", "quit", "Quit"),
    ]
    _KEY_LABELS: ClassVar[dict[str, str]] = {
        "f1": "key.alerts", "f2": "key.channels", "f3": "key.messages", "f4": "key.peers",
        "f6": "key.language", "f7": "key.qr", "f5": "key.refresh", "ctrl+q": "key.quit",
    }

    def __init__(self, socket: Path, lang: Lang = Lang.EN, *, connect: bool = True) -> None:
        super().__init__()
        self.socket = socket
        self.lang = lang
        self.connect = connect
        self.link: ApiLink | None = None
        self.connected = False
        self.status: dict[str, Any] = {}
        self.peers: list[dict[str, Any]] = []
        self.whoami: dict[str, Any] = {}
        self.channels: list[dict[str, Any]] = []
        self.posts: list[dict[str, Any]] = []
        self.channel: str | None = None
        self.unread: dict[str, int] = {}
        self.alerts: dict[str, dict[str, Any]] = {}  # by id, superseded ones kept as history
        self.removed: set[str] = set()
        self.unverified: list[str] = []
        self.contacts: list[dict[str, Any]] = []
        self.warnings: list[dict[str, Any]] = []
        self.contact: str | None = None
        self.inbox: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.last_sync: float | None = None
        self._first_load = True

    # --- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="offline")
        with TabbedContent(id="tabs", initial="channels"):
            with TabPane("Alerts", id="alerts"), VerticalScroll(id="alerts-scroll"):
                yield Static(id="alerts-body")
            with TabPane("Channels", id="channels"), Horizontal():
                yield OptionList(id="channel-list")
                with Vertical():
                    with VerticalScroll(id="posts-scroll"):
                        yield Static(id="posts")
                    with Horizontal(classes="inputs"):
                        yield Input(id="post-channel")
                        yield Input(id="post-text")
            with TabPane("Messages", id="messages"), Vertical():
                yield Static(id="keywarning")
                yield Static(id="whoami")
                with Horizontal(id="messages-row"):
                    yield OptionList(id="contact-list")
                    with VerticalScroll(id="conversation-scroll"):
                        yield Static(id="conversation")
                yield Input(id="dm-text")
                yield Input(id="contact-add")
            with TabPane("Peers", id="peers"), Vertical():
                yield Static(id="status-body")
                yield DataTable(id="peer-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self._set_online(False)
        self._apply_language()
        if self.connect:
            self.run_worker(self._connection_loop(), name="connection", exclusive=True,
                            group="connection")

    def t(self, key: str, **values: object) -> str:
        return text(self.lang, key, **values)

    def _apply_language(self) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        for pane in TABS:
            tabs.get_tab(pane).label = self.t(f"tab.{pane}")
        for key, label in self._KEY_LABELS.items():
            self._bindings.key_to_bindings[key] = [
                Binding(b.key, b.action, self.t(label), show=b.show, priority=True)
                for b in self._bindings.key_to_bindings.get(key, [])]
        self.refresh_bindings()
        self.query_one("#offline", Static).update(Text.assemble(
            (self.t("offline.title") + "\n\n", "bold red"),
            self.t("offline.body", path=self.socket), "\n\n",
            (self.t("offline.retry", seconds=RETRY), "dim")))
        self.query_one("#post-channel", Input).placeholder = self.t("channels.channel")
        self.query_one("#post-text", Input).placeholder = self.t("channels.placeholder")
        self.query_one("#dm-text", Input).placeholder = self.t("messages.placeholder")
        self.query_one("#contact-add", Input).placeholder = self.t("messages.add.placeholder")
        self.redraw()

    def _set_online(self, online: bool) -> None:
        self.connected = online
        self.query_one("#offline").display = not online
        self.query_one("#tabs").display = online

    # --- actions -------------------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        if tab == "channels" and self.channel is not None:
            self.unread.pop(self.channel, None)
            self._draw_channels()

    def action_toggle_language(self) -> None:
        self.lang = self.lang.other()
        self._apply_language()

    def action_show_qr(self) -> None:
        fingerprint = str(self.whoami.get("fingerprint") or "")
        if fingerprint and not isinstance(self.screen, QrScreen):
            self.push_screen(QrScreen(fingerprint, self.lang))

    def action_refresh(self) -> None:
        self._schedule_refresh()

    @property
    def active_tab(self) -> str:
        return self.query_one("#tabs", TabbedContent).active

    # --- the connection ------------------------------------------------------------------------

    async def _connection_loop(self) -> None:
        while True:
            try:
                link = await ApiLink.open(self.socket, self._on_event)
            except (OSError, TimeoutError):
                await asyncio.sleep(RETRY)
                continue
            self.link = link
            try:
                await link.request(api.Subscribe())
                await self._refresh()
                self._set_online(True)
                await link.closed
            except (ConnectionError, ApiError, TimeoutError):
                pass
            finally:
                self.link = None
                await link.close()
            self._set_online(False)
            await asyncio.sleep(RETRY)

    async def call(self, request: api.Request) -> dict[str, Any] | None:
        """A request to the daemon; a refusal is shown as a notification and gives None."""
        if self.link is None:
            return None
        try:
            return await self.link.request(request)
        except ApiError as exc:
            self.notify(self.t("error", message=exc.message), severity="error", timeout=8)
        except (ConnectionError, TimeoutError):
            pass
        return None

    def _schedule_refresh(self) -> None:
        if self.link is not None:
            self._refresh_worker()

    @work(group="refresh", exclusive=True)
    async def _refresh_worker(self) -> None:
        await self._refresh_quietly()

    async def _refresh_quietly(self) -> None:
        # A daemon that goes away mid-refresh is the connection loop's business.
        with contextlib.suppress(ConnectionError, ApiError, TimeoutError):
            await self._refresh()

    async def _refresh(self) -> None:
        link = self.link
        if link is None:
            return
        status, peers, who, channels, alerts, contacts, outbox, inbox = await asyncio.gather(
            link.request(api.Status()), link.request(api.Peers()), link.request(api.Whoami()),
            link.request(api.Channels()), link.request(api.Alerts()),
            link.request(api.Contacts()), link.request(api.Outbox(limit=200)),
            link.request(api.Inbox(limit=200)))
        self.status, self.peers, self.whoami = status, peers["peers"], who
        self.channels = channels["channels"]
        held = {a["id"]: a for a in alerts["alerts"]}
        for alert_id in set(self.alerts) - set(held):
            self.removed.add(alert_id)
        self.alerts.update(held)
        self.contacts, self.warnings = contacts["contacts"], contacts["warnings"]
        self.outbox, self.inbox = outbox["messages"], inbox["messages"]
        if self.channel is None and self.channels:
            self.channel = self.channels[0]["channel"]
        if self.contact is None and self.contacts:
            self.contact = self.contacts[0]["name"]
        if self.channel is not None:
            self.posts = (await link.request(api.Posts(self.channel, limit=200)))["posts"]
        if self._first_load:
            self._first_load = False
            self.action_show_tab("alerts" if self._active_alerts() else "channels")
        self.redraw()

    def _active_alerts(self) -> bool:
        return any(a["id"] not in self.removed and a.get("msg_type") != "Cancel"
                   for a in self.alerts.values()) or bool(self.unverified)

    def _on_event(self, name: str, data: dict[str, Any]) -> None:
        if name == "alert_received":
            self.alerts[data["id"]] = data
            self.action_show_tab("alerts")
            self.bell()
        elif name == "alert_removed":
            self.removed.add(str(data.get("id")))
        elif name == "rejected" and _failed_verification(data):
            reason = str(data.get("reason")).removeprefix("alert ")
            if reason not in self.unverified:
                self.unverified = [*self.unverified, reason][-MAX_UNVERIFIED:]
            self.action_show_tab("alerts")
            self.bell()
        elif name == "post_received":
            channel = str(data.get("channel"))
            mine = data.get("author", {}).get("name") == "me"
            if self.channel is None:
                self.channel = channel
            if not mine and (channel != self.channel or self.active_tab != "channels"):
                self.unread[channel] = self.unread.get(channel, 0) + 1
        elif name == "key_warning":
            self.notify(self.t("messages.keychange", name=data.get("name"),
                               old=data.get("old_fingerprint"), new=data.get("new_fingerprint")),
                        severity="error", timeout=30)
        elif name == "sync_finished":
            self.last_sync = time.time()
        elif name == "overflow" and self.link is not None:
            self.run_worker(self.link.close(), group="close")
            return
        self.redraw()
        self._schedule_refresh()

    # --- input ---------------------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#channel-list")
    def _channel_picked(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.channel:
            self.channel = event.option.id
            self.posts = []
            self.unread.pop(self.channel, None)
            self.query_one("#post-channel", Input).value = self.channel
            self._schedule_refresh()

    @on(OptionList.OptionHighlighted, "#contact-list")
    def _contact_picked(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self.contact = event.option.id
            self._draw_messages()

    @on(Input.Submitted, "#post-text")
    async def _post(self, event: Input.Submitted) -> None:
        channel = self.query_one("#post-channel", Input).value.strip() or self.channel
        if not event.value.strip() or not channel:
            return
        if await self.call(api.Post(channel, event.value)) is not None:
            event.input.value = ""
            self.channel = channel
            self.notify(self.t("channels.posted", channel=channel), timeout=3)
            await self._refresh_quietly()

    @on(Input.Submitted, "#dm-text")
    async def _send_dm(self, event: Input.Submitted) -> None:
        if not event.value.strip() or self.contact is None:
            return
        if await self.call(api.SendDm(self.contact, event.value)) is not None:
            event.input.value = ""
            self.notify(self.t("messages.sent", to=self.contact), timeout=3)
            await self._refresh_quietly()

    @on(Input.Submitted, "#contact-add")
    async def _add_contact(self, event: Input.Submitted) -> None:
        name, _, fingerprint = event.value.strip().partition(" ")
        if not name or not fingerprint.strip():
            self.notify(self.t("messages.add.usage"), severity="warning")
            return
        if await self.call(api.ContactAdd(name, fingerprint=fingerprint.strip())) is not None:
            event.input.value = ""
            self.contact = name
            self.notify(self.t("messages.added", name=name), timeout=3)
            await self._refresh_quietly()

    # --- drawing -------------------------------------------------------------------------------

    def redraw(self) -> None:
        self.query_one("#alerts-body", Static).update(render_alerts(
            list(self.alerts.values()), self.removed, self.unverified, self.lang))
        self._draw_channels()
        self._draw_messages()
        self._draw_peers()

    def _draw_channels(self) -> None:
        names = [c["channel"] for c in self.channels]
        if self.channel is not None and self.channel not in names:
            names.append(self.channel)
        options = []
        for name in names:
            unread = self.unread.get(name, 0)
            label = Text(f"#{name}")
            if unread:
                label.append(f" ({unread})", style="bold yellow")
            options.append(Option(label, id=name))
        _set_options(self.query_one("#channel-list", OptionList), options, self.channel)
        self.query_one("#posts", Static).update(render_posts(self.channel, self.posts, self.lang))
        field = self.query_one("#post-channel", Input)
        if not field.value and self.channel:
            field.value = self.channel

    def _draw_messages(self) -> None:
        warning = self.query_one("#keywarning", Static)
        warning.update("\n".join(self.t("messages.keychange", name=w.get("name"),
                                        old=w.get("old_fingerprint"),
                                        new=w.get("new_fingerprint")) for w in self.warnings))
        warning.set_class(bool(self.warnings), "shown")
        self.query_one("#whoami", Static).update(
            self.t("messages.you", fingerprint=self.whoami.get("fingerprint", "-")))
        warned = {w.get("name") for w in self.warnings}
        options = [Option(Text(("⚠ " if c["name"] in warned else "") + c["name"],
                               style="bold red" if c["name"] in warned else ""), id=c["name"])
                   for c in self.contacts]
        _set_options(self.query_one("#contact-list", OptionList), options, self.contact)
        contact = next((c for c in self.contacts if c["name"] == self.contact), None)
        body = (render_conversation(contact, self.inbox, self.outbox, self.lang)
                if self.contacts else Text(self.t("messages.none"), style="italic"))
        self.query_one("#conversation", Static).update(body)

    def _draw_peers(self) -> None:
        self.query_one("#status-body", Static).update(
            render_status(self.status, self.last_sync, self.lang))
        table = self.query_one("#peer-table", DataTable)
        table.clear(columns=True)
        table.add_columns(self.t("peers.link"), self.t("peers.transport"), self.t("peers.state"),
                          "RTT", "in/out")
        for peer in self.peers:
            table.add_row(str(peer.get("link")), "udp" if "address" in peer else "ble",
                          str(peer.get("state", "-")),
                          "-" if peer.get("rtt_ms") is None else f"{peer['rtt_ms']} ms",
                          f"{peer.get('datagrams_in', '-')}/{peer.get('datagrams_out', '-')}")
        if not self.peers:
            table.add_row(self.t("peers.none"), "", "", "", "")

    def load(self, snapshot: dict[str, Any]) -> None:
        """Show `snapshot` (the API results by op name) as if the daemon had sent it (tests)."""
        self.status, self.whoami = snapshot.get("status", {}), snapshot.get("whoami", {})
        self.peers = snapshot.get("peers", {}).get("peers", [])
        self.channels = snapshot.get("channels", {}).get("channels", [])
        self.posts = snapshot.get("posts", {}).get("posts", [])
        self.channel = snapshot.get("posts", {}).get("channel")
        self.alerts = {a["id"]: a for a in snapshot.get("alerts", {}).get("alerts", [])}
        self.contacts = snapshot.get("contacts", {}).get("contacts", [])
        self.warnings = snapshot.get("contacts", {}).get("warnings", [])
        self.contact = self.contacts[0]["name"] if self.contacts else None
        self.inbox = snapshot.get("inbox", {}).get("messages", [])
        self.outbox = snapshot.get("outbox", {}).get("messages", [])
        self._set_online(True)
        self.redraw()


class QrScreen(ModalScreen[None]):
    """This node's fingerprint as text and as a QR code, to compare or scan in person."""

    DEFAULT_CSS = """
    QrScreen { align: center middle; }
    #qr { width: 64; height: auto; padding: 0 1; background: $panel; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close")]

    def __init__(self, fingerprint: str, lang: Lang) -> None:
        super().__init__()
        self.fingerprint = fingerprint
        self.lang = lang

    def compose(self) -> ComposeResult:
        code = render_qr(self.fingerprint)
        body = Text(text(self.lang, "qr.title") + "\n\n", style="bold")
        body.append(self.fingerprint + "\n\n", style="bold reverse")
        if code is None:
            body.append(text(self.lang, "messages.qr.missing"))
        else:
            body.append_text(code)
        body.append("\n" + text(self.lang, "qr.close"), style="dim")
        yield Static(body, id="qr")


def _failed_verification(rejected: dict[str, Any]) -> bool:
    """A `rejected` event for an alert that failed its checks (not a superseded or rate-limited
    copy): the node says "alert <why>" (crypto.authority.Reason) for those."""
    reason = str(rejected.get("reason", ""))
    return (rejected.get("kind") == "alert" and reason.startswith("alert ")
            and not reason.startswith("alert superseded"))


def _set_options(widget: OptionList, options: list[Option], selected: str | None) -> None:
    """Replace the options, keeping the highlight on `selected` without re-firing events."""
    with widget.prevent(OptionList.OptionHighlighted):
        widget.clear_options()
        widget.add_options(options)
        ids = [o.id for o in options]
        if selected in ids:
            widget.highlighted = ids.index(selected)
