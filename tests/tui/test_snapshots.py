"""Snapshots of the main views at 80x24, in Dutch and English, from fixed API results.

Update them after a deliberate UI change with `pytest tests/tui --snapshot-update` and look at
the SVGs in tests/tui/__snapshots__/ before committing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.tui.sample import rejected, snapshot
from tui.app import MeshApp
from tui.i18n import Lang

SOCKET = Path("/run/meshnode/api.sock")
SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def settled(pilot: Pilot[None]) -> None:
    """Let every queued message, refresh and animation finish, however slow the machine is,
    and stop the cursor blinking: what the snapshot shows must not depend on when it is taken.
    """
    for field in pilot.app.query(Input):
        field.cursor_blink = False
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def loaded(data: dict[str, Any], tab: str) -> Callable[[Pilot[None]], Any]:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, MeshApp)
        await settled(pilot)
        app.load(data)
        app.action_show_tab(tab)
        app.set_focus(None)
        await settled(pilot)

    return run_before


@pytest.mark.parametrize("lang", list(Lang))
@pytest.mark.parametrize("tab", ["alerts", "channels", "messages", "peers"])
def test_view(snap_compare: SnapCompare, lang: Lang, tab: str) -> None:
    app = MeshApp(SOCKET, lang, connect=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=loaded(snapshot(), tab))


@pytest.mark.parametrize("lang", list(Lang))
def test_alert_refused_before_the_app_opened(snap_compare: SnapCompare, lang: Lang) -> None:
    app = MeshApp(SOCKET, lang, connect=False)
    data = {**snapshot(), "rejected_alerts": rejected()}
    assert snap_compare(app, terminal_size=(80, 24), run_before=loaded(data, "alerts"))


@pytest.mark.parametrize("lang", list(Lang))
def test_daemon_not_running(snap_compare: SnapCompare, lang: Lang) -> None:
    assert snap_compare(MeshApp(SOCKET, lang, connect=False), terminal_size=(80, 24),
                        run_before=settled)


@pytest.mark.parametrize("lang", list(Lang))
def test_fingerprint_qr_code(snap_compare: SnapCompare, lang: Lang) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await loaded(snapshot(), "messages")(pilot)
        await pilot.press("f7")
        await settled(pilot)

    app = MeshApp(SOCKET, lang, connect=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize(("lang", "word"), [(Lang.EN, "CLOCK WRONG"), (Lang.NL, "KLOK FOUT")])
def test_a_clock_behind_is_a_banner_above_the_alerts(lang: Lang, word: str) -> None:
    async def run() -> None:
        app = MeshApp(SOCKET, lang, connect=False)
        async with app.run_test(size=(80, 24)) as pilot:
            data = snapshot()
            now = 1_800_000_000
            app.load({**data, "status": {**data["status"], "clock": {
                "now": now - 7200, "floor": now, "behind": 7200, "warning": "set it"}}})
            await pilot.pause()
            banner = app.query_one("#clockwarning")
            assert banner.has_class("shown") and banner.display
            assert word in str(banner.render())
            app.load(data)  # the clock is right again: the banner goes
            await pilot.pause()
            assert not banner.has_class("shown")

    asyncio.run(run())
