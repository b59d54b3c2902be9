"""`meshnode trust ...`: which authority roots this node believes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.client import add_json, call, emit, socket_for
from cli.errors import CliError
from meshnode.crypto.authority import root_label
from meshnode.crypto.identity import fingerprint
from meshnode.crypto.trustfile import TrustFileError, install_root, load_trust
from meshnode.daemon import api
from meshnode.daemon.client import ApiClient, DaemonNotRunning
from meshnode.daemon.paths import data_dir


def register(sub: Any) -> None:
    trust = sub.add_parser("trust", help="manage the authority roots this node trusts")
    cmds = trust.add_subparsers(dest="trust_command", metavar="ACTION", required=True)
    p = cmds.add_parser("add-root", help="pin a root public key (root.pub from its authority); "
                                         "a running daemon takes it at once")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=add_root)
    p = cmds.add_parser("list", help="list the pinned roots")
    p.set_defaults(handler=list_roots)
    p = cmds.add_parser("reload", help="have the running daemon read the pinned roots again "
                                       "(add-root does this itself)")
    add_json(p)
    p.set_defaults(handler=reload)


def add_root(args: argparse.Namespace) -> int:
    root_dir = data_dir(args.data_dir)
    try:
        root = install_root(root_dir, args.file)
    except TrustFileError as exc:
        raise CliError(str(exc)) from exc
    print(f"Trusting root {root.name!r}")
    print(f"  fingerprint: {fingerprint(root.key)}  (compare it with the authority's)")
    print(f"  {root_label(root.id)}")
    print(_tell_daemon(args))
    return 0


def _tell_daemon(args: argparse.Namespace) -> str:
    """Have a running daemon take the new root now; what happened, as a sentence."""
    sock = socket_for(args)
    try:
        with ApiClient(sock, timeout=30) as client:
            client.request(api.ReloadTrust())
    except DaemonNotRunning:
        return "The daemon is not running: it trusts this root from its next start."
    except PermissionError:
        return ("The daemon runs as another user, so it was not told: run `meshnode trust "
                "reload` as that user (or restart the daemon) before it verifies alerts under "
                "this root.")
    except (api.ApiError, ConnectionError, OSError) as exc:
        return (f"The running daemon could not take it ({exc}): restart the daemon before it "
                "verifies alerts under this root.")
    return "The running daemon verifies alerts under this root from now on."


def list_roots(args: argparse.Namespace) -> int:
    try:
        store = load_trust(data_dir(args.data_dir))
    except TrustFileError as exc:
        raise CliError(str(exc)) from exc
    if not store.roots:
        print("No roots pinned: this node cannot verify any authority alert. "
              "Install one with `meshnode trust add-root root.pub`.")
    for root in store.roots:
        print(f"{root.name}\n  fingerprint: {fingerprint(root.key)}\n  {root_label(root.id)}")
    return 0


def reload(args: argparse.Namespace) -> int:
    result = call(args, api.ReloadTrust())

    def show(r: dict[str, Any]) -> None:
        if not r["added"]:
            print(f"No new roots: the daemon already trusts all {len(r['roots'])} pinned.")
        for root in r["added"]:
            print(f"Now trusting {root['name']!r} ({root['fingerprint']})")

    emit(args, result, show)
    return 0
