"""The daemon's configuration: a TOML file, validated into frozen dataclasses.

`load_config(path)` reads and checks a file; `parse_config(text)` a string. Every problem raises
`ConfigError` naming the key (``udp.peers[1]: 'x' is not HOST:PORT``); unknown keys are errors
too, with a suggestion, so that a typo never silently leaves a default in place.
`default_config_text()` is the commented file `meshnode init` writes.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from meshnode.codec import WireError, check_text
from meshnode.daemon.paths import CONFIG_FILE, DEFAULT_SOCKET
from meshnode.daemon.tls import TlsError, read_certificate
from meshnode.node import NodeConfig
from meshnode.routing.limits import Rate
from meshnode.routing.policy import PolicyName
from meshnode.transport.bitchat.config import BitchatConfig, BitchatConfigError
from meshnode.transport.ble_config import BleConfig, BleConfigError
from meshnode.transport.udp import Endpoint, UdpConfig
from meshnode.wire import CHANNEL_MAX, NAME_MAX

__all__ = [
    "CHECK_AHEAD",
    "CONFIG_FILE",
    "ApiConfig",
    "ConfigError",
    "DaemonConfig",
    "LogConfig",
    "NodeSettings",
    "WebConfig",
    "default_config_text",
    "load_config",
    "parse_config",
    "render_config",
]

T = TypeVar("T")
LOG_LEVELS = ("debug", "info", "warning", "error")
CHECK_AHEAD = ("auto", "on", "off")  # `[node] check_ahead`: see `Daemon` (the check-ahead worker)
_NODE = NodeConfig()  # the protocol's own defaults
LOG_FORMATS = ("kv", "json")
MIB = 1024 * 1024
WEB_LISTEN = Endpoint("0.0.0.0", 8080)  # the board's default address (when enabled)


class ConfigError(Exception):
    """A configuration value is missing, mistyped or out of range; `key` names it."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """The `[node]` table: identity card, store size, protocol tunables and abuse limits."""

    name: str = ""
    store_mb: int = 256
    channels: tuple[str, ...] = ()
    location: tuple[float, float] | None = None
    tick: float = 1.0
    hop_limit: int = _NODE.hop_limit
    post_hops: int = _NODE.post_hops
    dm_policy: str = _NODE.dm_policy.value
    spray_copies: int = _NODE.spray_copies
    session_timeout: int = _NODE.session_timeout
    resync_interval: int = _NODE.resync_interval
    peer_rate: float = _NODE.peer_rate.per_second
    peer_burst: float = _NODE.peer_rate.burst
    post_rate: float = _NODE.post_rate.per_second
    post_burst: float = _NODE.post_rate.burst
    serve_rate: float = _NODE.serve_rate.per_second
    serve_burst: float = _NODE.serve_rate.burst
    author_posts_per_hour: int = _NODE.author_posts_per_hour
    stamp_own: bool = _NODE.stamp_own
    require_stamps: bool = _NODE.require_stamps
    check_ahead: str = "auto"  # one of CHECK_AHEAD (meshnode.daemon.checkahead)

    def node_config(self) -> NodeConfig:
        """The `Node`'s own configuration."""
        location = None
        if self.location is not None:
            location = (round(self.location[0] * 10**7), round(self.location[1] * 10**7))
        return NodeConfig(
            dm_policy=PolicyName(self.dm_policy),
            spray_copies=self.spray_copies,
            hop_limit=self.hop_limit,
            post_hops=self.post_hops,
            peer_rate=Rate(self.peer_rate, self.peer_burst),
            post_rate=Rate(self.post_rate, self.post_burst),
            serve_rate=Rate(self.serve_rate, self.serve_burst),
            author_posts_per_hour=self.author_posts_per_hour,
            session_timeout=self.session_timeout,
            resync_interval=self.resync_interval,
            location=location,
            channels=frozenset(self.channels) if self.channels else None,
            stamp_own=self.stamp_own,
            require_stamps=self.require_stamps,
        )


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """The `[api]` table: the local control socket."""

    socket: str = DEFAULT_SOCKET
    max_clients: int = 16
    # Connections one client process (by its pid) may hold, so one cannot take every slot.
    max_per_client: int = 8
    # Seconds a connection may wait without sending a request (subscribers are exempt).
    idle_timeout: float = 300.0


@dataclass(frozen=True, slots=True)
class LogConfig:
    """The `[log]` table."""

    level: str = "info"
    format: str = "kv"
    file: str = ""


@dataclass(frozen=True, slots=True)
class WebConfig:
    """The `[web]` table: the steunpunt's public information board (docs/steunpunt.md).

    Off by default; a hub at a neighbourhood support point turns it on. `place` is the
    steunpunt's name and address as residents know it; `url` is the board's address that the
    join card prints (and encodes in its QR code); `wifi_name` and `wifi_password` are the
    hub's own access point ("" = an open network), printed on the card.
    """

    enabled: bool = False
    listen: Endpoint = WEB_LISTEN
    place: str = ""
    url: str = ""
    wifi_name: str = ""
    wifi_password: str = ""
    language: str = "nl"
    kiosk_seconds: int = 20
    # The resident node in the browser (/app/) and its WebSocket sync link (/sync): each
    # browser is a mesh peer with a peer's limits, at most `max_residents` at once.
    residents: bool = True
    max_residents: int = 64
    # HTTPS (docs/steunpunt.md, "HTTPS"): absolute paths of the certificate chain and its key
    # (PEM); both or neither. With them the board, the app and /sync are served over TLS.
    tls_cert: str = ""
    tls_key: str = ""
    # With HTTPS: a plain-HTTP listener that only redirects to `url` (phones' captive-portal
    # checks and typed addresses use http://), or None.
    redirect_listen: Endpoint | None = None


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    node: NodeSettings = field(default_factory=NodeSettings)
    udp: UdpConfig = field(default_factory=UdpConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    log: LogConfig = field(default_factory=LogConfig)
    ble: BleConfig | None = None  # [transport.ble] with enabled = true
    bitchat: BitchatConfig | None = None  # [gateway.bitchat] with enabled = true
    web: WebConfig = field(default_factory=WebConfig)


# --- reading -----------------------------------------------------------------------------------


def load_config(path: Path) -> DaemonConfig:
    """Read and validate a config file; a missing file is a `ConfigError` naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("", f"{path}: no such file (create one with `meshnode init`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"{path}: cannot read it ({exc})") from exc
    try:
        return parse_config(text)
    except ConfigError as exc:
        raise ConfigError(exc.key, f"{exc.problem} (in {path})") from exc


def parse_config(text: str) -> DaemonConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"not valid TOML: {exc}") from exc
    except RecursionError:
        # tomllib recurses once per nested array or inline table.
        raise ConfigError("", "not valid TOML: nested too deeply") from None
    _known("", data, {"node", "udp", "api", "log", "transport", "gateway", "web"})
    return DaemonConfig(
        node=_node(_table(data, "node")),
        udp=_udp(_table(data, "udp")),
        api=_api(_table(data, "api")),
        log=_logging(_table(data, "log")),
        ble=_ble(data.get("transport", {})),
        bitchat=_bitchat(data.get("gateway", {})),
        web=_web(_table(data, "web")),
    )


def _ble(transport: object) -> BleConfig | None:
    """The `[transport.ble]` table: None unless `enabled = true`."""
    return _optional(transport, "transport", "ble", BleConfig.from_mapping)


def _bitchat(gateway: object) -> BitchatConfig | None:
    """The `[gateway.bitchat]` table: None unless `enabled = true`."""
    return _optional(gateway, "gateway", "bitchat", BitchatConfig.from_mapping)


def _optional(outer: object, prefix: str, name: str,
              parse: Callable[[dict[str, Any]], T]) -> T | None:
    """An optional `[prefix.name]` table parsed by `parse` (its ValueError names the key),
    or None unless it says `enabled = true`."""
    section = f"{prefix}.{name}"
    if not isinstance(outer, dict):
        raise ConfigError(prefix, f"must be a table, e.g. [{section}]")
    _known(prefix, outer, {name})
    table = outer.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(section, f"must be a table, e.g. [{section}]")
    if not _get(table, section, "enabled", bool, False):
        return None
    try:
        return parse({k: v for k, v in table.items() if k != "enabled"})
    except (BleConfigError, BitchatConfigError) as exc:
        raise ConfigError(section, str(exc)) from None


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(key, "must be a table, e.g. [" + key + "]")
    _known(key, value, _FIELDS[key])
    return value


def _known(prefix: str, table: dict[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            near = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            name = f"{prefix}.{key}" if prefix else key
            raise ConfigError(name, f"unknown key{hint}")


def _get(table: dict[str, Any], section: str, key: str, kind: type, default: Any) -> Any:
    value = table.get(key, default)
    name = f"{section}.{key}"
    if kind is float and type(value) is int:
        value = float(value)
    if type(value) is not kind:
        raise ConfigError(name, f"must be {_TYPE_NAMES[kind]}, got {value!r}")
    return value


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number",
               bool: "true or false", list: "a list"}


def _positive(name: str, value: float, *, zero: bool = False) -> None:
    if value < 0 or (value == 0 and not zero):
        raise ConfigError(name, f"must be {'at least 0' if zero else 'positive'}, got {value}")


def _node(t: dict[str, Any]) -> NodeSettings:
    d = NodeSettings()
    s = "node"
    name = _get(t, s, "name", str, d.name)
    try:
        check_text(name, "node.name", hi=NAME_MAX)
    except WireError as exc:
        raise ConfigError("node.name", exc.rule) from None
    store_mb = _get(t, s, "store_mb", int, d.store_mb)
    if not 1 <= store_mb <= 1_000_000:
        raise ConfigError("node.store_mb", f"must be 1..1000000 (MiB), got {store_mb}")
    channels = _get(t, s, "channels", list, list(d.channels))
    for i, ch in enumerate(channels):
        if type(ch) is not str or not ch or len(ch) > CHANNEL_MAX:
            raise ConfigError(f"node.channels[{i}]", f"must be a channel name, got {ch!r}")
    location = t.get("location")
    loc: tuple[float, float] | None = None
    if location is not None:
        if (not isinstance(location, list) or len(location) != 2
                or not all(type(x) in (int, float) for x in location)):
            raise ConfigError("node.location", "must be [latitude, longitude] in degrees")
        lat, lon = float(location[0]), float(location[1])
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ConfigError("node.location", f"[{lat}, {lon}] is not on Earth")
        loc = (lat, lon)
    tick = _get(t, s, "tick", float, d.tick)
    _positive("node.tick", tick)
    dm_policy = _get(t, s, "dm_policy", str, d.dm_policy)
    policies = [p.value for p in PolicyName]
    if dm_policy not in policies:
        raise ConfigError("node.dm_policy", f"must be one of {', '.join(policies)}")
    ints = {k: _get(t, s, k, int, getattr(d, k)) for k in (
        "hop_limit", "post_hops", "spray_copies", "session_timeout", "resync_interval",
        "author_posts_per_hour")}
    for k, v in ints.items():
        _positive(f"node.{k}", v)
    for k in ("hop_limit", "post_hops"):
        if ints[k] > 32:
            raise ConfigError(f"node.{k}", "at most 32")
    if ints["spray_copies"] > 64:
        raise ConfigError("node.spray_copies", "at most 64")
    rates = {k: _get(t, s, k, float, getattr(d, k)) for k in (
        "peer_rate", "peer_burst", "post_rate", "post_burst", "serve_rate", "serve_burst")}
    for k, v in rates.items():
        _positive(f"node.{k}", v)
    stamps = {k: _get(t, s, k, bool, getattr(d, k)) for k in ("stamp_own", "require_stamps")}
    check_ahead = _get(t, s, "check_ahead", str, d.check_ahead)
    if check_ahead not in CHECK_AHEAD:
        raise ConfigError("node.check_ahead", f"must be one of {', '.join(CHECK_AHEAD)}")
    return NodeSettings(name=name, store_mb=store_mb, channels=tuple(channels), location=loc,
                        tick=tick, dm_policy=dm_policy, **ints, **rates, **stamps,
                        check_ahead=check_ahead)


def _endpoint(name: str, value: object) -> Endpoint:
    if type(value) is not str:
        raise ConfigError(name, f"must be a \"HOST:PORT\" string, got {value!r}")
    try:
        return Endpoint.parse(value)
    except ValueError as exc:
        raise ConfigError(name, str(exc)) from None


def _udp(t: dict[str, Any]) -> UdpConfig:
    d = UdpConfig()
    s = "udp"
    listen = _endpoint("udp.listen", t.get("listen", str(d.listen)))
    peers_raw = _get(t, s, "peers", list, [])
    peers = tuple(_endpoint(f"udp.peers[{i}]", p) for i, p in enumerate(peers_raw))
    for i, p in enumerate(peers):
        if p.port == 0:
            raise ConfigError(f"udp.peers[{i}]", "port 0 is not a peer's port")
    group = _endpoint("udp.group", t.get("group", str(d.group)))
    floats = {k: _get(t, s, k, float, getattr(d, k)) for k in (
        "discovery_interval", "keepalive", "link_timeout", "relink_interval", "penalty")}
    for k, v in floats.items():
        _positive(f"udp.{k}", v)
    if floats["link_timeout"] <= floats["keepalive"]:
        raise ConfigError("udp.link_timeout", "must be longer than udp.keepalive")
    size = _get(t, s, "datagram_size", int, d.datagram_size)
    if not 64 <= size <= 65_000:
        raise ConfigError("udp.datagram_size", f"must be 64..65000 bytes, got {size}")
    max_links = _get(t, s, "max_links", int, d.max_links)
    _positive("udp.max_links", max_links, zero=True)
    per_host = _get(t, s, "max_links_per_host", int, d.max_links_per_host)
    _positive("udp.max_links_per_host", per_host, zero=True)
    relink_burst = _get(t, s, "relink_burst", int, d.relink_burst)
    _positive("udp.relink_burst", relink_burst)
    window = _get(t, s, "window", int, d.window)
    if not 1 <= window <= 1024:
        raise ConfigError("udp.window", f"must be 1..1024 datagrams, got {window}")
    return UdpConfig(
        listen=listen, peers=peers, discovery=_get(t, s, "discovery", bool, d.discovery),
        group=group, datagram_size=size, max_links=max_links, window=window,
        accept_unknown=_get(t, s, "accept_unknown", bool, d.accept_unknown),
        max_links_per_host=per_host, relink_burst=relink_burst, **floats,
    )


def _api(t: dict[str, Any]) -> ApiConfig:
    d = ApiConfig()
    sock = _get(t, "api", "socket", str, d.socket)
    if not sock:
        raise ConfigError("api.socket", "must not be empty")
    clients = _get(t, "api", "max_clients", int, d.max_clients)
    if not 1 <= clients <= 1024:
        raise ConfigError("api.max_clients", f"must be 1..1024, got {clients}")
    per_client = _get(t, "api", "max_per_client", int, d.max_per_client)
    if not 1 <= per_client <= 1024:  # above max_clients it simply never binds
        raise ConfigError("api.max_per_client", f"must be 1..1024, got {per_client}")
    idle = _get(t, "api", "idle_timeout", float, d.idle_timeout)
    _positive("api.idle_timeout", idle)
    return ApiConfig(socket=sock, max_clients=clients, max_per_client=per_client,
                     idle_timeout=idle)


def _logging(t: dict[str, Any]) -> LogConfig:
    d = LogConfig()
    level = _get(t, "log", "level", str, d.level).lower()
    if level not in LOG_LEVELS:
        raise ConfigError("log.level", f"must be one of {', '.join(LOG_LEVELS)}")
    fmt = _get(t, "log", "format", str, d.format)
    if fmt not in LOG_FORMATS:
        raise ConfigError("log.format", f"must be one of {', '.join(LOG_FORMATS)}")
    return LogConfig(level=level, format=fmt, file=_get(t, "log", "file", str, d.file))


WEB_LANGUAGES = ("nl", "en")
_WEB_TEXT_MAX = 200  # characters of place, url and Wi-Fi name: they must fit on a card


def _web(t: dict[str, Any]) -> WebConfig:
    d = WebConfig()
    s = "web"
    listen = _endpoint("web.listen", t.get("listen", str(d.listen)))
    texts = {k: _get(t, s, k, str, getattr(d, k)) for k in (
        "place", "url", "wifi_name", "wifi_password")}
    for k, v in texts.items():
        if len(v) > _WEB_TEXT_MAX or any(c < " " or c == "\x7f" for c in v):
            raise ConfigError(f"web.{k}", f"must be one line of at most {_WEB_TEXT_MAX} "
                                          "characters")
    if len(texts["wifi_name"].encode()) > 32:
        raise ConfigError("web.wifi_name", "a Wi-Fi network name is at most 32 bytes")
    if texts["url"] and not texts["url"].startswith(("http://", "https://")):
        raise ConfigError("web.url", "must start with http:// or https:// "
                                     "(e.g. http://10.42.0.1:8080/)")
    language = _get(t, s, "language", str, d.language)
    if language not in WEB_LANGUAGES:
        raise ConfigError("web.language", f"must be one of {', '.join(WEB_LANGUAGES)}")
    kiosk = _get(t, s, "kiosk_seconds", int, d.kiosk_seconds)
    if not 5 <= kiosk <= 600:
        raise ConfigError("web.kiosk_seconds", f"must be 5..600, got {kiosk}")
    max_residents = _get(t, s, "max_residents", int, d.max_residents)
    if not 1 <= max_residents <= 4096:
        raise ConfigError("web.max_residents", f"must be 1..4096, got {max_residents}")
    enabled = _get(t, s, "enabled", bool, d.enabled)
    tls_cert, tls_key = (_get(t, s, k, str, "") for k in ("tls_cert", "tls_key"))
    redirect = t.get("redirect_listen", "")
    redirect_listen = _endpoint("web.redirect_listen", redirect) if redirect != "" else None
    if enabled:
        _check_https(texts["url"], tls_cert, tls_key, redirect_listen)
    return WebConfig(enabled=enabled, listen=listen,
                     language=language, kiosk_seconds=kiosk,
                     residents=_get(t, s, "residents", bool, d.residents),
                     max_residents=max_residents, tls_cert=tls_cert, tls_key=tls_key,
                     redirect_listen=redirect_listen, **texts)


def _check_https(url: str, cert: str, key: str, redirect: Endpoint | None) -> None:
    """HTTPS is all or nothing: both files, usable together, for the name the card prints."""
    if not cert and not key:
        if redirect is not None:
            raise ConfigError("web.redirect_listen", "redirects to HTTPS, so it needs "
                                                     "web.tls_cert and web.tls_key")
        return
    if not cert or not key:
        missing = "web.tls_key" if cert else "web.tls_cert"
        raise ConfigError(missing, "HTTPS needs both web.tls_cert (the certificate chain) "
                                   "and web.tls_key (its private key)")
    try:
        certificate = read_certificate(cert, key)
    except TlsError as exc:
        raise ConfigError(exc.key, exc.problem) from None
    if not url:
        if redirect is not None:
            raise ConfigError("web.url", "web.redirect_listen sends phones to web.url: set "
                                         "it, e.g. \"https://steunpunt.example.nl:8443/\"")
        return
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise ConfigError("web.url", "the board is served over HTTPS (web.tls_cert): the "
                                     "card must print its https:// address")
    if not certificate.covers(parts.hostname or ""):
        raise ConfigError("web.url", f"the certificate in {cert} is not for "
                                     f"{parts.hostname!r} (it names "
                                     f"{', '.join(certificate.names) or 'nothing'}): phones "
                                     "would refuse it; print the name it is for")


_FIELDS: dict[str, set[str]] = {
    "node": set(NodeSettings.__dataclass_fields__),
    "udp": set(UdpConfig.__dataclass_fields__),
    "api": set(ApiConfig.__dataclass_fields__),
    "log": set(LogConfig.__dataclass_fields__),
    "web": set(WebConfig.__dataclass_fields__),
}


# --- writing -----------------------------------------------------------------------------------


def _toml_str(text: str) -> str:
    """A TOML basic string: quote, backslash and every control character escaped."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c < " " or c == "\x7f":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def default_config_text(*, name: str = "", listen: str | None = None,
                        peers: tuple[str, ...] = (), discovery: bool = True,
                        ble: bool = True) -> str:
    """The commented configuration `meshnode init` writes, with the given values filled in.

    Bluetooth LE is on unless `ble` is false: it is the mesh's radio, and a node that never
    uses it must be a choice the file shows, not a section left out.
    """
    d = DaemonConfig()
    n, u, b = d.node, d.udp, BleConfig()
    peer_list = ", ".join(_toml_str(p) for p in peers)
    return f"""\
# meshnode daemon configuration (`meshnode run` reads it; flags override it).
# Every key is optional: what is left out takes the default shown.

[node]
# Display name announced to the mesh with this node's keys ("" announces nothing).
name = {_toml_str(name)}
# Disk budget of the message store, in MiB. Full: expired first, then low priority, oldest.
store_mb = {n.store_mb}
# Channels whose posts reach the inbox and the event stream; [] shows all. All are relayed.
channels = []
# Where this node is, [latitude, longitude], to tell whether an alert covers it.
# location = [51.92, 4.48]
# Seconds between the daemon's own housekeeping (free disk space, DMs waiting for the inbox);
# the node's timers (expiry, re-syncs, session timeouts) run when due, whatever this is.
tick = {n.tick}
# Hops a message may travel; how direct messages spread ("spray-and-wait", "epidemic",
# "prophet") and how many copies spray-and-wait hands out.
hop_limit = {n.hop_limit}
# Hops a neighbourhood post or identity card may travel (its scope), at most hop_limit.
post_hops = {n.post_hops}
dm_policy = {_toml_str(n.dm_policy)}
spray_copies = {n.spray_copies}
# A sync that stalls this long (seconds) starts over; a finished one repeats this often.
session_timeout = {n.session_timeout}
resync_interval = {n.resync_interval}
# Abuse limits per peer link, per second with a burst allowance. A hub that has to catch up
# with a large backlog may raise them.
peer_rate = {n.peer_rate}
peer_burst = {n.peer_burst}
post_rate = {n.post_rate}
post_burst = {n.post_burst}
serve_rate = {n.serve_rate}
serve_burst = {n.serve_burst}
author_posts_per_hour = {n.author_posts_per_hour}
# Proof-of-work stamps (docs/protocol.md §15): stamp_own puts one in what this node sends
# (a few milliseconds each, minted ahead); require_stamps refuses posts, identity cards and
# DMs from keys this node has not heard from without one. Turn stamp_own on in every node of
# the neighbourhood before any requires stamps: nodes of earlier versions drop stamped messages.
stamp_own = {str(n.stamp_own).lower()}
require_stamps = {str(n.require_stamps).lower()}
# Verify arrived messages' signatures on a second thread ahead of the core ("on", "off", or
# "auto": on with four or more CPU cores). It pays only when a core is otherwise idle: where
# the cores are busy it makes the hub slower (docs/benchmarks.md, "Checking ahead").
check_ahead = {_toml_str(n.check_ahead)}

[udp]
# Where to listen (HOST:PORT; 0.0.0.0 = every interface).
listen = {_toml_str(listen or str(u.listen))}
# Peers to link with, as HOST:PORT; they need not list us back.
peers = [{peer_list}]
# Find peers on the LAN by multicast (the group below); static peers work without it.
discovery = {str(discovery).lower()}
group = {_toml_str(str(u.group))}
discovery_interval = {u.discovery_interval}
# Largest datagram we send (bytes); 1200 fits every common path MTU.
datagram_size = {u.datagram_size}
# Seconds between keepalives, and of silence after which a link is down.
keepalive = {u.keepalive}
link_timeout = {u.link_timeout}
# Links with peers that are neither static nor discovered (accept_unknown) are capped.
max_links = {u.max_links}
accept_unknown = {str(u.accept_unknown).lower()}
# Links with one host that is not a static peer, whoever it is.
max_links_per_host = {u.max_links_per_host}
# New links accepted from one host: a burst, then one per relink_interval seconds. Kept per
# host, so that linking again does not reset what the node allows a peer.
relink_burst = {u.relink_burst}
relink_interval = {u.relink_interval}
# Seconds a host waits to link again after the node closed its link for misbehaviour
# (doubling with each repeat, at most an hour).
penalty = {u.penalty}
# Unacknowledged datagrams in flight per link.
window = {u.window}

[api]
# The local control socket, relative to the data directory (owner-only).
socket = {_toml_str(d.api.socket)}
max_clients = {d.api.max_clients}
# Connections one client process may hold; seconds a connection may stay silent (not counting
# event subscriptions) before it is closed with an `idle` error.
max_per_client = {d.api.max_per_client}
idle_timeout = {d.api.idle_timeout}

[log]
# debug, info, warning or error; "kv" (key=value) or "json" lines; file "" = standard error.
level = {_toml_str(d.log.level)}
format = {_toml_str(d.log.format)}
file = ""

[transport.ble]
# Bluetooth LE, the mesh's radio (docs/hardware.md). Needs BlueZ, a powered adapter and a
# daemon user in the `bluetooth` group. Without them the daemon logs what to fix, keeps UDP
# running and retries; `enabled = false` turns Bluetooth off.
enabled = {str(ble).lower()}
# BlueZ adapter ("" = the first powered one); scan and connect (central), advertise and
# serve (peripheral).
adapter = {_toml_str(b.adapter)}
central = {str(b.central).lower()}
peripheral = {str(b.peripheral).lower()}
# Seconds of scanning in every scan_interval: equal = always (a hub on mains power).
scan_window = {b.scan_window}
scan_interval = {b.scan_interval}
# Links we open and centrals we serve (1 on BlueZ < 5.76; docs/hardware.md).
max_central_links = {b.max_central_links}
max_peripheral_links = {b.max_peripheral_links}

[web]
# The steunpunt's public information board for residents' phones (docs/steunpunt.md): alerts,
# the hub's notices, the neighbourhood channels (read-only), a kiosk view and a join card.
# Off unless this node is a hub at a neighbourhood support point.
enabled = {str(d.web.enabled).lower()}
# Where to serve it (HOST:PORT): the address of the hub's own Wi-Fi access point, or 0.0.0.0.
listen = {_toml_str(str(d.web.listen))}
# The steunpunt's name and address as residents know it, e.g. "Sporthal De Ark, Kerkstraat 1".
place = ""
# The board's address printed on the join card and in its QR code, e.g. "http://10.42.0.1:8080/"
# (with HTTPS: "https://" and the name the certificate is for).
url = ""
# The hub's Wi-Fi access point, printed on the join card ("" password = an open network).
wifi_name = ""
wifi_password = ""
# The board's language when the phone asks for neither: "nl" or "en".
language = {_toml_str(d.web.language)}
# Seconds each alert or notice stays on the kiosk screen before the next.
kiosk_seconds = {d.web.kiosk_seconds}
# The resident node in the browser at /app/: phones sync with this hub over a WebSocket as
# mesh peers (their keys stay on the phone; the hub relays sealed messages it cannot read).
residents = {str(d.web.residents).lower()}
# Browser peers at once (each one a link with a peer's rate limits and quotas).
max_residents = {d.web.max_residents}
# HTTPS, so that phones get the app's offline copy and fast signatures (docs/steunpunt.md,
# "HTTPS"): the certificate chain and its key, absolute paths, e.g.
# "/etc/letsencrypt/live/steunpunt.example.nl/fullchain.pem" and ".../privkey.pem".
tls_cert = ""
tls_key = ""
# With HTTPS, a plain-HTTP HOST:PORT that only redirects phones to `url` ("" = none).
redirect_listen = ""
"""


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Endpoint):
        return _toml_str(str(value))
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def render_config(config: DaemonConfig) -> str:
    """`config` as a TOML file, every key written out (`parse_config` reads it back equal)."""
    lines = ["# meshnode daemon configuration"]
    for section in fields(config):
        table = getattr(config, section.name)
        if section.name in ("ble", "bitchat"):
            if table is not None:
                name = "transport.ble" if section.name == "ble" else "gateway.bitchat"
                lines.append(f"\n[{name}]\nenabled = true")
                lines.extend(f"{f.name} = {_toml_value(getattr(table, f.name))}"
                             for f in fields(table))
            continue
        lines.append(f"\n[{section.name}]")
        for f in fields(table):
            value = getattr(table, f.name)
            if value is not None:
                lines.append(f"{f.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
