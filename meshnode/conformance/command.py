"""The command line shared by `meshnode conformance` and `python -m meshnode.conformance`."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import trio

from meshnode.conformance.runner import (
    ISSUER_ID,
    Options,
    Report,
    load_authority,
    run_conformance,
    sources_for,
)
from meshnode.crypto.identity import PublicIdentity
from meshnode.transport.udp import Endpoint

__all__ = ["add_arguments", "build_parser", "main", "run_command"]

DEFAULT_AUTHORITY = Path("meshnode-conformance")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", nargs="?", metavar="HOST:PORT",
                   help="the implementation's UDP address (link v2, docs/protocol.md §13)")
    p.add_argument("--spawn", action="store_true",
                   help="start a meshnode daemon on loopback (test root pinned) and check it")
    p.add_argument("--authority", type=Path, default=DEFAULT_AUTHORITY, metavar="DIR",
                   help="folder of the test authority: root.pub there is the root to pin "
                        f"(made on first use; default ./{DEFAULT_AUTHORITY})")
    p.add_argument("--peer-key", metavar="SIGN_HEX:DH_HEX",
                   help="the implementation's public keys (Ed25519 signing, X25519), for the "
                        "DM and receipt rule")
    p.add_argument("--posts", type=_positive, default=2_000,
                   help="posts the runner's node holds for reconciliation (default 2000)")
    p.add_argument("--source", metavar="IP",
                   help="local address to use (default: 127.0.0.1..5 for a loopback target)")
    p.add_argument("--link-timeout", type=_seconds, default=Options.link_timeout,
                   metavar="SECONDS",
                   help="how long to wait for the reference link to come up (default "
                        f"{Options.link_timeout:g}); lower it to give up sooner on an address "
                        "where nothing answers")
    p.add_argument("--json", action="store_true", help="the report as JSON")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: at least 1")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text}: more than 0 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m meshnode.conformance",
        description="Check an implementation of the meshnode protocol over UDP, rule by "
                    "rule (docs/conformance.md).")
    add_arguments(parser)
    return parser


def _peer_key(text: str) -> PublicIdentity:
    sign, sep, dh = text.partition(":")
    try:
        keys = bytes.fromhex(sign), bytes.fromhex(dh)
    except ValueError:
        keys = b"", b""
    if not sep or any(len(k) != 32 for k in keys):
        raise ValueError(f"--peer-key {text!r}: expected 64 hex digits, ':', 64 hex digits")
    return PublicIdentity(*keys)


@contextlib.contextmanager
def _spawned(authority_dir: Path) -> Iterator[tuple[Endpoint, PublicIdentity]]:
    """A meshnode daemon on loopback with the test root pinned, stopped on exit."""
    from meshnode.daemon.config import DaemonConfig
    from meshnode.daemon.localnet import LocalNode, free_udp_ports

    with tempfile.TemporaryDirectory(prefix="meshnode-conformance-") as tmp:
        (port,) = free_udp_ports(1)
        base = DaemonConfig()
        config = dataclasses.replace(base, udp=dataclasses.replace(
            base.udp, listen=Endpoint("127.0.0.1", port), discovery=False))
        node = LocalNode("under-test", Path(tmp) / "node", config)
        node.setup(roots=[authority_dir / "root.pub"])
        node.start()
        try:
            node.wait_ready()
            yield Endpoint("127.0.0.1", port), node.identity.public
        finally:
            node.stop()


def run_command(args: argparse.Namespace) -> int:
    """Run the rules; 0 when none failed, 1 when one did, 2 on a usage error."""
    try:
        peer_key = _peer_key(args.peer_key) if args.peer_key else None
        target = Endpoint.parse(args.target) if args.target else None
    except ValueError as exc:
        print(f"meshnode conformance: {exc}", file=sys.stderr)
        return 2
    if (target is None) == (not args.spawn):
        print("meshnode conformance: give HOST:PORT or --spawn (one of them)", file=sys.stderr)
        return 2
    try:
        authority = load_authority(args.authority)
    except ValueError as exc:
        print(f"meshnode conformance: {exc}", file=sys.stderr)
        return 2
    root = (args.authority / "root.pub").resolve()
    if not args.json:
        print(f"Test root: {root} (pin it in the implementation under test; alerts come from "
              f"issuer {ISSUER_ID!r}). For a meshnode daemon: meshnode trust add-root {root}\n")
    with contextlib.ExitStack() as stack:
        if args.spawn:
            target, peer_key = stack.enter_context(_spawned(args.authority))
        assert target is not None
        options = Options(target, authority, peer_key, posts=args.posts,
                          sources=sources_for(target, args.source),
                          link_timeout=args.link_timeout)
        report: Report = trio.run(run_conformance, options)
    print(json.dumps(report.as_json(), indent=2) if args.json else report.as_text())
    return 1 if report.failed else 0


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv))
