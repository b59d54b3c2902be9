from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from sim.config import ScenarioError, check, describe, load, param, parse_duration


@dataclass(frozen=True, slots=True)
class Inner:
    size: int = param(3, "a size", ge=1)
    mode: str = param("a", "a mode", choices=("a", "b"))

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True, slots=True)
class Outer:
    count: int = param(2, "a count", ge=0, le=10)
    rate: float = param(0.5, "a rate", gt=0, lt=1)
    wait: float = param(60.0, "a wait", unit="s", ge=0)
    span: tuple[float, float] = param((1.0, 2.0), "a span", unit="s", ge=0, length=2,
                                      ordered=True)
    flag: bool = param(False, "a flag")
    names: tuple[str, ...] = param((), "names")
    inner: Inner = field(default_factory=Inner)
    items: tuple[Inner, ...] = param((), "items")

    def __post_init__(self) -> None:
        check(self)


@pytest.mark.parametrize(("text", "seconds"), [
    (30, 30.0), (2.5, 2.5), ("90s", 90.0), ("15m", 900.0), ("15min", 900.0), ("2h", 7200.0),
    ("3d", 259_200.0), ("250ms", 0.25), (" 1.5h ", 5400.0),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text, "k") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "h", "5 weeks", "-5s", "1h30m", True, [1]])
def test_bad_durations_name_the_key(text: object) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_duration(text, "scenario.duration")
    assert info.value.key == "scenario.duration"


def test_load_keeps_defaults_and_converts_values() -> None:
    record = load(Outer, {"count": 4, "wait": "2m", "span": [0, "30s"], "flag": True,
                          "names": ["x", "y"], "inner": {"mode": "b"},
                          "items": [{"size": 5}, {}]})
    assert record == Outer(count=4, wait=120.0, span=(0.0, 30.0), flag=True, names=("x", "y"),
                           inner=Inner(mode="b"), items=(Inner(size=5), Inner()))
    assert load(Outer, {}) == Outer()


@pytest.mark.parametrize(("table", "key"), [
    ({"bogus": 1}, "bogus"),
    ({"inner": {"bogus": 1}}, "inner.bogus"),
    ({"items": [{}, {"bogus": 1}]}, "items[1].bogus"),
    ({"count": True}, "count"),
    ({"count": 1.0}, "count"),
    ({"count": "1"}, "count"),
    ({"count": 11}, "count"),
    ({"count": -1}, "count"),
    ({"rate": 0}, "rate"),
    ({"rate": 1.0}, "rate"),
    ({"rate": float("nan")}, "rate"),
    ({"rate": float("inf")}, "rate"),
    ({"rate": "fast"}, "rate"),
    ({"wait": -1}, "wait"),
    ({"span": [2, 1]}, "span"),
    ({"span": [1]}, "span"),
    ({"span": 1}, "span"),
    ({"span": [1, "x"]}, "span[1]"),
    ({"flag": 1}, "flag"),
    ({"names": [1]}, "names[0]"),
    ({"inner": 3}, "inner"),
    ({"inner": {"mode": "c"}}, "inner.mode"),
    ({"inner": {"size": 0}}, "inner.size"),
    ({"items": [{"size": 0}]}, "items[0].size"),
    ({"items": {"size": 1}}, "items"),
])
def test_errors_name_the_dotted_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load(Outer, table, "top")
    assert info.value.key == f"top.{key}"
    assert str(info.value).startswith(f"top.{key}: ")


def test_rules_also_hold_for_records_built_in_python() -> None:
    with pytest.raises(ScenarioError) as info:
        Outer(span=(3.0, 1.0))
    assert info.value.key == "span"


def test_describe_lists_every_key_with_default_and_doc() -> None:
    params = {p.key: p for p in describe(Outer)}
    assert list(params) == ["count", "rate", "wait", "span", "flag", "names", "inner.size",
                            "inner.mode", "items", "items[].size", "items[].mode"]
    assert params["span"].default == "[1, 2]"
    assert params["inner.mode"].default == '"a"'
    assert params["flag"].default == "false"
    assert params["items"].default == "0 tables"
    assert params["wait"].doc.startswith("a wait [s")
