"""The app at 80x24 from fixed API results: what fits, where the keyboard goes, what the
"not running" screen says. No daemon needed: `MeshApp.load` shows the sample as if sent."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static
from textual.widgets._footer import FooterKey

from tests.tui.sample import snapshot
from tui.app import MeshApp
from tui.i18n import Lang

SOCKET = Path("/run/meshnode/api.sock")
Scenario = Callable[[MeshApp, Pilot[None]], Awaitable[None]]


def drive(app: MeshApp, scenario: Scenario) -> None:
    async def main() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await scenario(app, pilot)

    asyncio.run(main())


def shown(app: MeshApp, selector: str) -> str:
    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    console.print(app.query_one(selector, Static).content)
    return " ".join(console.export_text().split())


@pytest.mark.parametrize("lang", list(Lang))
def test_every_footer_key_and_both_inputs_fit_80x24_with_a_key_warning(lang: Lang) -> None:
    async def scenario(app: MeshApp, pilot: Pilot[None]) -> None:
        app.load(snapshot())  # with a key-change warning: F8 is offered
        app.action_show_tab("messages")
        await pilot.pause()
        keys = {k.key: k.region for k in app.query(FooterKey) if k.display}
        assert {"f6", "f7", "f8", "ctrl+q"} <= set(keys), keys
        assert all(r.width > 0 and r.right <= 80 for r in keys.values()), keys
        footer_top = min(r.y for r in keys.values())
        for selector in ("#dm-text", "#contact-add"):
            region = app.query_one(selector, Input).region
            assert region.height == 3 and region.bottom <= footer_top, (selector, region)
        tabs = app.query_one("#tabs").query("Tab")
        assert [str(t.label).split()[0] for t in tabs] == ["F1", "F2", "F3", "F4"]

    drive(MeshApp(SOCKET, lang, connect=False), scenario)


def test_the_not_running_screen_names_the_data_directory() -> None:
    async def scenario(app: MeshApp, pilot: Pilot[None]) -> None:
        await pilot.pause()
        assert "meshnode --data-dir /srv/hub run" in shown(app, "#offline")

    drive(MeshApp(SOCKET, connect=False, start_command="meshnode --data-dir /srv/hub run"),
          scenario)


def test_the_log_follows_the_channel_typed_for_the_next_post() -> None:
    async def scenario(app: MeshApp, pilot: Pilot[None]) -> None:
        app.load(snapshot())
        app.action_show_tab("channels")
        await pilot.pause()
        assert "Water verkrijgbaar" in shown(app, "#posts")
        field = app.query_one("#post-channel", Input)
        field.value = "buurtfeest"
        await pilot.pause()
        assert app.channel == "buurtfeest"
        assert "No messages in #buurtfeest yet." in shown(app, "#posts")
        assert "Water verkrijgbaar" not in shown(app, "#posts")

    drive(MeshApp(SOCKET, connect=False), scenario)


def test_escape_reaches_the_channel_list_and_enter_returns_to_writing() -> None:
    async def scenario(app: MeshApp, pilot: Pilot[None]) -> None:
        app.load(snapshot())
        app.action_show_tab("channels")
        await pilot.pause()
        assert app.focused is app.query_one("#post-text", Input)
        await pilot.press("escape")
        assert app.focused is app.query_one("#channel-list", OptionList)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.focused is app.query_one("#post-text", Input)
        assert app.channel == "markt"

    drive(MeshApp(SOCKET, connect=False), scenario)
