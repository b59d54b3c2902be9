"""Message lists (ONE external events and CSV) and their replay, message for message."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sim.config import ScenarioError
from sim.driver import Simulation
from sim.messages import MessageListError, parse_csv, parse_one
from sim.metrics import summarise
from sim.output import message_table, write_run
from sim.scenario import Scenario, parse_scenario

ONE_EVENTS = """\
# ONE external events: creations, and other event types that are skipped
10 C M1 p1 p2 500
12.5 CONN 1 2 up
15 C M2 2 1 2k 100
20 S M1 1 2
30 C M3 n3 n1 1kiB
"""


def test_one_creation_events_are_read_with_units_and_other_events_skipped() -> None:
    listed = parse_one(ONE_EVENTS.splitlines())
    assert [(m.time, m.id, m.source, m.target, m.size) for m in listed.messages] == [
        (10.0, "M1", "p1", "p2", 500), (15.0, "M2", "2", "1", 2_000),
        (30.0, "M3", "n3", "n1", 1_024)]


def test_csv_with_header_matches_the_one_format() -> None:
    listed = parse_csv(["time,id,from,to,size", "10,M1,p1,p2,500", "15, M2 ,2,1,2000"])
    assert [(m.time, m.id, m.source, m.target, m.size) for m in listed.messages] == [
        (10.0, "M1", "p1", "p2", 500), (15.0, "M2", "2", "1", 2_000)]


@pytest.mark.parametrize(("text", "line", "reason"), [
    ("10 C M1 1 2 500\n5 C M2 1 2 500", 2, "before the previous"),
    ("10 C M1 1 2 500\n11 C M1 2 1 500", 2, "used twice"),
    ("10 C M1 1 1 500", 1, "to itself"),
    ("10 C M1 1 2 5X", 1, "size must be"),
    ("10 C M1 1 2", 1, "6 fields"),
    ("x C M1 1 2 500", 1, "time is not a number"),
    ("-1 C M1 1 2 500", 1, ">= 0"),
])
def test_bad_lists_name_the_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(MessageListError) as info:
        parse_one(text.splitlines())
    assert info.value.line == line and reason in info.value.reason


def test_names_resolve_exactly_or_by_ones_host_address() -> None:
    listed = parse_one(["1 C a p3 0 10", "2 C b 1 n2 10"])
    assert listed.resolve(["0", "1", "2", "3"]) == [(3, 0), (1, 2)]
    with pytest.raises(MessageListError, match="recipient 'x9' is not a node"):
        parse_one(["1 C a 1 x9 10"]).resolve(["0", "1"])


def scenario(tmp_path: Path, messages: str, name: str = "m.txt") -> Scenario:
    """Phones 1-2-3 in a line (1 meets 2, then 2 meets 3), hub 0 apart; messages from a list."""
    (tmp_path / "t.one").write_text("100 CONN 1 2 up\n200 CONN 1 2 down\n300 CONN 2 3 up\n"
                                    "400 CONN 2 3 down\n500 CONN 0 1 up\n500 CONN 0 1 down\n")
    (tmp_path / name).write_text(messages)
    return parse_scenario(
        '[scenario]\nduration = "10m"\nstep = "10s"\n[population]\nresidents = 3\nhubs = 1\n'
        '[mobility]\nmodel = "trace"\n[trace]\nfile = "t.one"\nhub_ids = ["0"]\n'
        '[ble]\nframe_loss = 0.0\n[routing]\npolicy = "epidemic"\n'
        f'[workload]\nalerts = []\nposts_per_hour = 0.0\nmessages = "{name}"\n',
        base=tmp_path)


def test_a_one_scenario_replays_message_for_message_with_ones_metrics(tmp_path: Path) -> None:
    # M1 crosses two hops (1 -> 2 -> 3); M2 goes one hop back (2 -> 1); M3 never can (the hub
    # meets nobody for long enough).
    listed = "50 C M1 1 3 600\n60 C M2 2 1 600\n70 C M3 1 0 600\n"
    out = Simulation(scenario(tmp_path, listed)).run()
    stats = summarise(out, 1.0)["message_list"]
    assert stats["created"] == 3 and stats["delivered"] == 2
    assert stats["delivery_prob"] == pytest.approx(2 / 3)
    # Medians as ONE reports them: the upper middle value of an even count.
    assert stats["hopcount_avg"] == pytest.approx(1.5) and stats["hopcount_med"] == 2
    # Relayed: M1 to 2 and to 3, M2 to 1, and epidemic also copies M1 and M2 wherever it can.
    assert stats["relayed"] >= 3
    assert stats["overhead_ratio"] == pytest.approx((stats["relayed"] - 2) / 2)
    latencies = sorted(out.dm_delivered[i] - out.dm_created[i][0] for i in out.dm_delivered)
    assert stats["latency_avg"] == pytest.approx(sum(latencies) / 2)
    assert stats["latency_med"] == latencies[1]
    assert latencies[1] >= 300 - 50 and latencies[0] >= 100 - 60
    header, rows = message_table(out)
    assert [row[header.index("list_id")] for row in rows] == ["M1", "M2", "M3"]


def test_a_csv_list_gives_the_same_run_as_the_one_list(tmp_path: Path) -> None:
    one = summarise(Simulation(scenario(tmp_path, "50 C M1 1 3 600\n60 C M2 2 1 600\n")).run(),
                    1.0)
    csv = summarise(Simulation(scenario(
        tmp_path, "time,id,from,to,size\n50,M1,1,3,600\n60,M2,2,1,600\n", "m.csv")).run(), 1.0)
    assert one["message_list"] == csv["message_list"]


def test_a_list_naming_an_unknown_node_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="workload.messages: .*recipient '7'"):
        Simulation(scenario(tmp_path, "50 C M1 1 7 600\n"))


def test_results_carry_ones_report_layout_for_a_side_by_side(tmp_path: Path) -> None:
    out = Simulation(scenario(tmp_path, "50 C M1 1 3 600\n60 C M2 2 1 600\n")).run()
    summary = summarise(out, 1.0)
    write_run(tmp_path / "out", out, summary, command="test", source="")
    lines = (tmp_path / "out" / "message_stats.txt").read_text(encoding="utf-8").splitlines()
    stats = dict(line.split(": ", 1) for line in lines[1:])
    assert lines[0] == "Message stats for scenario unnamed"
    assert stats["created"] == "2" and stats["delivered"] == "2"
    assert stats["delivery_prob"] == "1.0000"
    assert float(stats["hopcount_avg"]) == summary["message_list"]["hopcount_avg"] == 1.5
    # Without a list, the file is not written (and an earlier run's is removed).
    plain = Simulation(scenario(tmp_path, "")).run()
    write_run(tmp_path / "out", plain, summarise(plain, 1.0), command="test", source="")
    assert not (tmp_path / "out" / "message_stats.txt").exists()


def test_hosts_missing_from_a_numbered_trace_exist_but_meet_nobody(tmp_path: Path) -> None:
    """A ONE contact report leaves out hosts that never met anyone; with numbered ids and a
    larger population they are still nodes, and a message to one is never delivered."""
    base = scenario(tmp_path, "50 C M1 1 3 600\n60 C M2 2 5 600\n")
    bigger = dataclasses.replace(base, population=dataclasses.replace(
        base.population, residents=5))
    out = Simulation(bigger).run()
    stats = summarise(out, 1.0)["message_list"]
    assert len(out.kinds) == 6
    assert stats["created"] == 2 and stats["delivered"] == 1
    with pytest.raises(ScenarioError, match="more than its highest id"):
        Simulation(dataclasses.replace(base, population=dataclasses.replace(
            base.population, residents=2)))


def test_relayed_counts_copies_as_one_does_and_repeated_hand_overs_apart(tmp_path: Path) -> None:
    """ONE never sends a host a message it holds, so its `relayed` is the copies made. Here 1
    hands M1 to 2 and 3, which both reach 4 at the same instant (both send it: one arrives
    second), and 4 delivers it to 5: four copies made, the second arrival at 4 a duplicate."""
    (tmp_path / "t.one").write_text(
        "100 CONN 1 2 up\n100 CONN 1 3 up\n200 CONN 1 2 down\n200 CONN 1 3 down\n"
        "300 CONN 2 4 up\n300 CONN 3 4 up\n400 CONN 2 4 down\n400 CONN 3 4 down\n"
        "500 CONN 4 5 up\n600 CONN 4 5 down\n")
    (tmp_path / "m.txt").write_text("50 C M1 1 5 600\n")
    out = Simulation(parse_scenario(
        '[scenario]\nduration = "15m"\nstep = "10s"\n[population]\nresidents = 6\nhubs = 0\n'
        '[mobility]\nmodel = "trace"\n[trace]\nfile = "t.one"\n'
        '[ble]\nframe_loss = 0.0\n[routing]\npolicy = "epidemic"\n'
        '[workload]\nalerts = []\nposts_per_hour = 0.0\nmessages = "m.txt"\n',
        base=tmp_path)).run()
    stats = summarise(out, 1.0)["message_list"]
    (m1,) = out.listed_dm
    assert out.dm_holders[m1] == {2, 3, 4} and stats["delivered"] == 1
    assert stats["relayed"] == len(out.dm_holders[m1]) + 1  # the relays' copies, the recipient's
    assert stats["duplicates"] >= 1
    assert stats["overhead_ratio"] == pytest.approx(3.0)
    assert stats["hopcount_avg"] == 3  # 1 -> 2 (or 3) -> 4 -> 5
