"""`meshnode tui`: the terminal UI on the running daemon, or `--web` to serve it in a browser."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Any

from cli.client import socket_for
from cli.errors import CliError
from tui.i18n import pick_language


def register(sub: Any) -> None:
    p = sub.add_parser("tui", help="terminal UI: alerts, channels, messages, status")
    p.add_argument("--lang", choices=("nl", "en"),
                   help="UI language (default: $MESHNODE_LANG, else the locale)")
    p.add_argument("--web", action="store_true",
                   help="serve the UI to a browser (textual-serve); anyone who can reach the "
                        "address can use this node: keep it on loopback")
    p.add_argument("--host", default="127.0.0.1", help="--web address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="--web port (default 8000)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    lang = pick_language(args.lang, os.environ)
    if args.web:
        try:
            import textual_serve  # noqa: F401
        except ImportError:
            raise CliError("--web needs textual-serve: pip install textual-serve") from None
        from tui.web import serve

        command = [sys.executable, "-m", "cli.main"]
        if args.data_dir:
            command += ["--data-dir", args.data_dir]
        serve([*command, "tui", "--lang", lang.value], host=args.host, port=args.port)
        return 0
    from tui.app import MeshApp
    from tui.web import die_with_parent, served

    if served(dict(os.environ)):
        die_with_parent()  # a browser session: it must not outlive the server
    hint = f" --data-dir {shlex.quote(args.data_dir)}" if args.data_dir else ""
    MeshApp(socket_for(args), lang, start_command=f"meshnode{hint} run").run()
    return 0
