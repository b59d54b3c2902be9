"""Proof-of-work stamps in the daemon (`[node] stamp_own`, `require_stamps`; docs/protocol.md
§15): real daemons on loopback, and the configuration that turns stamps on."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshnode.daemon import api
from meshnode.daemon.config import ConfigError, default_config_text, parse_config
from meshnode.daemon.localnet import LocalNet, LocalNode
from tests.daemons import fast_config, links_up, wait_for

STAMPED = fast_config(stamp_own=True, require_stamps=True)


def _posts(node: LocalNode) -> list[str]:
    return [p["text"] for p in node.request(api.Posts("wijk"))["posts"]]


def _rejected(node: LocalNode) -> dict[str, int]:
    stats: dict[str, int] = node.request(api.Status())["counters"]["rejected"]
    return stats


@pytest.fixture
def net(tmp_path: Path) -> Iterator[LocalNet]:
    """A–B–C: A and B stamp what they send and require stamps; C stamps nothing (a node of an
    earlier build, or a flood from a fresh key)."""
    with LocalNet.line(tmp_path, ["A", "B", "C"], STAMPED) as n:
        c = n["C"]
        c.config = dataclasses.replace(c.config, node=dataclasses.replace(
            c.config.node, stamp_own=False, require_stamps=False))
        n.start()
        yield n


@pytest.mark.slow
def test_stamping_daemons_reach_each_other_and_refuse_an_unstamped_new_key(
        net: LocalNet) -> None:
    a, b, c = net["A"], net["B"], net["C"]
    wait_for("links up", lambda: links_up(a, 1)() and links_up(b, 2)() and links_up(c, 1)())
    whoami = b.request(api.Whoami())
    a.request(api.ContactAdd("B", sign_key=bytes.fromhex(whoami["sign_key"]),
                             dh_key=bytes.fromhex(whoami["dh_key"])))
    a.request(api.Post("wijk", "Stroom bij de bakker"))
    c.request(api.Post("wijk", "unstamped junk"))
    a.request(api.SendDm("B", "Alles goed?"))

    wait_for("B holding A's post and DM, and refusing C's post",
             lambda: ("Stroom bij de bakker" in _posts(b)
                      and any(m["text"] == "Alles goed?"
                              for m in b.request(api.Inbox())["messages"])
                      and _rejected(b).get("stamp", 0) >= 1), 60)
    assert "unstamped junk" not in _posts(b)
    # B relayed A's stamped post to C (C does not require stamps), not C's post to A.
    wait_for("C holding A's post", lambda: "Stroom bij de bakker" in _posts(c), 30)
    assert "unstamped junk" not in _posts(a)
    assert _rejected(a).get("stamp", 0) == 0


def test_the_stamp_settings_are_written_in_the_default_config_and_read_back() -> None:
    text = default_config_text()
    assert "stamp_own = false" in text and "require_stamps = false" in text
    config = parse_config(text.replace("stamp_own = false", "stamp_own = true"))
    assert config.node.stamp_own and not config.node.require_stamps
    node = config.node.node_config()
    assert node.stamp_own and not node.require_stamps


def test_a_stamp_setting_that_is_not_a_boolean_is_refused_naming_the_key() -> None:
    text = default_config_text().replace("require_stamps = false", 'require_stamps = "yes"')
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.key == "node.require_stamps"
