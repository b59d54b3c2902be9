from __future__ import annotations

from sim.examples import EXAMPLE_TRACE, example_trace
from sim.traces import format_one, read_trace


def test_bundled_example_trace_is_reproduced_by_its_recipe() -> None:
    lines = [line for line in EXAMPLE_TRACE.read_text(encoding="utf-8").splitlines()
             if not line.startswith("#")]
    assert lines == list(format_one(example_trace()))


def test_example_trace_has_the_documented_shape() -> None:
    trace = read_trace(EXAMPLE_TRACE)
    assert trace.size == 50
    assert trace.end == 3 * 3600.0
    assert len(trace.intervals()) > 100
