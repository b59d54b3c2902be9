"""Shared by the commands that talk to a running daemon: finding it, calling it, printing."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.errors import CliError
from meshnode.daemon import api
from meshnode.daemon.client import ApiClient, DaemonNotRunning
from meshnode.daemon.paths import CONFIG_FILE, api_socket_name, data_dir

if TYPE_CHECKING:
    from meshnode.daemon.config import DaemonConfig


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def config_for(args: argparse.Namespace) -> DaemonConfig:
    """The configuration in the data directory (defaults if there is none)."""
    # Imported here: the full configuration pulls in the protocol core, which the commands
    # that only talk to the daemon do not need (they start in a fraction of the time).
    from meshnode.daemon.config import ConfigError, DaemonConfig, load_config

    path = Path(getattr(args, "config", None) or data_dir(args.data_dir) / CONFIG_FILE)
    if not path.exists() and getattr(args, "config", None) is None:
        return DaemonConfig()
    try:
        return load_config(path)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc


def socket_for(args: argparse.Namespace) -> Path:
    """The daemon's API socket: `[api] socket` of the config, read without checking the rest
    (the daemon checked it when it started); a file that does not read is reported in full."""
    root = data_dir(args.data_dir)
    name = api_socket_name(root / CONFIG_FILE)
    if name is None:
        name = config_for(args).api.socket
    return root / name


def connect(args: argparse.Namespace, *, timeout: float | None = 30.0) -> ApiClient:
    client = ApiClient(socket_for(args), timeout=timeout)
    try:
        client.connect()
    except DaemonNotRunning:
        hint = f" --data-dir {args.data_dir}" if args.data_dir else ""
        raise CliError(f"the daemon is not running on {data_dir(args.data_dir)}: start it "
                       f"with `meshnode{hint} run`", "daemon_not_running") from None
    except PermissionError:
        raise CliError(f"no permission to use {client.path}: run this as the user that runs "
                       "the daemon", "permission_denied") from None
    return client


def call(args: argparse.Namespace, req: api.Request) -> dict[str, Any]:
    with connect(args) as client:
        return request(client, req)


def request(client: ApiClient, req: api.Request) -> dict[str, Any]:
    """One request on an open connection; the daemon's refusal becomes a `CliError`."""
    try:
        return client.request(req)
    except api.ApiError as exc:
        raise CliError(exc.message, str(exc.code)) from exc
    except ConnectionError as exc:
        raise CliError(f"the daemon hung up: {exc}", "daemon_hung_up") from exc


def emit(args: argparse.Namespace, result: dict[str, Any],
         human: Callable[[dict[str, Any]], None]) -> None:
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        human(result)


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def who(person: dict[str, Any]) -> str:
    """A person as "name (FP12…)" or "unknown FP12…"; names come from the contact book."""
    short = str(person.get("fingerprint", ""))[:9]
    name = person.get("name")
    return f"{name} ({short})" if name else f"unknown {short}"
