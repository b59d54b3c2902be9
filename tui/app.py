"""`meshnode tui`: the resident's and operator's terminal UI, a client of the daemon's local API.

It never opens the store: everything comes from the API socket (`tui.link.ApiLink`). A
connection task connects, subscribes to events and refreshes the views; when the daemon is not
there (or goes away) the app shows how to start it and retries every `RETRY` seconds.
An alert (verified, or one that failed verification) arriving while the app is open switches to
the Alerts tab. What outlives the app is the daemon's: alert history and refused alerts, channel
read marks (shared with every other app on the same daemon), sync times.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
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

from meshnode.daemon import api
from meshnode.daemon.api import ApiError
from meshnode.events import Refusal
from tui import palette
from tui.i18n import STRINGS, Lang, text
from tui.link import ApiLink
from tui.render import (
    render_alerts,
    render_conversation,
    render_posts,
    render_qr,
    render_status,
    when,
)

__all__ = ["RETRY", "MeshApp"]

RETRY = 1.0  # seconds between connection attempts
MAX_UNVERIFIED = 3  # refused alerts shown (the most recent reasons)
RECENT = 6 * 3600  # a refused alert this recent opens the app on the Alerts tab
TABS = ("alerts", "channels", "messages", "peers")
# What takes the keyboard on each tab: typing goes straight into the message, arrows scroll.
FOCUS = {"alerts": "#alerts-scroll", "channels": "#post-text", "messages": "#dm-text",
         "peers": "#peer-table"}


class MeshApp(App[None]):
    """The TUI on the daemon whose API socket is `socket`."""

    TITLE = "meshnode"
    ENABLE_COMMAND_PALETTE = False
    CSS = f"""
    Screen {{ background: {palette.BACKGROUND}; color: {palette.FOREGROUND}; }}
    #offline {{ padding: 1 2; height: 1fr; border: heavy {palette.UNVERIFIED_BORDER}; }}
    #keywarning {{ background: {palette.WARNING_BAR[1]}; color: {palette.WARNING_BAR[0]};
                  text-style: bold; padding: 0 1; display: none; }}
    #keywarning.shown {{ display: block; }}
    #clockwarning {{ background: {palette.WARNING_BAR[1]}; color: {palette.WARNING_BAR[0]};
                    text-style: bold; padding: 0 1; display: none; }}
    #clockwarning.shown {{ display: block; }}
    #channel-list, #contact-list {{ width: 24; height: 1fr; }}
    #posts-scroll, #conversation-scroll {{ height: 1fr; border: round $primary; }}
    #post-channel {{ width: 20; }}
    #whoami {{ height: auto; color: {palette.MUTED}; }}
    Input {{ height: 3; }}
    .inputs {{ height: auto; }}
    #messages-row {{ height: 1fr; }}
    #peer-table {{ height: 1fr; }}
    #status-body {{ height: auto; padding: 0 1; }}
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # First: while a key-change warning is shown it must fit in an 80-column footer.
        Binding("f8", "keys_checked", "Keys checked"),
        # F1-F4 are written on the tabs ("F1 Alerts"), which leaves the 80-column footer room
        # for F6, F7, F8 and Ctrl+Q in both languages.
        Binding("f1", "show_tab('alerts')", "Alerts", show=False),
        Binding("f2", "show_tab('channels')", "Channels", show=False),
        Binding("f3", "show_tab('messages')", "Messages", show=False),
        Binding("f4", "show_tab('peers')", "Status", show=False),
        Binding("f6", "toggle_language", "Nederlands"),
        Binding("f7", "show_qr", "QR"),
        Binding("f5", "refresh", "Refresh", show=False),
        Binding("escape", "channel_list", "Channel list", show=False),
        Binding("ctrl+q", "quit", "Quit"),
    ]
    _KEY_LABELS: ClassVar[dict[str, str]] = {
        "f1": "key.alerts", "f2": "key.channels", "f3": "key.messages", "f4": "key.peers",
        "f6": "key.language", "f7": "key.qr",
        "f8": "key.keys_checked", "f5": "key.refresh", "ctrl+q": "key.quit",
    }

    def __init__(self, socket: Path, lang: Lang = Lang.EN, *, connect: bool = True,
                 start_command: str = "meshnode run") -> None:
        super().__init__()
        self.socket = socket
        self.start_command = start_command  # what the "not running" screen says to run
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
        self.threads: list[dict[str, Any]] = []  # alert history, as the daemon groups it
        self.rejected: list[dict[str, Any]] = []  # alerts that failed verification
        self.contacts: list[dict[str, Any]] = []
        self.warnings: list[dict[str, Any]] = []
        self.contact: str | None = None
        self.inbox: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self._first_load = True

    def _state(self, state: object) -> str:
        """A link's state in the UI's language (the API says "up" or "probing")."""
        key = f"peers.state.{state}"
        return self.t(key) if key in STRINGS[self.lang] else str(state or "-")

    # --- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="offline")
        with Views(id="tabs", initial="channels"):
            with TabPane("Alerts", id="alerts"), VerticalScroll(id="alerts-scroll"):
                yield Static(id="clockwarning")
                yield Static(id="alerts-body")
            with TabPane("Channels", id="channels"), Horizontal():
                yield OptionList(id="channel-list")
                with Vertical():
                    # Not in the Tab order: Esc (or Shift+Tab twice) reaches the channel list.
                    with VerticalScroll(id="posts-scroll", can_focus=False):
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
        # SIGTERM (a service manager, the web server's end) and SIGHUP (a closed terminal)
        # end the app like Ctrl+Q: the terminal is restored, no process is left behind.
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self.exit)
        self._set_online(False)
        self._apply_language()
        if self.connect:
            self.run_worker(self._connection_loop(), name="connection", exclusive=True,
                            group="connection")

    def t(self, key: str, **values: object) -> str:
        return text(self.lang, key, **values)

    def _apply_language(self) -> None:
        self._label_tabs()
        for key, label in self._KEY_LABELS.items():
            self._bindings.key_to_bindings[key] = [
                Binding(b.key, b.action, self.t(label), show=b.show, priority=True)
                for b in self._bindings.key_to_bindings.get(key, [])]
        self.refresh_bindings()
        self.query_one("#offline", Static).update(Text.assemble(
            (self.t("offline.title") + "\n\n", palette.DANGER),
            self.t("offline.body", path=self.socket, command=self.start_command), "\n\n",
            (self.t("offline.retry", seconds=RETRY), palette.MUTED)))
        self.query_one("#post-channel", Input).placeholder = self.t("channels.channel")
        self.query_one("#post-text", Input).placeholder = self.t("channels.placeholder")
        self.query_one("#dm-text", Input).placeholder = self.t("messages.placeholder")
        self.query_one("#contact-add", Input).placeholder = self.t("messages.add.placeholder")
        self.redraw()

    def _label_tabs(self) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        for number, pane in enumerate(TABS, 1):
            label = f"F{number} " + self.t(f"tab.{pane}")
            if pane == "messages" and self.warnings:
                label += " ⚠"
            tabs.get_tab(pane).label = label

    @property
    def unread(self) -> dict[str, int]:
        """Unread posts by channel (the daemon's count), channels with none left out."""
        return {c["channel"]: c["unread"] for c in self.channels if c.get("unread")}

    def _set_online(self, online: bool) -> None:
        self.connected = online
        self.query_one("#offline").display = not online
        self.query_one("#tabs").display = online
        if online and self.focused is None:
            self.call_after_refresh(self._focus_tab)

    def _focus_tab(self) -> None:
        tab = self.active_tab
        if tab in FOCUS:
            self.query_one(FOCUS[tab]).focus()

    # --- actions -------------------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        # The keyboard goes with the view: a widget left focused in a hidden pane would take
        # what is typed next, or hand the focus to its neighbour there.
        self.set_focus(None)
        self.query_one("#tabs", TabbedContent).active = tab
        self._focus_tab()
        self.refresh_bindings()
        if tab == "channels" and self.channel in self.unread:
            self._schedule_refresh()  # which marks the channel read

    def action_toggle_language(self) -> None:
        self.lang = self.lang.other()
        self._apply_language()

    def action_show_qr(self) -> None:
        fingerprint = str(self.whoami.get("fingerprint") or "")
        if fingerprint and not isinstance(self.screen, QrScreen):
            self.push_screen(QrScreen(fingerprint, self.lang))

    def action_refresh(self) -> None:
        self._schedule_refresh()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # "Keys checked" is offered only where the warning is shown, and only while there is one.
        if action == "keys_checked":
            return (self.active_tab == "messages" and bool(self.warnings)
                    and len(self.screen_stack) == 1)  # not behind the QR code
        return True

    def _warned_names(self) -> list[str]:
        """The selected contact if it is warned about, else every name in the banner."""
        names = list(dict.fromkeys(str(w.get("name")) for w in self.warnings))
        return [self.contact] if self.contact in names else names

    async def action_keys_checked(self) -> None:
        # The daemon publishes key_warnings_dismissed, which refreshes every app on it.
        for name in self._warned_names():
            if await self.call(api.DismissKeyWarning(name)) is not None:
                self.warnings = [w for w in self.warnings if w.get("name") != name]
                self.notify(self.t("messages.dismissed", name=name), timeout=5)
        self.redraw()

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
        (status, peers, who, channels, history, rejected, contacts, outbox,
         inbox) = await asyncio.gather(
            link.request(api.Status()), link.request(api.Peers()), link.request(api.Whoami()),
            link.request(api.Channels()), link.request(api.AlertHistory()),
            link.request(api.RejectedAlerts(limit=MAX_UNVERIFIED)),
            link.request(api.Contacts()), link.request(api.Outbox(limit=200)),
            link.request(api.Inbox(limit=200)))
        self.status, self.peers, self.whoami = status, peers["peers"], who
        self.channels = channels["channels"]
        self.threads, self.rejected = history["threads"], rejected["rejected"]
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
        if self.channel in self.unread and self.active_tab == "channels":
            await self._mark_read(link, self.channel)
        self.redraw()

    async def _mark_read(self, link: ApiLink, channel: str) -> None:
        """The posts on screen are read: up to the newest one's arrival, not to "now"."""
        upto = max((p.get("received") or 0 for p in self.posts), default=0)
        if upto:
            done = await link.request(api.MarkRead(channel, upto=upto))
            for entry in self.channels:
                if entry["channel"] == channel:
                    entry["unread"] = done["unread"]

    def _active_alerts(self) -> bool:
        recent = time.time() - RECENT
        return any(t.get("state") == "active" for t in self.threads) or any(
            (r.get("last_seen") or 0) >= recent for r in self.rejected)

    def _on_event(self, name: str, data: dict[str, Any]) -> None:
        if name == "alert_received" or (name == "rejected"
                                         and data.get("refusal") == Refusal.ALERT.value):
            self.action_show_tab("alerts")
            self.bell()
        elif name == "post_received" and self.channel is None:
            self.channel = str(data.get("channel"))
        elif name == "key_warning":
            self.notify(self.t("messages.keychange", name=data.get("name"),
                               old=data.get("old_fingerprint"), new=data.get("new_fingerprint")),
                        severity="error", timeout=30)
            self.bell()
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
            self.query_one("#post-channel", Input).value = self.channel
            self._schedule_refresh()

    @on(Input.Changed, "#post-channel")
    def _channel_typed(self, event: Input.Changed) -> None:
        # The log always shows the channel the next post goes to.
        name = event.value.strip()
        if name and name != self.channel:
            self.channel = name
            self.posts = []
            self.redraw()
            self._schedule_refresh()

    @on(OptionList.OptionSelected, "#channel-list")
    def _channel_chosen(self, event: OptionList.OptionSelected) -> None:
        self.query_one("#post-text", Input).focus()

    def action_channel_list(self) -> None:
        if self.active_tab == "channels":
            self.query_one("#channel-list", OptionList).focus()

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
        self.refresh_bindings()
        # A wrong clock decides which alerts count as current: say so above them, loudly.
        clock = self.status.get("clock") or {}
        banner = self.query_one("#clockwarning", Static)
        if clock.get("behind"):
            banner.update(self.t("status.clock_behind", minutes=int(clock["behind"]) // 60,
                                 floor=when(clock.get("floor"))))
        banner.set_class(bool(clock.get("behind")), "shown")
        self.query_one("#alerts-body", Static).update(render_alerts(
            self.threads, self.rejected[:MAX_UNVERIFIED], self.lang))
        self._label_tabs()
        self._draw_channels()
        self._draw_messages()
        self._draw_peers()

    def _draw_channels(self) -> None:
        names = [c["channel"] for c in self.channels]
        if self.channel is not None and self.channel not in names:
            names.append(self.channel)
        options = []
        unread_by_channel = self.unread
        for name in names:
            unread = unread_by_channel.get(name, 0)
            label = Text(f"#{name}")
            if unread:
                label.append(f" ({unread})", style=f"bold {palette.NOTICE}")
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
                               style=palette.DANGER if c["name"] in warned else ""), id=c["name"])
                   for c in self.contacts]
        _set_options(self.query_one("#contact-list", OptionList), options, self.contact)
        contact = next((c for c in self.contacts if c["name"] == self.contact), None)
        body = (render_conversation(contact, self.inbox, self.outbox, self.lang)
                if self.contacts else Text(self.t("messages.none"), style="italic"))
        self.query_one("#conversation", Static).update(body)

    def _draw_peers(self) -> None:
        self.query_one("#status-body", Static).update(render_status(self.status, self.lang))
        table = self.query_one("#peer-table", DataTable)
        table.clear(columns=True)
        table.add_columns(self.t("peers.link"), self.t("peers.transport"), self.t("peers.state"),
                          self.t("peers.last_sync"), "RTT", "in/out")
        for peer in self.peers:
            table.add_row(str(peer.get("link")), str(peer.get("transport") or "-"),
                          self._state(peer.get("state")), when(peer.get("last_sync"), short=True),
                          "-" if peer.get("rtt_ms") is None else f"{peer['rtt_ms']} ms",
                          f"{peer.get('datagrams_in', '-')}/{peer.get('datagrams_out', '-')}")
        if not self.peers:
            table.add_row(self.t("peers.none"), "", "", "", "", "")

    def load(self, snapshot: dict[str, Any]) -> None:
        """Show `snapshot` (the API results by op name) as if the daemon had sent it (tests)."""
        self.status, self.whoami = snapshot.get("status", {}), snapshot.get("whoami", {})
        self.peers = snapshot.get("peers", {}).get("peers", [])
        self.channels = snapshot.get("channels", {}).get("channels", [])
        self.posts = snapshot.get("posts", {}).get("posts", [])
        self.channel = snapshot.get("posts", {}).get("channel")
        self.threads = snapshot.get("alert_history", {}).get("threads", [])
        self.rejected = snapshot.get("rejected_alerts", {}).get("rejected", [])
        self.contacts = snapshot.get("contacts", {}).get("contacts", [])
        self.warnings = snapshot.get("contacts", {}).get("warnings", [])
        self.contact = self.contacts[0]["name"] if self.contacts else None
        self.inbox = snapshot.get("inbox", {}).get("messages", [])
        self.outbox = snapshot.get("outbox", {}).get("messages", [])
        self._set_online(True)
        self.redraw()


class Views(TabbedContent):
    """The app's tabs. The app chooses the tab and then puts the focus in it; a widget that
    gets the focus does not choose the tab (as in a plain TabbedContent), so a focus change
    still on its way cannot pull the view back to the tab the user just left."""

    def on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        event.prevent_default()
        event.stop()


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
        body.append("\n" + text(self.lang, "qr.close"), style=palette.MUTED)
        yield Static(body, id="qr")


def _set_options(widget: OptionList, options: list[Option], selected: str | None) -> None:
    """Replace the options, keeping the highlight on `selected` without re-firing events."""
    with widget.prevent(OptionList.OptionHighlighted):
        widget.clear_options()
        widget.add_options(options)
        ids = [o.id for o in options]
        if selected in ids:
            widget.highlighted = ids.index(selected)
