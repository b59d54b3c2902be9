"""Daemon configuration: the commented default, round trips, and errors that name the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshnode.daemon.config import (
    ConfigError,
    DaemonConfig,
    LogConfig,
    NodeSettings,
    default_config_text,
    load_config,
    parse_config,
    render_config,
)
from meshnode.node import NodeConfig
from meshnode.routing.limits import Rate
from meshnode.routing.policy import PolicyName
from meshnode.transport.ble_config import BleConfig
from meshnode.transport.udp import Endpoint, UdpConfig


def test_the_commented_default_reads_back_as_the_defaults_with_bluetooth_on() -> None:
    assert parse_config(default_config_text()) == DaemonConfig(ble=BleConfig())
    assert parse_config(default_config_text(ble=False)) == DaemonConfig()
    assert parse_config("") == DaemonConfig()


def test_init_values_are_written_into_the_default() -> None:
    text = default_config_text(name="Hub Noord", listen="10.0.0.1:5000",
                               peers=("10.0.0.2:4917", "hub.local:4917"), discovery=False)
    config = parse_config(text)
    assert config.node.name == "Hub Noord"
    assert config.udp.listen == Endpoint("10.0.0.1", 5000)
    assert config.udp.peers == (Endpoint("10.0.0.2", 4917), Endpoint("hub.local", 4917))
    assert config.udp.discovery is False
    assert "# Disk budget of the message store" in text


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)
endpoints = st.builds(Endpoint, st.sampled_from(["127.0.0.1", "10.0.0.7", "hub.local"]),
                      st.integers(1, 65535))


@given(name=names, store_mb=st.integers(1, 10_000), peers=st.lists(endpoints, max_size=4),
       keepalive=st.floats(0.01, 5), channels=st.lists(st.sampled_from(["a", "wijk-noord"]),
                                                       max_size=2),
       location=st.none() | st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
       fmt=st.sampled_from(["kv", "json"]))
def test_any_valid_config_renders_and_reads_back_equal(
        name: str, store_mb: int, peers: list[Endpoint], keepalive: float,
        channels: list[str], location: tuple[float, float] | None, fmt: str) -> None:
    config = DaemonConfig(
        node=NodeSettings(name=name, store_mb=store_mb, channels=tuple(channels),
                          location=location),
        udp=dataclasses.replace(UdpConfig(), peers=tuple(peers), keepalive=keepalive,
                                link_timeout=keepalive + 1),
        log=LogConfig(format=fmt))
    assert parse_config(render_config(config)) == config


@pytest.mark.parametrize(("text", "key", "words"), [
    ("[udp]\npeer = []", "udp.peer", "did you mean 'peers'"),
    ("[nodes]\n", "nodes", "unknown key"),
    ("udp = 3", "udp", "must be a table"),
    ('[udp]\npeers = ["10.0.0.1"]', "udp.peers[0]", "is not HOST:PORT"),
    ('[udp]\npeers = ["10.0.0.1:0"]', "udp.peers[0]", "port 0"),
    ('[udp]\nlisten = "10.0.0.1:70000"', "udp.listen", "outside 0..65535"),
    ("[udp]\nkeepalive = 5\nlink_timeout = 5", "udp.link_timeout", "longer than"),
    ("[udp]\ndatagram_size = 10", "udp.datagram_size", "64..65000"),
    ('[node]\nstore_mb = "1"', "node.store_mb", "must be an integer"),
    ("[node]\nstore_mb = 0", "node.store_mb", "1..1000000"),
    ("[node]\ntick = -1", "node.tick", "positive"),
    ("[node]\nhop_limit = 99", "node.hop_limit", "at most 32"),
    ("[node]\npost_hops = 33", "node.post_hops", "at most 32"),
    ('[node]\ndm_policy = "flood"', "node.dm_policy", "spray-and-wait"),
    ('[node]\ncheck_ahead = "maybe"', "node.check_ahead", "auto, on, off"),
    ("[node]\nlocation = [91, 0]", "node.location", "not on Earth"),
    ('[node]\nlocation = "here"', "node.location", "[latitude, longitude]"),
    ("[node]\nchannels = [1]", "node.channels[0]", "channel name"),
    ("[node]\npeer_rate = true", "node.peer_rate", "must be a number"),
    ("[udp]\ndiscovery = 1", "udp.discovery", "true or false"),
    ('[log]\nlevel = "loud"', "log.level", "debug, info"),
    ('[log]\nformat = "xml"', "log.format", "kv, json"),
    ('[api]\nsocket = ""', "api.socket", "must not be empty"),
    ("[udp\n", "", "not valid TOML"),
    ('[node]\nname = "a\\u007fb"', "node.name", "control characters"),
    ('[node]\nname = "' + "x" * 65 + '"', "node.name", "allowed 0..64"),
])
def test_errors_name_the_key_and_the_rule(text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert info.value.key == key
    assert words in str(info.value)
    if key:
        assert str(info.value).startswith(f"{key}: ")


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="meshnode init"):
        load_config(tmp_path / "config.toml")
    (tmp_path / "config.toml").write_text("[udp]\nwindow = 0\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "config.toml")
    assert info.value.key == "udp.window" and str(tmp_path) in str(info.value)


def test_node_settings_become_the_node_config() -> None:
    settings = NodeSettings(dm_policy="epidemic", location=(51.9, 4.5), channels=("a",),
                            peer_rate=10, peer_burst=20, session_timeout=5, post_hops=3)
    config = settings.node_config()
    assert config.dm_policy is PolicyName.EPIDEMIC
    assert config.location == (519_000_000, 45_000_000)
    assert config.channels == frozenset({"a"})
    assert config.peer_rate == Rate(10, 20) and config.session_timeout == 5
    assert config.post_hops == 3
    assert NodeSettings().node_config() == NodeConfig()  # unseeded: the OS's randomness


def test_the_web_board_is_off_by_default() -> None:
    assert DaemonConfig().web.enabled is False
    assert parse_config(default_config_text()).web.enabled is False
    assert parse_config("[web]\nplace = 'Sporthal'").web.enabled is False


def test_a_web_section_reads_back_and_round_trips() -> None:
    config = parse_config('[web]\nenabled = true\nlisten = "10.42.0.1:80"\n'
                          'place = "Sporthal De Ark"\nurl = "http://10.42.0.1/"\n'
                          'wifi_name = "Steunpunt"\nlanguage = "en"\nkiosk_seconds = 30\n')
    assert config.web.enabled and config.web.listen == Endpoint("10.42.0.1", 80)
    assert (config.web.place, config.web.language, config.web.kiosk_seconds) == (
        "Sporthal De Ark", "en", 30)
    assert parse_config(render_config(config)) == config


@pytest.mark.parametrize(("text", "key"), [
    ('[web]\nlanguage = "de"', "web.language"),
    ('[web]\nurl = "10.42.0.1"', "web.url"),
    ('[web]\nwifi_name = "' + "x" * 33 + '"', "web.wifi_name"),
    ('[web]\nplace = "a\\nb"', "web.place"),
    ("[web]\nkiosk_seconds = 1", "web.kiosk_seconds"),
    ('[web]\nlisten = "nowhere"', "web.listen"),
    ("[web]\nenabeld = true", "web.enabeld"),
])
def test_web_mistakes_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert err.value.key == key
