"""The `meshnode` command: one parser, one module per group of subcommands."""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from cli import authority, contacts, daemon, demo, keys, messages, sim, status, trust, tui
from cli.errors import CliError

__all__ = ["main"]


class UsageError(Exception):
    """The command line does not parse; `parser` is the (sub)command that said so."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """Raises instead of exiting, so that `main` can answer in JSON and suggest a spelling."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """Every option string of a parser and its subcommands (for spelling suggestions)."""
    out: list[str] = []
    for action in parser._actions:
        out += [o for o in action.option_strings if o.startswith("--")]
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                out += _options(sub)
    return out


def suggest(parser: argparse.ArgumentParser, message: str) -> str:
    """A "did you mean" for a misspelt command, choice or option named in `message`."""
    m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if m:
        choices = re.findall(r"'([^']*)'", m[2])
        near = difflib.get_close_matches(m[1], choices, n=1, cutoff=0.6)
        return f" (did you mean '{near[0]}'?)" if near else ""
    m = re.search(r"unrecognized arguments: (.*)", message)
    if m:
        known = sorted(set(_options(parser)))
        for word in m[1].split():
            near = difflib.get_close_matches(word.split("=")[0], known, n=1, cutoff=0.7)
            if word.startswith("-") and near:
                return f" (did you mean '{near[0]}'?)"
    return ""


def _fail(message: str, code: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False))
    else:
        print(f"meshnode: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in words
    parser = build_parser()
    try:
        args = parser.parse_args(words)
    except UsageError as exc:
        if not as_json:
            exc.parser.print_usage(sys.stderr)
        _fail(f"{exc}{suggest(parser, str(exc))}", "usage", as_json)
        return 2
    try:
        result: int = args.handler(args)
    except CliError as exc:
        _fail(str(exc), exc.code, bool(getattr(args, "json", False)))
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
