"""The alert log: history kept across restarts and bounded, refusals counted by reason, and
CAP threads (an Update or Cancel joins the alert it references)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from meshnode.daemon import alertlog
from meshnode.daemon.alertlog import AlertLog, threads
from meshnode.daemon.views import event_view
from meshnode.events import Refusal, Rejected
from meshnode.wire import Kind
from tests.crypto.chain import NOW


def _alert(identifier: str, sent: int, msg_type: str = "Alert",
           refs: tuple[str, ...] = (), msg_id: int = 0) -> dict[str, Any]:
    return {"id": f"{msg_id:032x}", "sender": "vr@example", "identifier": identifier,
            "sent": sent, "seq": msg_id, "msg_type": msg_type, "expires": sent + 3600,
            "references": [{"sender": "vr@example", "identifier": r, "sent": 0} for r in refs]}


def test_update_and_cancel_join_the_alert_they_reference() -> None:
    grouped = threads([
        _alert("c", NOW + 20, "Cancel", ("b",)), _alert("x", NOW + 5),
        _alert("a", NOW), _alert("b", NOW + 10, "Update", ("a",)),
    ])
    assert [[e["identifier"] for e in t] for t in grouped] == [["a", "b", "c"], ["x"]]


@given(st.permutations(range(6)))
def test_threads_do_not_depend_on_arrival_order(order: list[int]) -> None:
    alerts = [_alert("a", NOW), _alert("b", NOW + 1, "Update", ("a",)),
              _alert("c", NOW + 2, "Cancel", ("b",)), _alert("x", NOW + 3),
              _alert("y", NOW + 4, "Update", ("x",)), _alert("z", NOW + 5)]
    grouped = threads([alerts[i] for i in order])
    assert [[e["identifier"] for e in t] for t in grouped] == [["z"], ["x", "y"], ["a", "b", "c"]]


def test_history_survives_reopening_and_marks_what_was_removed(tmp_path: Path) -> None:
    log = AlertLog(tmp_path / "alerts.db")
    assert log.record(_alert("a", NOW, msg_id=1), NOW + 1)
    assert not log.record(_alert("a", NOW, msg_id=1), NOW + 2)  # the same alert again
    assert log.record(_alert("b", NOW + 10, "Update", ("a",), msg_id=2), NOW + 11)
    assert log.remove(bytes.fromhex(f"{1:032x}"), "superseded by Update", NOW + 11)
    assert not log.remove(bytes.fromhex(f"{1:032x}"), "again", NOW + 12)
    assert not log.remove(bytes(16), "unknown", NOW + 12)
    log.close()
    log = AlertLog(tmp_path / "alerts.db")
    first, second = log.entries()
    assert (first.view["identifier"], first.received, first.removed) == ("a", NOW + 1, NOW + 11)
    assert first.removed_reason == "superseded by Update"
    assert second.view["msg_type"] == "Update" and second.removed is None


def test_history_is_bounded_keeping_the_newest(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(alertlog, "MAX_ALERTS", 5)
    log = AlertLog(tmp_path / "alerts.db")
    for i in range(12):
        log.record(_alert(f"a{i}", NOW + i, msg_id=i), NOW + i)
    assert [e.view["identifier"] for e in log.entries()] == [f"a{i}" for i in range(7, 12)]
    assert [e.view["identifier"] for e in log.entries(2)] == ["a10", "a11"]


def test_refusals_are_counted_by_reason_and_bounded(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(alertlog, "MAX_REJECTED", 3)
    log = AlertLog(tmp_path / "alerts.db")
    log.reject("alert unknown root", "udp:10.0.0.1:4917", NOW)
    log.reject("alert unknown root", "udp:10.0.0.2:4917", NOW + 5)
    log.reject("alert bad signature" + "x" * 500, None, NOW + 1)
    top, other = log.rejected()
    assert (top.reason, top.count, top.first_seen, top.last_seen, top.link) == (
        "alert unknown root", 2, NOW, NOW + 5, "udp:10.0.0.2:4917")
    assert len(other.reason) == alertlog.MAX_REASON and other.link is None
    for i in range(5):
        log.reject(f"alert reason {i}", None, NOW + 10 + i)
    assert [r.reason for r in log.rejected()] == [f"alert reason {i}" for i in (4, 3, 2)]


def test_a_rejected_event_names_its_refusal_so_clients_never_parse_reasons() -> None:
    forged = Rejected("peer", Kind.ALERT, Refusal.ALERT, "bad_signature: the alert")
    superseded = Rejected("peer", Kind.ALERT, Refusal.SUPERSEDED, "a later update is held")
    assert event_view(forged, lambda _: None) == ("rejected", {
        "link": "peer", "kind": "alert", "refusal": "alert",
        "reason": "alert bad_signature: the alert"})
    assert event_view(superseded, lambda _: None)[1]["refusal"] == "alert superseded"
