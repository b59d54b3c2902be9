"""`meshnode demo`, the README's first command: real daemons, no set-up, nothing left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.cli.conftest import Run


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_demo_pushes_an_alert_and_a_dm_across_a_line_of_daemons(meshnode: Run,
                                                                 tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = meshnode("demo", "--json", env={"TMPDIR": str(scratch)})
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["nodes"] == ["Anna", "Bram", "Carla", "Daan"]
    assert summary["complete"] is True and summary["clean_shutdown"] is True
    alert = summary["alert"]
    assert alert["everywhere"] is True and alert["covers_last_node"] is True
    arrived = [alert["arrived_ms"][name] for name in summary["nodes"]]
    assert arrived == sorted(arrived) and arrived[0] >= 0  # hop after hop along the line
    assert summary["forged_alert_refused"] is True
    assert "signature" in summary["forged_alert_reason"]
    dm = summary["dm"]
    assert dm["delivered_text"] == dm["sent"] and dm["from_first_node"] is True
    assert dm["relays_could_read"] is False
    assert 0 < dm["ms"] <= dm["receipt_ms"]
    assert summary["elapsed_s"] < 60
    assert len(summary["daemon_pids"]) == 4
    assert not any(_alive(pid) for pid in summary["daemon_pids"])
    assert list(scratch.iterdir()) == []  # temporary data directories removed


def test_demo_human_output(meshnode: Run) -> None:
    result = meshnode("demo", "--nodes", "3")
    assert result.returncode == 0, result.stderr
    assert "3 daemons in a line" in result.stdout
    assert "Carla opens Anna's sealed message" in result.stdout
    assert "could not read it" in result.stdout
    assert "refused" in result.stdout
