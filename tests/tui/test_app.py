"""The TUI driven with Textual's Pilot against real daemons (subprocesses), at 80x24."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, Static, TabbedContent

from meshnode.crypto.keyfile import load_identity
from meshnode.daemon import api
from meshnode.daemon.paths import IDENTITY_FILE
from tests.tui.authority import ISSUER_NAME, ROOT_NAME, make_authority
from tests.tui.daemon import DaemonProcess
from tui.app import MeshApp, QrScreen
from tui.i18n import Lang

SIZE = (80, 24)
Scenario = Callable[[MeshApp, Pilot[None]], Awaitable[None]]


def drive(app: MeshApp, scenario: Scenario) -> None:
    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await scenario(app, pilot)

    asyncio.run(main())


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the UI"
        await pilot.pause(0.05)


def shown(app: MeshApp, selector: str) -> str:
    """The plain text a Static widget shows."""
    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    console.print(app.query_one(selector, Static).content)
    return console.export_text()


async def type_into(pilot: Pilot[None], app: MeshApp, selector: str, value: str) -> None:
    field = app.query_one(selector, Input)
    field.focus()
    field.value = value
    await pilot.press("enter")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_post_in_a_channel_is_listed(daemon: DaemonProcess) -> None:
    async def scenario(app: MeshApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.connected)
        assert app.active_tab == "channels"  # no alert: channels first
        await type_into(pilot, app, "#post-channel", "wijk-noord")
        await type_into(pilot, app, "#post-text", "Water bij de sporthal")
        await until(pilot, lambda: "Water bij de sporthal" in shown(app, "#posts"))
        assert app.query_one("#post-text", Input).value == ""
        held = daemon.request(api.Posts("wijk-noord"))["posts"]
        assert [p["text"] for p in held] == ["Water bij de sporthal"]
        assert "#wijk-noord" in str(app.query_one("#channel-list").get_option_at_index(0).prompt)
        await pilot.press("f7")  # one's own fingerprint, as text and QR code
        assert isinstance(app.screen, QrScreen)
        assert app.screen.fingerprint == daemon.request(api.Whoami())["fingerprint"]
        await pilot.press("escape")
        assert not isinstance(app.screen, QrScreen)

    drive(MeshApp(daemon.socket, Lang.NL), scenario)


def test_verified_alert_arriving_jumps_to_the_alerts_view(tmp_path: Path) -> None:
    now = int(time.time())
    authority = make_authority(now)
    node = DaemonProcess(tmp_path / "hub")
    node.cli("trust", "add-root", str(authority.write_root(tmp_path / "root.pub")))
    node.start()

    async def scenario(app: MeshApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.connected)
        assert app.active_tab == "channels"
        result = await asyncio.to_thread(node.request, api.Inject(authority.alert(now)))
        assert result["accepted"] is True
        await until(pilot, lambda: app.active_tab == "alerts")
        await until(pilot, lambda: "VERIFIED" in shown(app, "#alerts-body"))
        body = shown(app, "#alerts-body")
        assert f"VERIFIED by {ISSUER_NAME}, certified by {ROOT_NAME}" in body
        assert "What to do" in body and "What is happening" in body
        assert "NOT VERIFIED" not in body
        await pilot.press("f6")  # Dutch: the alert's Dutch text and the Dutch labels
        nl = shown(app, "#alerts-body")
        assert f"GEVERIFIEERD: {ISSUER_NAME}" in nl and "Wat moet u doen" in nl
        assert nl != body

    try:
        drive(MeshApp(node.socket, Lang.EN), scenario)
    finally:
        node.stop()


def test_unverified_alert_is_shown_as_not_verified(tmp_path: Path) -> None:
    """A peer that pins another root relays an alert this node cannot verify."""
    now = int(time.time())
    stranger = make_authority(now)
    bob_port = free_port()
    bob = DaemonProcess(tmp_path / "bob")
    bob.cli("trust", "add-root", str(stranger.write_root(tmp_path / "root.pub")))
    alice = DaemonProcess(tmp_path / "alice")
    alice.start("--peer", f"127.0.0.1:{bob_port}")

    async def scenario(app: MeshApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.connected)
        await asyncio.to_thread(bob.start, "--listen", f"127.0.0.1:{bob_port}")
        result = await asyncio.to_thread(bob.request, api.Inject(stranger.alert(now)))
        assert result["accepted"] is True
        await until(pilot, lambda: app.active_tab == "alerts", 40)
        await until(pilot, lambda: "NOT VERIFIED" in shown(app, "#alerts-body"))
        body = shown(app, "#alerts-body")
        assert "NOT VERIFIED" in body and "unknown root" in body
        assert "✔ VERIFIED" not in body
        assert alice.request(api.Alerts())["alerts"] == []

    try:
        drive(MeshApp(alice.socket, Lang.EN), scenario)
    finally:
        alice.stop()
        bob.stop()


def test_daemon_restart_shows_how_to_start_it_and_reconnects(daemon: DaemonProcess) -> None:
    async def scenario(app: MeshApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.connected)
        assert not app.query_one("#offline").display
        await asyncio.to_thread(daemon.stop)
        await until(pilot, lambda: not app.connected)
        assert app.query_one("#offline").display
        assert not app.query_one("#tabs").display
        assert "meshnode run" in shown(app, "#offline")
        await asyncio.to_thread(daemon.start)
        await until(pilot, lambda: app.connected)
        await type_into(pilot, app, "#post-channel", "na-herstart")
        await type_into(pilot, app, "#post-text", "weer online")
        await until(pilot, lambda: "weer online" in shown(app, "#posts"))

    drive(MeshApp(daemon.socket, Lang.EN), scenario)


def test_not_running_screen_without_a_daemon(tmp_path: Path) -> None:
    async def scenario(app: MeshApp, pilot: Pilot[None]) -> None:
        await pilot.pause(0.3)
        assert not app.connected
        text = shown(app, "#offline")
        assert "De meshnode-daemon draait niet" in text and "meshnode run" in text
        assert str(tmp_path / "api.sock") in text

    drive(MeshApp(tmp_path / "api.sock", Lang.NL), scenario)


def test_direct_message_delivery_state_changes(tmp_path: Path) -> None:
    bob_port = free_port()
    bob = DaemonProcess(tmp_path / "bob", name="bob")
    alice = DaemonProcess(tmp_path / "alice", name="alice")
    bob_id = load_identity(bob.home / IDENTITY_FILE).public
    alice.start("--peer", f"127.0.0.1:{bob_port}")
    alice.request(api.ContactAdd("bob", sign_key=bob_id.sign_key, dh_key=bob_id.dh_key))

    async def scenario(app: MeshApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.connected)
        await pilot.press("f3")
        assert app.active_tab == "messages"
        assert app.contact == "bob"
        await type_into(pilot, app, "#dm-text", "Heb je water nodig?")
        await until(pilot, lambda: "Heb je water nodig?" in shown(app, "#conversation"))
        assert "[queued]" in shown(app, "#conversation")  # bob is not running yet
        await asyncio.to_thread(bob.start, "--listen", f"127.0.0.1:{bob_port}")
        await until(pilot, lambda: any(p.get("state") == "up" for p in app.peers))
        await type_into(pilot, app, "#dm-text", "Ik kom langs")

        def line(text: str) -> str:
            return next(x for x in shown(app, "#conversation").splitlines() if text in x)

        await until(pilot, lambda: "Ik kom langs" in shown(app, "#conversation"))
        await until(pilot, lambda: "[delivered ✔]" in line("Ik kom langs"), 60)
        inbox = bob.request(api.Inbox())["messages"]
        assert "Ik kom langs" in [m["text"] for m in inbox]
        # a post from another node, while this one looks at its messages, is unread
        await asyncio.to_thread(bob.request, api.Post("markt", "Brood bij de bakker"))
        await until(pilot, lambda: app.unread.get("markt") == 1, 60)
        # The list is redrawn after the refresh that set the count: wait for it, not assume it.
        await until(pilot, lambda: "#markt (1)" in str(
            app.query_one("#channel-list").get_option_at_index(0).prompt))
        await pilot.press("f2")  # from the message field: the keys work wherever one types
        assert app.active_tab == "channels"
        await until(pilot, lambda: "Brood bij de bakker" in shown(app, "#posts"))
        await until(pilot, lambda: app.unread == {})  # read, as the daemon keeps it
        [markt] = alice.request(api.Channels())["channels"]
        assert markt["unread"] == 0 and markt["read_upto"] > 0

    try:
        drive(MeshApp(alice.socket, Lang.EN), scenario)
    finally:
        alice.stop()
        bob.stop()


def _announces(node: DaemonProcess) -> int:
    return int(node.request(api.Status())["store"]["by_kind"].get("announce", 0))


def test_add_a_contact_by_fingerprint_then_message_them(tmp_path: Path) -> None:
    bob_port = free_port()
    bob = DaemonProcess(tmp_path / "bob", name="bob")
    alice = DaemonProcess(tmp_path / "alice", name="alice")
    bob_id = load_identity(bob.home / IDENTITY_FILE).public
    alice_id = load_identity(alice.home / IDENTITY_FILE).public
    bob.start("--listen", f"127.0.0.1:{bob_port}")
    alice.start("--peer", f"127.0.0.1:{bob_port}")

    async def scenario(app: MeshApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.connected)
        await pilot.press("f3")
        assert "No contacts yet" in shown(app, "#conversation")
        await type_into(pilot, app, "#contact-add", "Bram")  # no fingerprint: how to do it
        assert app.contacts == [] and app.query_one("#contact-add", Input).value == "Bram"
        # bob's identity card (sent when his daemon started) reaches alice at the first sync
        await until(pilot, lambda: app.status.get("store", {}).get("by_kind", {}).get(
            "announce") == 2, 30)
        # typed as read out loud: lower case, groups separated by spaces
        await type_into(pilot, app, "#contact-add", f"Bram {bob_id.fingerprint.lower()}")
        await until(pilot, lambda: [c["name"] for c in app.contacts] == ["Bram"])
        assert app.contact == "Bram" and app.query_one("#contact-add", Input).value == ""
        assert "Bram" in str(app.query_one("#contact-list").get_option_at_index(0).prompt)
        [contact] = alice.request(api.Contacts())["contacts"]
        assert contact["fingerprint"] == bob_id.fingerprint
        assert contact["sign_key"] == bob_id.sign_key.hex()
        assert contact["dh_key"] == bob_id.dh_key.hex()
        await type_into(pilot, app, "#dm-text", "Kun je water brengen?")

        def line() -> str:
            return next((x for x in shown(app, "#conversation").splitlines()
                         if "Kun je water brengen?" in x), "")

        await until(pilot, lambda: "[delivered ✔]" in line(), 30)
        [got] = bob.request(api.Inbox())["messages"]
        assert got["text"] == "Kun je water brengen?"
        assert got["from"]["fingerprint"] == alice_id.fingerprint

    try:
        drive(MeshApp(alice.socket, Lang.EN), scenario)
    finally:
        alice.stop()
        bob.stop()


def test_a_contacts_name_announced_with_other_keys_is_a_warning_that_cannot_be_missed(
        tmp_path: Path) -> None:
    """Carol is a contact; then someone else's node announces itself as "carol"."""
    carol_port, impostor_port = free_port(), free_port()
    carol = DaemonProcess(tmp_path / "carol", name="carol")
    impostor = DaemonProcess(tmp_path / "impostor", name="carol")
    alice = DaemonProcess(tmp_path / "alice", name="alice")
    carol_fp = load_identity(carol.home / IDENTITY_FILE).public.fingerprint
    impostor_fp = load_identity(impostor.home / IDENTITY_FILE).public.fingerprint
    carol.start("--listen", f"127.0.0.1:{carol_port}")
    alice.start("--peer", f"127.0.0.1:{carol_port}", "--peer", f"127.0.0.1:{impostor_port}")
    deadline = time.monotonic() + 30
    while _announces(alice) < 2:
        assert time.monotonic() < deadline, "carol's identity card did not arrive"
        time.sleep(0.1)
    alice.request(api.ContactAdd("carol", fingerprint=carol_fp))

    async def scenario(app: MeshApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.connected)
        await pilot.press("f3")
        await until(pilot, lambda: app.contact == "carol")
        banner = app.query_one("#keywarning")
        assert not banner.has_class("shown") and app.warnings == []
        await pilot.press("f2")  # looking elsewhere when it happens
        await asyncio.to_thread(impostor.start, "--listen", f"127.0.0.1:{impostor_port}")
        await until(pilot, lambda: bool(app.warnings), 30)
        await pilot.pause(0.2)
        # on every tab: the Messages tab is marked, and a notification says what happened
        tabs = app.query_one("#tabs", TabbedContent)
        assert "⚠" in str(tabs.get_tab("messages").label)
        assert any("KEY CHANGED for carol" in n.message for n in app._notifications)
        await pilot.press("f3")
        assert banner.has_class("shown") and banner.display
        text = shown(app, "#keywarning")
        assert "KEY CHANGED for carol" in text and carol_fp in text and impostor_fp in text
        assert "⚠ carol" in str(app.query_one("#contact-list").get_option_at_index(0).prompt)

    async def dismiss(app: MeshApp, pilot: Pilot[None]) -> None:
        # after comparing fingerprints in person, the user says so and the warning goes
        await until(pilot, lambda: app.connected and bool(app.warnings))
        assert not app.check_action("keys_checked", ())  # offered only on the Messages tab
        await pilot.press("f3")
        await until(pilot, lambda: app.contact == "carol")
        assert app.check_action("keys_checked", ())
        await pilot.press("f8")
        await until(pilot, lambda: not app.warnings)
        await pilot.pause(0.2)
        assert not app.query_one("#keywarning").has_class("shown")
        tabs = app.query_one("#tabs", TabbedContent)
        assert "⚠" not in str(tabs.get_tab("messages").label)
        assert "⚠" not in str(app.query_one("#contact-list").get_option_at_index(0).prompt)
        assert not app.check_action("keys_checked", ())

    try:
        drive(MeshApp(alice.socket, Lang.EN), scenario)
        # and the command line says it wherever carol comes up
        listed = alice.cli("contacts", "list")
        assert "KEY CHANGED for carol" in listed.stdout and impostor_fp in listed.stdout
        sent = alice.cli("dm", "carol", "Ben jij dat?")
        assert "WARNING: KEY CHANGED for carol" in sent.stderr
        assert "1 contact key change" in alice.cli("status").stdout
        [warning] = json.loads(alice.cli("contacts", "list", "--json").stdout)["warnings"]
        assert warning["old_fingerprint"] == carol_fp
        assert warning["new_fingerprint"] == impostor_fp
        [contact] = alice.request(api.Contacts())["contacts"]
        assert contact["fingerprint"] == carol_fp  # the book did not change by itself
        drive(MeshApp(alice.socket, Lang.EN), dismiss)
        assert alice.request(api.Contacts())["warnings"] == []
    finally:
        alice.stop()
        carol.stop()
        impostor.stop()


def test_alert_history_and_refused_alerts_outlive_the_app_and_the_daemon(
        tmp_path: Path) -> None:
    """What arrived before the app opened is there when it opens, and after a restart."""
    now = int(time.time())
    authority, stranger = make_authority(now), make_authority(now)
    hub = DaemonProcess(tmp_path / "hub")
    hub.cli("trust", "add-root", str(authority.write_root(tmp_path / "root.pub")))
    hub.start()
    assert hub.request(api.Inject(authority.alert(now - 120)))["accepted"]
    assert hub.request(api.Inject(authority.alert(now - 60, seq=2, update_of=now - 120)))[
        "accepted"]
    with pytest.raises(api.ApiError, match="unknown root"):
        hub.request(api.Inject(stranger.alert(now)))
    assert len(hub.request(api.Alerts())["alerts"]) == 1  # the update; the original is gone

    async def scenario(app: MeshApp, pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.connected)
        assert app.active_tab == "alerts"  # an alert is in force
        body = shown(app, "#alerts-body")
        assert "NOT VERIFIED" in body and "unknown root" in body
        assert "History" in body and "Update" in body and "(superseded)" in body
        await asyncio.to_thread(hub.stop)
        await until(pilot, lambda: not app.connected)
        await asyncio.to_thread(hub.start)
        await until(pilot, lambda: app.connected)
        await until(pilot, lambda: bool(app.threads))
        assert shown(app, "#alerts-body") == body

    try:
        drive(MeshApp(hub.socket, Lang.EN), scenario)
        [thread] = hub.request(api.AlertHistory())["threads"]
        assert thread["state"] == "active"
        assert [e["msg_type"] for e in thread["entries"]] == ["Alert", "Update"]
        assert thread["entries"][0]["removed"]["reason"] == "superseded by Update"
        history = json.loads(hub.cli("alerts", "--history", "--json").stdout)
        assert history == hub.request(api.AlertHistory())
        refused = hub.cli("alerts")
        assert "NOT VERIFIED: 1 alert(s) failed verification" in refused.stdout
        assert "unknown root" in hub.cli("alerts", "--rejected").stdout
    finally:
        hub.stop()
