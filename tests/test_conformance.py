"""`meshnode conformance` against real daemon processes on loopback: meshnode itself passes
every rule; deliberately broken peers (tests/conformance_peers.py, or a misconfigured daemon)
fail exactly the rules they break."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from cli.main import main as cli_main
from meshnode.conformance import RULES, Outcome, Status, load_authority, run_conformance
from meshnode.conformance.runner import Options, sources_for
from meshnode.crypto.identity import Identity
from meshnode.crypto.signing import create_post
from meshnode.daemon import api
from meshnode.daemon.config import DaemonConfig
from meshnode.daemon.localnet import LocalNode, free_udp_ports
from meshnode.transport.udp import Endpoint
from meshnode.wire import encode_message

PEERS = Path(__file__).with_name("conformance_peers.py")
LINK_RULES = range(1, 11)


def _config(**udp: object) -> DaemonConfig:
    (port,) = free_udp_ports(1)
    base = DaemonConfig()
    return dataclasses.replace(base, udp=dataclasses.replace(
        base.udp, listen=Endpoint("127.0.0.1", port), discovery=False, **udp))


@contextlib.contextmanager
def _daemon(tmp: Path, *, mode: str | None = None, pin: bool = True,
            **udp: object) -> Iterator[LocalNode]:
    """A daemon process on loopback: meshnode's own, or a broken one of conformance_peers."""
    node = LocalNode("under-test", tmp / "node", _config(**udp))
    node.setup(roots=[tmp / "authority" / "root.pub"] if pin else [])
    if mode is None:
        node.start()
    else:
        node.process = subprocess.Popen(
            [sys.executable, str(PEERS), mode, str(node.data_dir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(node.data_dir / "stderr.log", "ab"))  # noqa: SIM115 (the child owns it)
    try:
        node.wait_ready()
        yield node
    finally:
        node.stop()


def _run(tmp: Path, node: LocalNode, posts: int = 300, **waits: float) -> dict[int, Outcome]:
    """The runner's outcomes against `node`. `waits` lowers a timeout of `Options` where the
    test's peer is known to stall there and no rule it asserts to pass depends on the wait."""
    target = node.config.udp.listen
    # A session on loopback takes seconds; a broken peer's stall need not cost a minute.
    options = Options(target, load_authority(tmp / "authority"), node.identity.public,
                      posts=posts, sources=sources_for(target, None),
                      **{"session_timeout": 20.0, **waits})
    report = trio.run(run_conformance, options)
    assert [o.rule.number for o in report.outcomes] == [r.number for r in RULES]
    return {o.rule.number: o for o in report.outcomes}


def _failing(outcomes: dict[int, Outcome]) -> set[int]:
    return {n for n, o in outcomes.items() if o.status in (Status.FAIL, Status.WARN)}


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    load_authority(tmp_path / "authority")  # the test root, pinned by the daemons
    return tmp_path


def test_a_meshnode_daemon_passes_every_rule_from_the_command_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "meshnode.conformance", "--spawn", "--json",
         "--authority", str(tmp_path / "authority")],
        capture_output=True, timeout=300, check=False)
    report = json.loads(done.stdout)
    failed = [r for r in report["rules"] if r["status"] != "pass"]
    assert failed == [], done.stderr.decode()[-2000:]
    assert [r["number"] for r in report["rules"]] == [r.number for r in RULES]
    assert done.returncode == 0 and report["passed"] is True


def test_a_peer_that_never_sends_hello_fails_the_hello_rule_and_only_the_session_rules(
        tmp: Path) -> None:
    with _daemon(tmp, mode="no-hello") as node:
        # The rules this test requires to pass are decided before these waits begin.
        outcomes = _run(tmp, node, frame_timeout=3.0, session_timeout=3.0,
                        receipt_timeout=1.0)
    assert outcomes[15].status is Status.FAIL
    assert outcomes[19].status is not Status.PASS  # no new exchange without a Hello
    assert all(outcomes[n].status is Status.PASS for n in (*LINK_RULES, 11, 12, 14))


def test_a_peer_that_mis_signs_what_it_sends_and_lacks_the_root_fails_just_those_rules(
        tmp: Path) -> None:
    with _daemon(tmp, mode="mis-sign", pin=False) as node:
        outcomes = _run(tmp, node)
    assert _failing(outcomes) == {21, 22, 28, 32}
    assert "signature does not verify" in outcomes[28].detail
    assert "none accepted" in outcomes[21].detail
    assert "is the test root pinned?" in outcomes[22].detail
    assert "0 of the 325 posts it was given reached a fresh node" in outcomes[32].detail


def test_a_peer_that_drops_some_posts_it_asked_for_fails_the_reconciliation_rules(
        tmp: Path) -> None:
    with _daemon(tmp, mode="forgetful") as node:
        outcomes = _run(tmp, node)
    assert _failing(outcomes) == {30, 31, 32}
    assert "25 of 25 new posts and" in outcomes[30].detail
    assert " of the 300 it holds wanted or pushed" in outcomes[30].detail
    assert "of the runner's posts wanted or pushed again" in outcomes[31].detail
    assert "of the 325 posts it was given reached a fresh node" in outcomes[32].detail


def test_a_daemon_sending_and_taking_oversized_datagrams_fails_the_datagram_size_rules(
        tmp: Path) -> None:
    with _daemon(tmp, datagram_size=2_000) as node:
        # Posts the runner lacks: the daemon sends them in one burst, packed past 1,200 bytes.
        for i in range(20):
            post = create_post(Identity.generate(), "conformance", f"{i:03} " + "x" * 400,
                               int(time.time()))
            assert node.request(api.Inject(encode_message(post)))["accepted"] is True
        # Its burst of oversized datagrams stalls the session for good (the reference link
        # drops them); the Hello (rule 15) still comes first, within seconds.
        outcomes = _run(tmp, node, frame_timeout=5.0, session_timeout=2.0,
                        receipt_timeout=1.0)
    assert {8, 29} <= _failing(outcomes)
    assert "datagram was acknowledged" in outcomes[8].detail
    assert "datagram(s) over 1,200 bytes" in outcomes[29].detail
    assert all(outcomes[n].status is Status.PASS for n in (*LINK_RULES, 11, 12, 14, 15) if n != 8)


def test_the_guide_lists_every_rule_with_its_section_and_level() -> None:
    guide = (Path(__file__).parents[1] / "docs" / "conformance.md").read_text("utf-8")
    rows = [line for line in guide.splitlines() if line.startswith("| ") and "§" in line]
    assert rows == [f"| {r.number} | {r.section} | {r.level.value} | {r.claim} |"
                    for r in RULES]


def test_an_address_where_nothing_answers_passes_no_rule_and_fails_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (port,) = free_udp_ports(1)
    # Nothing can answer: the default 12 s wait for the reference link would prove no more.
    status = cli_main(["conformance", f"127.0.0.1:{port}", "--json", "--link-timeout", "2",
                       "--authority", str(tmp_path / "authority")])
    report = json.loads(capsys.readouterr().out)
    assert status == 1 and report["passed"] is False
    assert report["counts"]["pass"] == 0
    by_number = {r["number"]: r for r in report["rules"]}
    assert by_number[1]["detail"].startswith("no CHALLENGE within 1 s")
    assert by_number[14]["status"] == "fail"
    assert by_number[14]["detail"] == "the reference link did not come up within 2 s"


def test_the_command_refuses_a_run_without_a_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["conformance"]) == 2
    assert "HOST:PORT or --spawn" in capsys.readouterr().err


def test_a_real_authoritys_root_folder_is_refused_not_used_to_certify_a_test_issuer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = tmp_path / "region-root"
    assert cli_main(["authority", "init-root", "--dir", str(real), "--name", "Region root",
                     "--data-dir", str(tmp_path / "data")]) == 0
    before = (real / "root.key").read_bytes()
    (port,) = free_udp_ports(1)
    assert cli_main(["conformance", f"127.0.0.1:{port}", "--authority", str(real)]) == 2
    assert "is not a conformance test root" in capsys.readouterr().err
    assert (real / "root.key").read_bytes() == before
