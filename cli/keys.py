"""`meshnode keygen` and `meshnode whoami`: the node's own identity."""

from __future__ import annotations

import argparse
import getpass
import json
import os
from pathlib import Path
from typing import Any

from cli.errors import CliError
from meshnode.crypto.identity import Identity
from meshnode.crypto.keyfile import KeyFileError, PassphraseRequired, load_identity, save_identity
from meshnode.daemon.paths import IDENTITY_FILE, data_dir

PASSPHRASE_ENV = "MESHNODE_PASSPHRASE"


def register(sub: Any) -> None:
    p = sub.add_parser("keygen", help="create this node's identity (signing + agreement keys)")
    p.add_argument(
        "--passphrase",
        action="store_true",
        help=f"encrypt the key file with a passphrase (asked for, or taken from ${PASSPHRASE_ENV})",
    )
    p.add_argument("--force", action="store_true", help="replace an existing identity (!)")
    p.set_defaults(handler=keygen)

    p = sub.add_parser("whoami", help="show this node's id, fingerprint and public keys")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--qr", action="store_true",
                   help="also show the fingerprint as a QR code for a neighbour to scan")
    p.set_defaults(handler=whoami)


def _prompt(text: str) -> str:
    """Ask on the terminal; without one (a service, a pipe) say how to pass it instead."""
    try:
        return getpass.getpass(text)
    except EOFError:
        raise CliError(f"there is no terminal to ask for the passphrase: set ${PASSPHRASE_ENV} "
                       "in the environment instead (docs/hub.md)") from None


def ask_new_passphrase() -> str:
    env = os.environ.get(PASSPHRASE_ENV)
    if env is not None:
        return env
    first = _prompt("New passphrase: ")
    if first != _prompt("Repeat passphrase: "):
        raise CliError("the passphrases differ; nothing was written")
    return first


def ask_passphrase(path: object) -> str:
    return _prompt(f"Passphrase for {path}: ")


def load_key_file(path: Path) -> Identity:
    """Load a key file, asking for the passphrase only when the file needs one."""
    try:
        return load_identity(path, passphrase=os.environ.get(PASSPHRASE_ENV))
    except PassphraseRequired:
        try:
            return load_identity(path, passphrase=ask_passphrase(path))
        except KeyFileError as exc:
            raise CliError(str(exc)) from exc
    except KeyFileError as exc:
        raise CliError(str(exc)) from exc


def load_own_identity(args: argparse.Namespace) -> Identity:
    """The node's own identity from its data directory."""
    return load_key_file(data_dir(args.data_dir) / IDENTITY_FILE)


def keygen(args: argparse.Namespace) -> int:
    path = data_dir(args.data_dir) / IDENTITY_FILE
    if path.exists() and not args.force:
        raise CliError(
            f"an identity already exists at {path}; `meshnode whoami` shows it "
            "(--force replaces it, and your contacts will see a key change)"
        )
    passphrase = ask_new_passphrase() if args.passphrase else None
    identity = Identity.generate()
    try:
        save_identity(identity, path, passphrase=passphrase, overwrite=args.force)
    except KeyFileError as exc:
        raise CliError(str(exc)) from exc
    print(f"Created identity in {path}")
    print(f"Fingerprint: {identity.fingerprint}")
    return 0


def whoami(args: argparse.Namespace) -> int:
    identity = load_own_identity(args)
    pub = identity.public
    info = {
        "node_id": pub.node_id.hex(),
        "fingerprint": pub.fingerprint,
        "sign_key": pub.sign_key.hex(),
        "dh_key": pub.dh_key.hex(),
        "key_file": str(data_dir(args.data_dir) / IDENTITY_FILE),
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        width = max(len(k) for k in info)
        for key, value in info.items():
            print(f"{key.replace('_', ' '):<{width}}  {value}")
    if args.qr and not args.json:
        from rich.console import Console

        from tui.render import render_qr

        code = render_qr(pub.fingerprint)
        if code is None:
            raise CliError("--qr needs segno: pip install segno")
        Console(highlight=False).print(code)
    return 0
