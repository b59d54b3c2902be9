"""The daemon's group commit as a state machine without I/O (in the style of h11): which batch
may take inputs, which one commits, and whose held outputs may go out.

At most two batches exist at once: an open one that takes inputs (they run through the node
into it) and a sealed one whose COMMIT runs on a worker thread. The next batch runs while the
sealed one commits (overlap), but its outputs are held like the sealed one's: a batch's frames,
events and API answers go out only when its own COMMIT has returned (`landed`), and batches
land in the order they were sealed, so nothing is released before everything it may depend on
is on disk. A failed commit voids the open batch too (it was built on the sealed one's
writes): `failed` hands back both, to be dropped.

    stage       | run         | seal        | landed | failed
    ------------|-------------|-------------|--------|-------
    IDLE        | OPEN        | -           | -      | -
    OPEN        | OPEN        | COMMITTING  | -      | -
    COMMITTING  | OVERLAP     | -           | IDLE   | IDLE
    OVERLAP     | OVERLAP     | -           | OPEN   | IDLE

Any other step raises `GroupCommitError`: a driver that seals twice, releases a batch that is
not committing, or opens a third batch is a bug, not a state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

Out = TypeVar("Out")  # a held output (a frame, an event)
C = TypeVar("C")  # a held API call, answered when its batch lands


class Stage(Enum):
    IDLE = "idle"  # no batch
    OPEN = "open"  # a batch takes inputs, none commits
    COMMITTING = "committing"  # a sealed batch commits, none is open
    OVERLAP = "overlap"  # a sealed batch commits while the next one takes inputs


class Step(Enum):
    RUN = "run"  # inputs ran through the node into the open batch (opened if there was none)
    SEAL = "seal"  # the open batch is closed and its commit starts
    LANDED = "landed"  # the sealed batch's COMMIT returned
    FAILED = "failed"  # the sealed batch's commit raised


TRANSITIONS: Mapping[tuple[Stage, Step], Stage] = {
    (Stage.IDLE, Step.RUN): Stage.OPEN,
    (Stage.OPEN, Step.RUN): Stage.OPEN,
    (Stage.OPEN, Step.SEAL): Stage.COMMITTING,
    (Stage.COMMITTING, Step.RUN): Stage.OVERLAP,
    (Stage.OVERLAP, Step.RUN): Stage.OVERLAP,
    (Stage.COMMITTING, Step.LANDED): Stage.IDLE,
    (Stage.OVERLAP, Step.LANDED): Stage.OPEN,
    (Stage.COMMITTING, Step.FAILED): Stage.IDLE,
    (Stage.OVERLAP, Step.FAILED): Stage.IDLE,
}


class GroupCommitError(RuntimeError):
    """A step the current stage does not allow (a bug in the driver)."""


@dataclass(eq=False)
class Batch(Generic[Out, C]):
    """What one batch holds until its COMMIT returns."""

    outputs: list[Out] = field(default_factory=list)
    calls: list[C] = field(default_factory=list)
    inputs: int = 0  # inputs run into it


class GroupCommit(Generic[Out, C]):
    """The stage, and the held outputs of the open and the sealed batch."""

    def __init__(self) -> None:
        self.stage = Stage.IDLE
        self._open: Batch[Out, C] | None = None
        self._sealed: Batch[Out, C] | None = None

    def _go(self, step: Step) -> None:
        after = TRANSITIONS.get((self.stage, step))
        if after is None:
            raise GroupCommitError(f"{step.value} while {self.stage.value}")
        self.stage = after

    @property
    def open_inputs(self) -> int:
        """Inputs run into the open batch (0 without one)."""
        return 0 if self._open is None else self._open.inputs

    @property
    def committing(self) -> bool:
        """Whether a sealed batch's commit is in the air."""
        return self._sealed is not None

    def run(self, outputs: Iterable[Out], calls: Iterable[C], inputs: int) -> None:
        """Inputs ran into the open batch (opening it): hold their outputs and calls."""
        self._go(Step.RUN)
        if self._open is None:
            self._open = Batch()
        self._open.outputs.extend(outputs)
        self._open.calls.extend(calls)
        self._open.inputs += inputs

    def seal(self) -> Batch[Out, C]:
        """The open batch stops taking inputs; its commit starts. Returns it (still held)."""
        self._go(Step.SEAL)
        assert self._open is not None
        self._sealed, self._open = self._open, None
        return self._sealed

    def landed(self) -> Batch[Out, C]:
        """The sealed batch's COMMIT returned: its outputs and calls, to release now."""
        self._go(Step.LANDED)
        assert self._sealed is not None
        landed, self._sealed = self._sealed, None
        return landed

    def failed(self) -> list[Batch[Out, C]]:
        """The sealed batch's commit failed: it and the open batch (if any), in the order
        they ran, to drop; nothing of them was kept."""
        self._go(Step.FAILED)
        assert self._sealed is not None
        lost = [self._sealed] + ([] if self._open is None else [self._open])
        self._sealed = self._open = None
        return lost
