"""The `meshnode` command: one parser, one module per group of subcommands."""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from cli.errors import CliError
from meshnode import __version__

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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command`, only that command's module is loaded (see COMMANDS)."""
    parser = _Parser(
        prog="meshnode",
        description="Crisis messaging over a Bluetooth LE mesh: signed posts, sealed direct "
        "messages and verifiable authority alerts, with no network or power grid.",
        epilog="Start here: `meshnode init --name NAME`, then `meshnode run`, and in another "
        "terminal `meshnode tui` (or the commands above; most take --json). "
        "`meshnode demo` shows a small mesh at work without any setup.",
    )
    parser.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    parser.add_argument("--version", action="version", version=f"meshnode {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Only the module of the command given is imported (each costs up to a second of CPU for
    # the simulator, the daemon or the alert geometry); help and typos load them all.
    wanted = ([COMMANDS[command]] if command in COMMANDS else [] if command == ""
              else list(dict.fromkeys(COMMANDS.values())))
    for name in wanted:
        importlib.import_module(f"cli.{name}").register(sub)
    _accept_data_dir_anywhere(sub)
    return parser


# Each command and the module under cli/ that registers it, in the order `--help` lists them.
COMMANDS = {
    "keygen": "keys", "whoami": "keys", "init": "daemon", "run": "daemon",
    "post": "messages", "dm": "messages", "inbox": "messages", "outbox": "messages",
    "channels": "messages", "read": "messages", "alerts": "messages", "inject": "messages",
    "events": "messages", "notice": "notice", "status": "status", "peers": "status",
    "contacts": "contacts",
    "authority": "authority", "trust": "trust", "demo": "demo", "sim": "sim", "tui": "tui",
    "conformance": "conformance",
}


def command_word(words: Sequence[str]) -> str | None:
    """The subcommand in a command line (after the global options); "" for `--version`
    (which needs none), None when all are needed (`--help`, none given)."""
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--data-dir":
            i += 2
            continue
        if word.startswith("-"):
            if word in ("-h", "--help"):
                return None
            if word == "--version":
                return ""  # no command: nothing to load

            i += 1
            continue
        return word
    return None


DATA_DIR_HELP = "data directory (default: $MESHNODE_HOME or the platform's user data directory)"


def _accept_data_dir_anywhere(sub: argparse._SubParsersAction[Any]) -> None:
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
    parser = build_parser(command_word(words))
    try:
        args = parser.parse_args(words)
    except UsageError as exc:
        if not as_json:
            exc.parser.print_usage(sys.stderr)
        _fail(f"{exc}{suggest(build_parser(), str(exc))}", "usage", as_json)
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
