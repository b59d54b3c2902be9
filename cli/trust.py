"""`meshnode trust ...`: which authority roots this node believes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.errors import CliError
from meshnode.crypto.identity import fingerprint
from meshnode.crypto.trustfile import TrustFileError, install_root, load_trust
from meshnode.daemon.paths import data_dir


def register(sub: Any) -> None:
    trust = sub.add_parser("trust", help="manage the authority roots this node trusts")
    cmds = trust.add_subparsers(dest="trust_command", metavar="ACTION", required=True)
    p = cmds.add_parser("add-root", help="pin a root public key (root.pub from its authority)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=add_root)
    p = cmds.add_parser("list", help="list the pinned roots")
    p.set_defaults(handler=list_roots)


def add_root(args: argparse.Namespace) -> int:
    try:
        root = install_root(data_dir(args.data_dir), args.file)
    except TrustFileError as exc:
        raise CliError(str(exc)) from exc
    print(f"Trusting root {root.name!r}")
    print(f"  fingerprint: {fingerprint(root.key)}  (compare it with the authority's)")
    return 0


def list_roots(args: argparse.Namespace) -> int:
    try:
        store = load_trust(data_dir(args.data_dir))
    except TrustFileError as exc:
        raise CliError(str(exc)) from exc
    if not store.roots:
        print("No roots pinned: this node cannot verify any authority alert. "
              "Install one with `meshnode trust add-root root.pub`.")
    for root in store.roots:
        print(f"{root.name}\n  fingerprint: {fingerprint(root.key)}")
    return 0
