"""`meshnode init` and `meshnode run`: set up a node's data directory and run its daemon."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
from typing import Any

import trio

from cli.client import config_for
from cli.errors import CliError
from cli.keys import PASSPHRASE_ENV, ask_new_passphrase, load_own_identity
from meshnode.crypto.identity import Identity
from meshnode.crypto.keyfile import KeyFileError, load_identity, save_identity
from meshnode.daemon.config import (
    CONFIG_FILE,
    ConfigError,
    LogConfig,
    default_config_text,
    parse_config,
)
from meshnode.daemon.daemon import DaemonError, run_daemon
from meshnode.daemon.logs import setup_logging
from meshnode.daemon.paths import IDENTITY_FILE, data_dir
from meshnode.transport.udp import Endpoint


def _endpoint(text: str) -> Endpoint:
    try:
        return Endpoint.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: Any) -> None:
    p = sub.add_parser("init", help="set up the data directory: identity and a commented "
                                    "config.toml")
    p.add_argument("--name", help="display name on the identity card this node announces, so "
                   "that neighbours can add it by fingerprint (default: \"node\" and the "
                   "start of its fingerprint; --name '' announces no card)")
    p.add_argument("--listen", type=_endpoint, metavar="HOST:PORT",
                   help="UDP address to listen on (default 0.0.0.0:4917)")
    p.add_argument("--peer", type=_endpoint, action="append", default=[], metavar="HOST:PORT",
                   help="a static UDP peer (repeatable)")
    p.add_argument("--no-discovery", action="store_true", help="no multicast discovery")
    p.add_argument("--no-ble", action="store_true",
                   help="write Bluetooth LE off in config.toml (default: on; UDP only then)")
    p.add_argument("--passphrase", action="store_true", help="encrypt the identity key file")
    p.add_argument("--force", action="store_true", help="replace an existing config.toml")
    p.set_defaults(handler=init)

    p = sub.add_parser("run", help="run the node daemon (stop it with Ctrl-C or SIGTERM)")
    p.add_argument("--config", metavar="FILE",
                   help="config file (default: config.toml in the data directory, if any)")
    p.add_argument("--name", help="display name to announce")
    p.add_argument("--listen", type=_endpoint, metavar="HOST:PORT", help="UDP listen address")
    p.add_argument("--peer", type=_endpoint, action="append", metavar="HOST:PORT",
                   help="static UDP peer (repeatable; replaces the config's list)")
    p.add_argument("--discovery", action=argparse.BooleanOptionalAction, default=None,
                   help="multicast discovery on the LAN")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    p.add_argument("--log-format", choices=("kv", "json"))
    p.add_argument("--log-file", metavar="FILE", help="log to FILE instead of standard error")
    p.set_defaults(handler=run)


def init(args: argparse.Namespace) -> int:
    root = data_dir(args.data_dir)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_path = root / IDENTITY_FILE
    fp = None
    if key_path.exists():
        print(f"Identity kept: {key_path}")
        with contextlib.suppress(KeyFileError):  # encrypted: no name is made up for it
            fp = load_identity(key_path, passphrase=os.environ.get(PASSPHRASE_ENV)).fingerprint
    else:
        passphrase = ask_new_passphrase() if args.passphrase else None
        identity = Identity.generate()
        try:
            save_identity(identity, key_path, passphrase=passphrase)
        except KeyFileError as exc:
            raise CliError(str(exc)) from exc
        print(f"Created identity in {key_path}")
        print(f"Fingerprint: {identity.fingerprint}")
        fp = identity.fingerprint
    config_path = root / CONFIG_FILE
    name = args.name
    if name is None:
        name = default_card_name(fp) if fp is not None else ""
    text = default_config_text(
        name=name, listen=None if args.listen is None else str(args.listen),
        peers=tuple(str(p) for p in args.peer), discovery=not args.no_discovery,
        ble=not args.no_ble)
    try:
        parse_config(text)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    if config_path.exists() and not args.force:
        print(f"Config kept: {config_path} (--force writes a fresh one)")
    else:
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"Wrote {config_path}")
        if not name:
            print("No name: this node announces no identity card, so neighbours can add it "
                  "only with both keys from `meshnode whoami` (set [node] name in "
                  "config.toml to announce one).")
    print("Next: pin your authority's root with `meshnode trust add-root root.pub`, then "
          "start the node with `meshnode run`.")
    return 0


def default_card_name(fingerprint: str) -> str:
    """The name on an identity card nobody chose one for: "node" and the fingerprint's start.
    Apps show the contact book's names, never this one, so it only has to be harmless."""
    return "node " + "-".join(fingerprint.split()[:2])


def run(args: argparse.Namespace) -> int:
    root = data_dir(args.data_dir)
    config = config_for(args)
    node, udp, log = config.node, config.udp, config.log
    if args.name is not None:
        node = dataclasses.replace(node, name=args.name)
    if args.listen is not None:
        udp = dataclasses.replace(udp, listen=args.listen)
    if args.peer is not None:
        udp = dataclasses.replace(udp, peers=tuple(args.peer))
    if args.discovery is not None:
        udp = dataclasses.replace(udp, discovery=args.discovery)
    log = LogConfig(level=args.log_level or log.level, format=args.log_format or log.format,
                    file=args.log_file if args.log_file is not None else log.file)
    config = dataclasses.replace(config, node=node, udp=udp, log=log)
    if not (root / IDENTITY_FILE).exists():
        raise CliError(f"no identity in {root}: run `meshnode init` first")
    identity = load_own_identity(args)
    os.umask(0o077)  # every file the daemon creates (store, inbox, logs) is owner-only
    setup_logging(log.level, log.format, log.file)
    try:
        trio.run(run_daemon, root, config, identity)
    except DaemonError as exc:
        raise CliError(str(exc)) from exc
    return 0
