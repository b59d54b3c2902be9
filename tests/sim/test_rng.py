from __future__ import annotations

import numpy as np
import pytest

from sim.rng import Streams


def test_same_seed_and_name_give_the_same_numbers() -> None:
    a = Streams(42).generator("mobility").random(8)
    b = Streams(42).generator("mobility").random(8)
    assert np.array_equal(a, b)


def test_names_and_seeds_give_different_streams() -> None:
    base = Streams(42).generator("mobility").random(8)
    assert not np.array_equal(base, Streams(42).generator("workload").random(8))
    assert not np.array_equal(base, Streams(43).generator("mobility").random(8))


def test_using_other_streams_does_not_change_a_stream() -> None:
    alone = Streams(7).generator("mobility").random(16)
    streams = Streams(7)
    streams.generator("workload.posts").random(1000)
    streams.generator("new purpose").integers(0, 10, 50)
    assert np.array_equal(streams.generator("mobility").random(16), alone)


def test_children_are_independent_of_the_parent() -> None:
    streams = Streams(3)
    parent = streams.generator("x").random(8)
    child = streams.child("nodes").generator("x").random(8)
    other_child = streams.child("links").generator("x").random(8)
    assert not np.array_equal(parent, child)
    assert not np.array_equal(child, other_child)
    assert np.array_equal(child, Streams(3).child("nodes").generator("x").random(8))


def test_integer_seeds_are_stable_63_bit_values() -> None:
    seeds = {Streams(5).integer_seed(f"node-{i}") for i in range(100)}
    assert len(seeds) == 100
    assert all(0 <= s < 2**63 for s in seeds)
    assert Streams(5).integer_seed("node-1") == Streams(5).integer_seed("node-1")


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_invalid_seeds_are_refused(seed: object) -> None:
    with pytest.raises(ValueError):
        Streams(seed)  # type: ignore[arg-type]


def test_empty_name_is_refused() -> None:
    with pytest.raises(ValueError):
        Streams(1).generator("")
