"""`meshnode demo`, the README's first command, works with no set-up."""

from __future__ import annotations

import json

from tests.cli.conftest import Run


def test_demo_shows_the_protocol_working(meshnode: Run) -> None:
    result = meshnode("demo", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["forged_post_refused"] is True
    assert summary["relay_could_open"] is False
    assert summary["dm_delivered"] == "Are you OK? We have spare water."
    assert summary["receipt_purges_copy"] is True
    assert 0 < summary["post_bytes"] < 300


def test_demo_human_output(meshnode: Run) -> None:
    result = meshnode("demo")
    assert result.returncode == 0, result.stderr
    assert "Bram opens it" in result.stdout
    assert "cannot open this direct message" in result.stdout
