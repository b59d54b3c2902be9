"""The fuzz harness itself (fuzz/targets.py, fuzz/run.py): every target accepts its own seeds,
every saved crashing input (fuzz/regressions/<target>/) stays fixed, and a short run of the
built-in mutator over every target finds nothing. The long, coverage-guided runs use atheris:
`python -m fuzz.run` (see docs/benchmarks.md, "Fuzzing").
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz.run import run_mutate
from fuzz.targets import TARGETS, join_records, records

REGRESSIONS = Path(__file__).resolve().parent.parent / "fuzz" / "regressions"
SAVED = sorted((p.parent.name, p) for p in REGRESSIONS.glob("*/*"))


@pytest.mark.parametrize("name", TARGETS)
def test_seeds_run_clean_and_a_short_mutation_run_finds_nothing(name: str) -> None:
    target = TARGETS[name]()
    seeds = target.seeds()
    assert seeds
    for seed in seeds:
        target.check(seed)
    result = run_mutate(name, runs=150, seconds=30, seed=1)
    assert result.crashes == [] and result.inputs == 150


@pytest.mark.parametrize(("name", "path"), SAVED, ids=[f"{n}/{p.name}" for n, p in SAVED])
def test_saved_crashing_inputs_stay_fixed(name: str, path: Path) -> None:
    TARGETS[name]().check(path.read_bytes())


def test_regressions_are_saved_for_known_targets() -> None:
    assert SAVED and {name for name, _ in SAVED} <= set(TARGETS)


@given(st.lists(st.binary(max_size=300), max_size=8))
def test_records_round_trip(parts: list[bytes]) -> None:
    assert records(join_records(parts)) == parts
