"""Fidelity of trace replay, found by replaying real traces: each test is a regression."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from sim.driver import Simulation
from sim.linkmodel import initial_charge
from sim.metrics import BoundViolation, summarise
from sim.rng import Streams
from sim.scenario import Scenario, bundled, parse_scenario


def replay(tmp_path: Path, trace: str, *, residents: int, extra: str = "",
           duration: str = "10m", alert_at: str = "1m", frame_loss: float = 0.0) -> Scenario:
    """A trace scenario with one hub ("0"), no posts or DMs, one alert from the hub."""
    (tmp_path / "t.one").write_text(trace)
    return parse_scenario(
        f'[scenario]\nduration = "{duration}"\nstep = "10s"\n'
        f'[population]\nresidents = {residents}\nhubs = 1\n'
        '[mobility]\nmodel = "trace"\n[trace]\nfile = "t.one"\nhub_ids = ["0"]\n'
        f'[ble]\nframe_loss = {frame_loss}\n{extra}'
        '[workload]\nposts_per_hour = 0.0\ndms_per_day = 0.0\n'
        f'[[workload.alerts]]\nat = "{alert_at}"\nhub = 0\n', base=tmp_path)


PHANTOM = ("10 CONN 1 2 up\n10 CONN 1 4 up\n20 CONN 1 3 up\n30 CONN 1 2 down\n"
           "30 CONN 1 3 down\n40 CONN 1 4 down\n100 CONN 0 1 up\n110 CONN 0 1 down\n")


def test_a_retry_queued_at_a_pairs_down_does_not_reopen_the_link(tmp_path: Path) -> None:
    """Phone 1 is full (2 slots) when 1-3 comes up; 1-2 going down at 30 s frees a slot at the
    very instant 1-3 goes down too. The retry must not link 1-3 until its next `down`. (The
    slot rule is off: with it, phone 1 would rightly give an idle link up for 1-3 at 20 s.)"""
    scenario = replay(tmp_path, PHANTOM, residents=4,
                      extra="phone_connections = 2\nslot_rule = false\n")
    out = Simulation(scenario).run()
    summary = summarise(out, 1.0)
    alert = summary["alerts"][0]
    assert alert["final_oracle"] == 0.25  # only phone 1 ever meets the hub after the alert
    assert alert["final_coverage"] == 0.25
    assert out.links_made == 3  # 1-2, 1-4, 0-1: never 1-3


def test_a_replayed_link_pays_no_set_up_so_the_oracle_does_not_charge_one(tmp_path: Path) -> None:
    """A half-second contact carries the alert (replayed links are up at the trace's time);
    the oracle must not call that impossible by charging a connection set-up per hop."""
    trace = "100 CONN 0 1 up\n100.5 CONN 0 1 down\n200 CONN 1 2 up\n300 CONN 1 2 down\n"
    out = Simulation(replay(tmp_path, trace, residents=2)).run()
    alert = summarise(out, 1.0)["alerts"][0]
    assert alert["final_coverage"] == 1.0
    assert alert["final_oracle"] == 1.0


def test_an_arrival_before_the_bound_is_an_error_naming_the_alert(tmp_path: Path) -> None:
    out = Simulation(replay(tmp_path, PHANTOM, residents=4)).run()
    summarise(out, 1.0)  # the run as simulated keeps the bound
    # Phone 3 never meets anyone after the alert: holding it is impossible.
    out.alert_arrival[0][3] = 70.0
    with pytest.raises(BoundViolation, match=r"alert 0: node 3 was reached at 70\.0+ s"):
        summarise(out, 1.0)


def test_a_dm_delivered_before_the_bound_is_an_error_naming_the_dm(tmp_path: Path) -> None:
    # The hub's and phone 3's only contact lasts no time at all: it carries nothing.
    trace = "100 CONN 1 2 up\n400 CONN 1 2 down\n500 CONN 0 3 up\n500 CONN 0 3 down\n"
    scenario = replay(tmp_path, trace, residents=3)
    scenario = dataclasses.replace(scenario, workload=dataclasses.replace(
        scenario.workload, alerts=(), dms_per_day=2_000.0))
    out = Simulation(scenario).run()
    summarise(out, 1.0)
    assert out.dm_created
    # A DM to phone 3, which meets nobody, cannot have been delivered.
    lonely = next(i for i, (_, _, target) in out.dm_created.items() if target == 3)
    out.dm_delivered[lonely] = out.dm_created[lonely][0] + 1.0
    with pytest.raises(BoundViolation, match=f"DM {lonely.hex()} from node [12] to node 3"):
        summarise(out, 1.0)


def test_a_dead_phone_uses_exactly_its_charge_and_nothing_after() -> None:
    scenario = bundled("small")
    scenario = dataclasses.replace(
        scenario, scenario=dataclasses.replace(scenario.scenario, duration=1_800.0),
        battery=dataclasses.replace(scenario.battery, capacity=0.1, initial=(0.05, 1.0)))
    out = Simulation(scenario).run()
    charge = initial_charge(Streams(scenario.scenario.seed).generator("battery"),
                            scenario.battery, len(out.kinds))
    dead = np.isfinite(out.died_at)
    assert 0 < dead.sum() < len(out.kinds) - (out.kinds == 0).sum()
    assert np.allclose(out.energy[dead], charge[dead], rtol=1e-9, atol=0)
    assert np.all(out.energy[~dead & (out.kinds == 1)] < charge[~dead & (out.kinds == 1)])


def test_the_oracle_knows_a_dead_phone_cannot_be_reached(tmp_path: Path) -> None:
    """Phone 2's battery dies long before it meets phone 1: neither the run nor the bound
    may count it."""
    trace = "100 CONN 0 1 up\n200 CONN 0 1 down\n1000 CONN 1 2 up\n1100 CONN 1 2 down\n"
    scenario = replay(tmp_path, trace, residents=2, duration="30m")
    scenario = dataclasses.replace(scenario, battery=dataclasses.replace(
        scenario.battery, capacity=0.01, initial=(0.5, 0.5)))
    out = Simulation(scenario).run()
    assert np.all(out.died_at[1:] < 1000)
    alert = summarise(out, 1.0)["alerts"][0]
    assert alert["final_coverage"] == alert["final_oracle"] == 0.5


def test_a_lost_frame_is_sent_again_within_the_same_contact(tmp_path: Path) -> None:
    """Half of all frames are lost, yet a 30 s contact carries the alert every time: the link
    sends a lost frame again, as BLE's link layer and the UDP link's ARQ do."""
    trace = "100 CONN 0 1 up\n130 CONN 0 1 down\n"
    lost = 0
    for seed in range(1, 9):
        scenario = replay(tmp_path, trace, residents=1, frame_loss=0.5)
        scenario = dataclasses.replace(
            scenario, scenario=dataclasses.replace(scenario.scenario, seed=seed))
        out = Simulation(scenario).run()
        lost += out.frames_lost
        alert = summarise(out, 1.0)["alerts"][0]
        assert alert["final_coverage"] == 1.0, seed
    assert lost > 8


def test_a_zero_length_contact_opens_a_link_that_carries_nothing(tmp_path: Path) -> None:
    trace = "100 CONN 0 1 up\n100 CONN 0 1 down\n"
    out = Simulation(replay(tmp_path, trace, residents=1)).run()
    alert = summarise(out, 1.0)["alerts"][0]
    assert out.links_made == 1 and len(out.contacts or ()) == 1
    assert alert["final_coverage"] == alert["final_oracle"] == 0.0
