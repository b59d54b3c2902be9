"""Pure renderings: delivery states, refused alerts, the QR code."""

from __future__ import annotations

import io
from typing import Any

import segno
from rich.console import Console
from rich.text import Text

from tests.crypto.chain import NOW
from tui.i18n import Lang
from tui.render import delivery_state, render_alerts, render_qr, render_status


def test_delivery_states_in_both_languages() -> None:
    assert delivery_state({"handovers": 0, "delivered": None}, Lang.EN) == "queued"
    assert delivery_state({"handovers": 3, "delivered": None}, Lang.EN) == "carried by 3 relay(s)"
    assert delivery_state({"handovers": 3, "delivered": NOW}, Lang.NL) == "afgeleverd ✔"


def test_qr_code_has_every_module_of_the_symbol() -> None:
    data = "OWDK 3MZL WGLU 5LQ2 7GBP JJGA 2XHY NZ4B"
    code = render_qr(data)
    assert code is not None
    rows = [list(r) for r in segno.make(data, error="m").matrix_iter(scale=1, border=2)]
    lines = code.plain.split("\n")
    assert len(lines) == (len(rows) + 1) // 2
    assert {len(line) for line in lines} == {len(rows[0])}
    top = {"▀", "█"}
    assert [c in top for c in lines[2]] == [bool(m) for m in rows[4]]


def test_refused_alerts_come_first_and_loud_in_both_languages() -> None:
    refused = [{"reason": "alert unknown root", "link": None, "first_seen": NOW,
                "last_seen": NOW, "count": 3}]
    console = Console(width=80, file=io.StringIO(), record=True, color_system=None)
    for lang, loud, why in ((Lang.EN, "NOT VERIFIED", "unknown root"),
                            (Lang.NL, "NIET GEVERIFIEERD", "stamsleutel")):
        console.print(render_alerts([], refused, lang))
        shown = console.export_text()
        assert loud in shown and why in shown and "3×" in shown


def test_the_status_tab_says_what_was_recovered_after_a_store_loss() -> None:
    recovery = {"at": NOW, "moved_to": "/d/messages.db.corrupt-X", "dms_restored": 3,
                "dms_not_restored": 1, "posts_restored": 2, "posts_expired": 0}
    for lang, word in ((Lang.EN, "RECOVERED"), (Lang.NL, "HERSTELD")):
        shown = render_status({"recovery": recovery}, lang)
        assert isinstance(shown, Text)
        line = shown.plain.splitlines()[-1]
        assert word in line and "/d/messages.db.corrupt-X" in line and "3" in line
        assert word not in str(render_status({"recovery": None}, lang))


def test_the_status_tab_opens_with_a_clock_warning_when_the_clock_is_behind() -> None:
    clock = {"now": NOW - 7200, "floor": NOW, "behind": 7200, "warning": "set it"}
    for lang, word in ((Lang.EN, "CLOCK WRONG"), (Lang.NL, "KLOK FOUT")):
        first = str(render_status({"clock": clock}, lang)).splitlines()[0]
        assert word in first and "120" in first
        assert word not in str(render_status({"clock": {**clock, "behind": 0}}, lang))


def test_the_status_tab_shows_the_https_certificate_and_warns_before_it_expires() -> None:
    def https(days: int) -> dict[str, Any]:
        return {"web": {"https": {"names": ["steunpunt.test"], "not_after": NOW + days * 86400,
                                  "days_left": days, "warnings": []}}}

    for lang, expiring, expired in ((Lang.EN, "EXPIRES in 12", "EXPIRED"),
                                    (Lang.NL, "VERLOOPT over 12", "VERLOPEN")):
        calm = str(render_status(https(60), lang))
        assert "steunpunt.test" in calm and "EXPIRE" not in calm and "VERLO" not in calm
        assert expiring in str(render_status(https(12), lang))
        assert expired in str(render_status(https(-3), lang))
        assert "HTTPS" not in str(render_status({}, lang))
