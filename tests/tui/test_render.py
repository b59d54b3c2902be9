"""Pure renderings: alert threads, delivery states, the QR code."""

from __future__ import annotations

import segno

from tests.crypto.chain import NOW
from tui.i18n import Lang
from tui.render import alert_threads, delivery_state, render_qr


def _alert(identifier: str, sent: int, msg_type: str = "Alert",
           refs: tuple[str, ...] = ()) -> dict[str, object]:
    return {"id": identifier, "sender": "vr@example", "identifier": identifier, "sent": sent,
            "msg_type": msg_type,
            "references": [{"sender": "vr@example", "identifier": r, "sent": 0} for r in refs]}


def test_update_and_cancel_join_the_alert_they_reference() -> None:
    threads = alert_threads([
        _alert("c", NOW + 20, "Cancel", ("b",)), _alert("x", NOW + 5),
        _alert("a", NOW), _alert("b", NOW + 10, "Update", ("a",)),
    ])
    assert [[e["identifier"] for e in t.entries] for t in threads] == [["a", "b", "c"], ["x"]]
    assert threads[0].cancelled and not threads[1].cancelled


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
