"""`meshnode contacts ...`: names bound to keys, and warnings when keys change."""

from __future__ import annotations

import argparse
from typing import Any

from cli.client import add_json, call, emit
from cli.errors import CliError
from cli.messages import key_warning
from meshnode.daemon import api


def register(sub: Any) -> None:
    contacts = sub.add_parser("contacts", help="the contact book (names bound to keys)")
    cmds = contacts.add_subparsers(dest="contacts_command", metavar="ACTION", required=True)
    p = cmds.add_parser("list", help="contacts and key-change warnings")
    add_json(p)
    p.set_defaults(handler=list_contacts)
    p = cmds.add_parser("add", help="bind a name to someone's keys")
    p.add_argument("name")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--keys", metavar="SIGN_KEY:DH_KEY",
                   help="both public keys in hex, as their `meshnode whoami` shows")
    g.add_argument("--fingerprint", help="a fingerprint compared in person; the keys come "
                                         "from their identity card, once it reached this node")
    p.add_argument("--replace", action="store_true",
                   help="rebind a name that has other keys (compare fingerprints in person "
                        "first; clears the name's key-change warnings)")
    add_json(p)
    p.set_defaults(handler=add)
    p = cmds.add_parser(
        "dismiss", help="clear a contact's key-change warnings, after checking the keys",
        description="Clear the key-change warnings about NAME. Do this only after comparing "
                    "fingerprints in person (face to face: their `meshnode whoami` against "
                    "`meshnode contacts list`); a warning you did not check may be an "
                    "impostor. If the contact really has new keys, rebind instead with "
                    "`meshnode contacts add NAME --keys ... --replace`.")
    p.add_argument("name")
    add_json(p)
    p.set_defaults(handler=dismiss)
    p = cmds.add_parser("remove", help="forget a contact")
    p.add_argument("name")
    add_json(p)
    p.set_defaults(handler=remove)


def list_contacts(args: argparse.Namespace) -> int:
    result = call(args, api.Contacts())

    def show(r: dict[str, Any]) -> None:
        if not r["contacts"]:
            print("No contacts: add one with `meshnode contacts add NAME --fingerprint FP` "
                  "(once their identity card reached this node) or `--keys SIGN_KEY:DH_KEY`.")
        for c in r["contacts"]:
            print(f"{c['name']:<20} {c['fingerprint']}")
        for w in r["warnings"]:
            print(f"WARNING: {key_warning(w)}")

    emit(args, result, show)
    return 0


def add(args: argparse.Namespace) -> int:
    sign = dh = None
    if args.keys:
        sign_hex, sep, dh_hex = args.keys.partition(":")
        try:
            sign, dh = bytes.fromhex(sign_hex), bytes.fromhex(dh_hex)
        except ValueError:
            sep = ""
        if not sep or len(sign or b"") != 32 or len(dh or b"") != 32:
            raise CliError("--keys takes SIGN_KEY:DH_KEY, two 64-digit hex keys")
    result = call(args, api.ContactAdd(args.name, sign_key=sign, dh_key=dh,
                                       fingerprint=args.fingerprint, replace=args.replace))
    emit(args, result, lambda r: print(f"{r['contact']['name']} = "
                                       f"{r['contact']['fingerprint']}"))
    return 0


def dismiss(args: argparse.Namespace) -> int:
    result = call(args, api.DismissKeyWarning(args.name))
    emit(args, result, lambda r: print(f"Dismissed {r['dismissed']} key-change warning(s) "
                                       f"about {r['name']}"))
    return 0


def remove(args: argparse.Namespace) -> int:
    result = call(args, api.ContactRemove(args.name))
    emit(args, result, lambda r: print(f"Removed {r['removed']}"))
    return 0
