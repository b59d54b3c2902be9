from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.contacts import Intervals
from sim.traces import (
    Trace,
    TraceError,
    format_one,
    from_intervals,
    parse_csv,
    parse_one,
    read_trace,
    write_one,
)

ONE_SAMPLE = """\
# a comment
0 CONN 10 2 up

5.5 CONN 2 3 up
6 C m1 10 2
7 CONN 10 2 down
  # indented comment
9 CONN 3 2 down
"""


def events(trace: Trace) -> list[tuple[float, str, str, bool]]:
    return [(t, trace.ids[a], trace.ids[b], up) for t, a, b, up in
            zip(trace.time.tolist(), trace.a.tolist(), trace.b.tolist(), trace.up.tolist(),
                strict=True)]


def test_one_format_is_parsed_skipping_comments_and_other_events() -> None:
    trace = parse_one(ONE_SAMPLE.splitlines())
    assert trace.ids == ("2", "3", "10")  # numeric ids in numeric order
    assert events(trace) == [(0.0, "2", "10", True), (5.5, "2", "3", True),
                             (7.0, "2", "10", False), (9.0, "2", "3", False)]
    assert trace.size == 3 and len(trace) == 4 and trace.end == 9.0
    assert np.all(trace.a < trace.b)


def test_non_numeric_ids_are_ordered_as_strings() -> None:
    trace = parse_one(["1 CONN p10 p9 up", "2 CONN alice p9 up"])
    assert trace.ids == ("alice", "p10", "p9")


def test_csv_with_and_without_header() -> None:
    rows = ["1.0,a,b,up", "2.0, b , c ,UP", "3,a,b,down"]
    with_header = parse_csv(["time,a,b,state", *rows])
    without = parse_csv(rows)
    assert events(with_header) == events(without) == [
        (1.0, "a", "b", True), (2.0, "b", "c", True), (3.0, "a", "b", False)]


@pytest.mark.parametrize(("text", "line", "reason"), [
    ("0 CONN 1 2 up\nx CONN 1 3 up", 2, "time is not a number"),
    ("0 CONN 1 2 up\n1 CONN 1 3", 2, "5 fields"),
    ("0 CONN 1 2 sideways", 1, "up or down"),
    ("0 CONN 1 1 up", 1, "itself"),
    ("5 CONN 1 2 up\n4 CONN 1 3 up", 2, "before the previous"),
    ("0 CONN 1 2 up bt\n1 CONN 2 1 up bt", 2, "already up"),
    ("\n\n0 CONN 1 2 down", 3, "already down"),
    ("garbage", 1, "time is not a number"),
    ("7", 1, "expected"),
    ("nan CONN 1 2 up", 1, "finite"),
    ("inf CONN 1 2 up", 1, "finite"),
])
def test_one_errors_name_the_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(TraceError) as info:
        parse_one(text.splitlines())
    assert info.value.line == line
    assert reason in info.value.reason
    assert str(info.value).startswith(f"line {line}: ")


@pytest.mark.parametrize(("text", "line", "reason"), [
    ("time,a,b,state\n1,a,b", 2, "4 fields"),
    ("1,a,b,up\n2,a,b,maybe", 2, "up or down"),
    ("1,a,b,up\nt,a,c,up", 2, "not a number"),
    ("1,a,,up", 1, "empty node id"),
    ('1,a,"b,up', 1, "4 fields"),
])
def test_csv_errors_name_the_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(TraceError) as info:
        parse_csv(text.splitlines())
    assert info.value.line == line
    assert reason in info.value.reason


def test_lenient_mode_skips_redundant_events() -> None:
    text = ["0 CONN 1 2 up", "1 CONN 1 2 up x", "1 CONN 1 2 up x", "2 CONN 1 3 down",
            "3 CONN 2 1 down", "3 CONN 2 1 down x", "4 CONN 1 2 down"]
    with pytest.raises(TraceError):
        parse_one(text)
    trace = parse_one(text, strict=False)
    assert events(trace) == [(0.0, "1", "2", True), (3.0, "1", "2", False)]


def test_ones_unnamed_connections_of_one_pair_merge_into_one_contact() -> None:
    """ONE's ConnectivityONEReport writes one up/down per interface without naming it (trams
    meet over Bluetooth and a long-range radio): the pair's contact lasts until the last down."""
    text = ["10.00 CONN 120 121 up", "30.00 CONN 120 121 up", "40.00 CONN 120 121 down",
            "90.00 CONN 120 121 down", "95.00 CONN 120 121 down"]
    with pytest.raises(TraceError, match="line 5: link 120-121 is already down"):
        parse_one(text)
    trace = parse_one(text[:4])
    assert events(trace) == [(10.0, "120", "121", True), (90.0, "120", "121", False)]


def test_intervals_close_open_contacts_at_the_end() -> None:
    trace = parse_one(["0 CONN a b up", "4 CONN b c up", "6 CONN a b down", "8 CONN a b up"])
    rows = intervals_rows(trace.intervals(10.0))
    assert rows == [(0.0, 6.0, 0, 1), (4.0, 10.0, 1, 2), (8.0, 10.0, 0, 1)]
    assert intervals_rows(trace.intervals()) == [(0.0, 6.0, 0, 1), (4.0, 8.0, 1, 2),
                                                 (8.0, 8.0, 0, 1)]
    # Cut at 7 s: the a-b contact that comes back at 8 s does not exist yet.
    assert intervals_rows(trace.intervals(7.0)) == [(0.0, 6.0, 0, 1), (4.0, 7.0, 1, 2)]
    assert intervals_rows(trace.intervals(6.0)) == [(0.0, 6.0, 0, 1), (4.0, 6.0, 1, 2)]


def intervals_rows(intervals: Intervals) -> list[tuple[float, float, int, int]]:
    return list(zip(intervals.up.tolist(), intervals.down.tolist(), intervals.a.tolist(),
                    intervals.b.tolist(), strict=True))


def test_between_selects_events_for_stepwise_replay() -> None:
    trace = parse_one(ONE_SAMPLE.splitlines())
    assert trace.time[trace.between(0.0, 7.0)].tolist() == [5.5, 7.0]
    assert trace.time[trace.between(-1.0, 0.0)].tolist() == [0.0]
    assert trace.time[trace.between(9.0, 100.0)].tolist() == []


@st.composite
def interval_sets(draw: st.DrawFn) -> Intervals:
    size = draw(st.integers(2, 6))
    rows = []
    for a in range(size):
        for b in range(a + 1, size):
            t = 0
            for _ in range(draw(st.integers(0, 3))):
                up = t + draw(st.integers(1, 20))
                down = up + draw(st.integers(0, 20))
                rows.append((float(up), float(down), a, b))
                t = down
    return Intervals.from_rows(sorted(rows), size)


@given(interval_sets())
def test_one_round_trip_preserves_intervals(intervals: Intervals) -> None:
    trace = from_intervals(intervals)
    again = parse_one(list(format_one(trace)))
    end = float(intervals.down.max()) if len(intervals) else 0.0
    got = again.intervals(end)
    # Ids of nodes without contacts vanish; map back through the ids.
    back = [(u, d, int(again.ids[a]), int(again.ids[b])) for u, d, a, b in intervals_rows(got)]
    assert sorted(back) == sorted(intervals_rows(intervals))


def test_files_by_extension_and_explicit_format(tmp_path: Path) -> None:
    trace = parse_one(ONE_SAMPLE.splitlines())
    one = tmp_path / "t.one"
    write_one(trace, one, ["made in a test"])
    assert one.read_text().startswith("# made in a test\n")
    assert events(read_trace(one)) == events(trace)
    csv_file = tmp_path / "t.csv"
    csv_file.write_text("time,a,b,state\n0,x,y,up\n1,x,y,down\n")
    assert len(read_trace(csv_file)) == 2
    other = tmp_path / "t.txt"
    other.write_text("0,x,y,up\n")
    assert len(read_trace(other, "csv")) == 1
    with pytest.raises(ValueError):
        read_trace(other, "xml")


def test_non_utf8_file_is_a_trace_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.one"
    bad.write_bytes(b"0 CONN \xff\xfe 2 up\n")
    with pytest.raises(TraceError):
        read_trace(bad)


def test_several_interfaces_of_a_pair_merge_into_one_contact() -> None:
    """ONE's multi-interface hosts (trams) report one link per interface: the pair is in
    contact from its first interface's up to its last interface's down."""
    text = ("0 CONN t1 p2 up bt\n5 CONN t1 p2 up wifi\n8 CONN t1 p2 down bt\n"
            "9 CONN t1 p2 up bt\n12 CONN t1 p2 down wifi\n20 CONN t1 p2 down bt\n")
    trace = parse_one(text.splitlines())
    assert events(trace) == [(0.0, "p2", "t1", True), (20.0, "p2", "t1", False)]
    csv_trace = parse_csv(["0,a,b,up,1", "1,a,b,up,2", "2,a,b,down,1", "3,a,b,down,2"])
    assert events(csv_trace) == [(0.0, "a", "b", True), (3.0, "a", "b", False)]


def test_an_interface_up_twice_is_still_an_error_naming_it() -> None:
    with pytest.raises(TraceError, match="line 2: link 1-2 on interface bt is already up"):
        parse_one(["0 CONN 1 2 up bt", "1 CONN 1 2 up bt"])
    with pytest.raises(TraceError, match="line 2: link 1-2 on interface wifi is already down"):
        parse_one(["0 CONN 1 2 up bt", "1 CONN 1 2 down wifi"])
    lenient = parse_one(["0 CONN 1 2 up bt", "1 CONN 1 2 down wifi", "2 CONN 1 2 down bt"],
                        strict=False)
    assert events(lenient) == [(0.0, "1", "2", True), (2.0, "1", "2", False)]


def test_a_zero_length_contact_loads_strictly_as_a_zero_length_interval() -> None:
    trace = parse_one(["10 CONN 1 2 up", "10 CONN 1 2 down", "12 CONN 1 2 up",
                       "20 CONN 1 2 down"])
    intervals = trace.intervals()
    assert intervals.up.tolist() == [10.0, 12.0]
    assert intervals.down.tolist() == [10.0, 20.0]
