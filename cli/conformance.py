"""`meshnode conformance HOST:PORT`: check another implementation, rule by rule."""

from __future__ import annotations

from typing import Any

from meshnode.conformance.command import add_arguments, run_command


def register(sub: Any) -> None:
    p = sub.add_parser("conformance",
                       help="check an implementation of the protocol over UDP, rule by rule "
                            "(docs/conformance.md)")
    add_arguments(p)
    p.set_defaults(handler=run_command)
