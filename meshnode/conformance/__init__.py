"""`meshnode conformance`: check another implementation of docs/protocol.md over UDP.

The runner plays the other side of a whole session (link handshake, Hello, reconciliation,
Want/Msg exchange of posts, DMs and receipts, alert verification) with meshnode's own `Node`
and link code, adds hostile datagrams and frames, and reports every rule of
`meshnode.conformance.rules` as passed, failed or not checked. docs/conformance.md is the
guide for phone teams; ``python -m meshnode.conformance --help`` the command line.
"""

from meshnode.conformance.rules import RULES, Level, Rule
from meshnode.conformance.runner import (
    ISSUER_ID,
    Options,
    Outcome,
    Report,
    Status,
    load_authority,
    run_conformance,
)

__all__ = ["ISSUER_ID", "RULES", "Level", "Options", "Outcome", "Report", "Rule", "Status",
           "load_authority", "run_conformance"]
