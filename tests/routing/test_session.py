"""The sync session's transition table, tested on its own (no Node, no link)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from meshnode.routing.limits import Rate, TokenBucket
from meshnode.routing.session import (
    TRANSITIONS,
    Phase,
    Session,
    SessionError,
    Step,
    diagram,
    next_phase,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
NOW = 1_790_000_000


def _run(*steps: Step) -> Phase:
    phase = Phase.HELLO
    for step in steps:
        phase = next_phase(phase, step)
    return phase


def test_the_initiator_finishes_after_reconciling_offering_and_both_dones() -> None:
    assert _run(Step.HELLO, Step.RECONCILED, Step.DONE_SENT, Step.DONE_RECEIVED) \
        is Phase.FINISHED


def test_the_responder_finishes_after_the_initiators_done_and_its_own() -> None:
    assert _run(Step.HELLO, Step.DONE_RECEIVED, Step.DONE_SENT) is Phase.FINISHED


def test_a_quiet_session_needs_only_our_implied_done() -> None:
    assert _run(Step.SAME_SET) is Phase.PEER_DONE
    assert _run(Step.SAME_SET, Step.DONE_SENT) is Phase.FINISHED


def test_restart_is_allowed_from_every_phase_and_leads_to_hello() -> None:
    for phase in Phase:
        assert next_phase(phase, Step.RESTART) is Phase.HELLO


def test_every_input_the_table_does_not_list_is_a_protocol_error() -> None:
    allowed = {(p, s) for p, steps in TRANSITIONS.items() for s in steps}
    for phase, step in itertools.product(Phase, Step):
        if step is Step.RESTART or (phase, step) in allowed:
            continue
        with pytest.raises(SessionError) as caught:
            next_phase(phase, step)
        assert caught.value.phase is phase and caught.value.step is step


def test_we_never_say_done_while_reconciling_or_twice() -> None:
    for phase in (Phase.HELLO, Phase.RECONCILING, Phase.SENT_DONE, Phase.FINISHED):
        with pytest.raises(SessionError):
            next_phase(phase, Step.DONE_SENT)


def test_a_second_done_from_the_peer_is_refused() -> None:
    with pytest.raises(SessionError):
        next_phase(Phase.FINISHED, Step.DONE_RECEIVED)
    with pytest.raises(SessionError):
        next_phase(Phase.PEER_DONE, Step.DONE_RECEIVED)


def test_every_phase_is_reachable_and_finished_is_reached_from_hello() -> None:
    reached, frontier = {Phase.HELLO}, [Phase.HELLO]
    while frontier:
        for target in TRANSITIONS[frontier.pop()].values():
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(Phase)


def _session() -> Session:
    bucket = TokenBucket.full(Rate(1.0, 1.0), NOW)
    return Session("peer", b"n" * 16, bucket, bucket, synced_at=NOW)


def test_our_done_may_go_out_only_when_offering_and_nothing_is_queued() -> None:
    session = _session()
    assert not session.may_say_done
    session.advance(Step.HELLO)
    assert not session.may_say_done  # reconciling
    session.advance(Step.RECONCILED)
    session.enqueue(5, NOW, b"x" * 32)
    assert not session.may_say_done
    assert session.take(1)[0][2] == b"x" * 32
    assert session.may_say_done


def test_a_restart_keeps_what_still_waits_and_forgets_what_the_peer_held() -> None:
    session = _session()
    session.advance(Step.HELLO)
    session.enqueue(5, NOW, b"a" * 32)
    session.enqueue(5, NOW - 1, b"b" * 32)
    session.take(1)
    session.peer_has.add(b"c" * 32)
    session.restart(b"m" * 16, NOW + 5)
    assert session.phase is Phase.HELLO and session.restarted
    assert session.queued == {b"b" * 32} and not session.peer_has
    assert session.synced_at == NOW + 5 and session.peer is None


def test_a_finished_session_is_due_for_resync_and_an_open_one_for_its_timeout() -> None:
    session = _session()
    session.active_at = NOW + 10
    assert session.due(timeout=60, resync=900) == NOW + 70
    session.phase = Phase.FINISHED
    assert session.due(timeout=60, resync=900) == NOW + 900


def test_the_protocol_document_embeds_the_diagram_generated_from_the_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```mermaid\n(.*?)```", text, re.S)
    assert diagram() in blocks, "regenerate with: python -m meshnode.routing.session"


def test_entries_taken_and_given_back_come_out_again_in_priority_order() -> None:
    session = _session()
    for cls, created, fill in ((5, NOW, b"a"), (2, NOW - 9, b"b"), (5, NOW + 1, b"c"),
                               (2, NOW, b"d")):
        session.enqueue(cls, created, fill * 32)
    taken = session.take(3)
    assert [entry[2][:1] for entry in taken] == [b"d", b"b", b"c"]
    session.give_back(taken[1:])
    assert [entry[2][:1] for entry in session.take(3)] == [b"b", b"c", b"a"]
    assert session.take(5) == [] and not session.queue
