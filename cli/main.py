"""The `meshnode` command: one parser, one module per group of subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cli import authority, contacts, daemon, demo, keys, messages, sim, status, trust, tui
from cli.errors import CliError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshnode",
        description="Crisis messaging over a Bluetooth LE mesh: signed posts, sealed direct "
        "messages and verifiable authority alerts, with no network or power grid.",
        epilog="Start here: `meshnode init --name NAME`, then `meshnode run`, and in another "
        "terminal `meshnode tui` (or the commands above; most take --json). "
        "`meshnode demo` shows a small mesh at work without any setup.",
    )
    parser.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    keys.register(sub)
    daemon.register(sub)
    messages.register(sub)
    status.register(sub)
    contacts.register(sub)
    authority.register(sub)
    trust.register(sub)
    demo.register(sub)
    sim.register(sub)
    tui.register(sub)
    _accept_data_dir_anywhere(sub)
    return parser


DATA_DIR_HELP = "data directory (default: $MESHNODE_HOME or the platform's user data directory)"


def _accept_data_dir_anywhere(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`meshnode post --data-dir B ...` as well as `meshnode --data-dir B post ...`: people
    put it after the command. SUPPRESS keeps the value given before the command otherwise."""
    for parser in set(sub.choices.values()):
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            for action in nested:
                _accept_data_dir_anywhere(action)
        elif not any("--data-dir" in a.option_strings for a in parser._actions):
            parser.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS,
                                help=DATA_DIR_HELP)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except CliError as exc:
        print(f"meshnode: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: not an error of ours.
        sys.stderr.close()
        return 0
    return result


if __name__ == "__main__":
    sys.exit(main())
