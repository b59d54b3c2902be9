"""The daemon's overlapped group commit as a state machine, without I/O
(`meshnode.daemon.groupcommit`): the transition table is the whole of what a driver may do,
and whatever order the steps come in, an output is released only by its own batch's landing,
batches land in the order they ran, and a failed commit drops the open batch with the sealed
one."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshnode.daemon.groupcommit import (
    TRANSITIONS,
    GroupCommit,
    GroupCommitError,
    Stage,
    Step,
)


def _step(machine: GroupCommit[int, str], step: Step, counter: itertools.count[int]) -> None:
    if step is Step.RUN:
        machine.run([next(counter)], [], 1)
    elif step is Step.SEAL:
        machine.seal()
    elif step is Step.LANDED:
        machine.landed()
    else:
        machine.failed()


def _reach(stage: Stage) -> GroupCommit[int, str]:
    machine: GroupCommit[int, str] = GroupCommit()
    path = {Stage.IDLE: [], Stage.OPEN: [Step.RUN], Stage.COMMITTING: [Step.RUN, Step.SEAL],
            Stage.OVERLAP: [Step.RUN, Step.SEAL, Step.RUN]}[stage]
    counter = itertools.count()
    for step in path:
        _step(machine, step, counter)
    assert machine.stage is stage
    return machine


@pytest.mark.parametrize(("stage", "step"), list(itertools.product(Stage, Step)))
def test_every_step_goes_where_the_table_says_or_is_refused(stage: Stage, step: Step) -> None:
    machine = _reach(stage)
    after = TRANSITIONS.get((stage, step))
    if after is None:
        with pytest.raises(GroupCommitError):
            _step(machine, step, itertools.count(100))
        assert machine.stage is stage  # a refused step changes nothing
    else:
        _step(machine, step, itertools.count(100))
        assert machine.stage is after


def test_the_next_batch_runs_while_the_sealed_one_commits_and_waits_for_it() -> None:
    machine: GroupCommit[str, str] = GroupCommit()
    machine.run(["k"], ["call k"], 1)
    machine.seal()
    assert machine.committing and machine.open_inputs == 0
    machine.run(["k+1 a"], [], 1)
    machine.run(["k+1 b"], ["call k+1"], 1)
    assert machine.stage is Stage.OVERLAP and machine.open_inputs == 2
    with pytest.raises(GroupCommitError):
        machine.seal()  # k+1 cannot commit before k landed: one writer, in order
    landed = machine.landed()
    assert (landed.outputs, landed.calls, landed.inputs) == (["k"], ["call k"], 1)
    sealed = machine.seal()
    assert sealed.outputs == ["k+1 a", "k+1 b"]
    assert machine.landed().calls == ["call k+1"]
    assert machine.stage is Stage.IDLE


def test_a_failed_commit_drops_the_open_batch_with_the_sealed_one() -> None:
    machine: GroupCommit[str, str] = GroupCommit()
    machine.run(["k"], [], 1)
    machine.seal()
    machine.run(["k+1"], ["call k+1"], 1)
    lost = machine.failed()
    assert [b.outputs for b in lost] == [["k"], ["k+1"]]
    assert machine.stage is Stage.IDLE and not machine.committing and machine.open_inputs == 0


@given(st.lists(st.sampled_from(list(Step)), max_size=60))
def test_outputs_are_released_only_by_their_own_landing_in_the_order_they_ran(
        steps: list[Step]) -> None:
    machine: GroupCommit[int, str] = GroupCommit()
    counter = itertools.count()
    ran: list[int] = []  # outputs in the order they ran
    released: list[int] = []
    dropped: list[int] = []
    for step in steps:
        if TRANSITIONS.get((machine.stage, step)) is None:
            continue
        if step is Step.RUN:
            output = next(counter)
            ran.append(output)
            machine.run([output], [], 1)
        elif step is Step.SEAL:
            machine.seal()
        elif step is Step.LANDED:
            released.extend(machine.landed().outputs)
        else:
            dropped.extend(o for batch in machine.failed() for o in batch.outputs)
    assert not set(released) & set(dropped)
    assert released == sorted(released)  # never out of order
    held = [o for o in ran if o not in released and o not in dropped]
    # What is neither released nor dropped is still held by a batch that has not landed.
    assert held == sorted(held) and all(o > max(released, default=-1) for o in held)
    if machine.stage is Stage.IDLE:
        assert not held
