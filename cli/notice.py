"""`meshnode notice`: a notice from the steunpunt on its public board (docs/steunpunt.md).

A notice is a post on the reserved channel `steunpunt`, signed with this hub's own identity
through the running daemon: the board shows a post there as the steunpunt's notice only when
the hub's key signed it. Like every post it also travels the mesh, so residents with the app
and other hubs see it, marked with this hub's fingerprint.
"""

from __future__ import annotations

import argparse
from typing import Any

from cli.client import add_json, call, emit
from meshnode.daemon import api
from meshnode.daemon.web.board import NOTICE_CHANNEL


def register(sub: Any) -> None:
    p = sub.add_parser(
        "notice", help="post a notice on this steunpunt's board (opening hours, water, ...)",
        description="Post a notice from this steunpunt: shown on its web board and kiosk, "
        f"signed with the hub's identity, and carried through the mesh on #{NOTICE_CHANNEL}. "
        "A notice expires like any post; to correct one, post a new one (the newest is shown "
        "first).")
    p.add_argument("text", help='e.g. "Drinkwater en opladen: dagelijks 8-20 uur"')
    add_json(p)
    p.set_defaults(handler=notice)


def notice(args: argparse.Namespace) -> int:
    result = call(args, api.Post(NOTICE_CHANNEL, args.text))
    emit(args, result, lambda r: print(f"Notice posted on the board (#{r['channel']}): "
                                       f"{r['id']}"))
    return 0
