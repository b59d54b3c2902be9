"""The conformance rules: what `meshnode conformance` checks, each with its spec section.

The numbers are stable (a report, a bug tracker and docs/conformance.md refer to them); new
rules get new numbers. `level` is the spec's word: a failed MUST fails the run, a failed SHOULD
is reported as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["RULES", "Level", "Rule", "rule"]


class Level(StrEnum):
    MUST = "MUST"
    SHOULD = "SHOULD"


@dataclass(frozen=True, slots=True)
class Rule:
    number: int
    section: str
    claim: str
    level: Level = Level.MUST


RULES: tuple[Rule, ...] = (
    # The link handshake, from a hand-driven socket (§13).
    Rule(1, "§13.2", "answers a PROBE with one 28-byte CHALLENGE to the probe's connection id"),
    Rule(2, "§13.2", "keeps no state for a PROBE: nothing more is sent for it (no repeat, no "
                     "probe back) within 3 s"),
    Rule(3, "§13.2", "drops a CONNECT whose cookie it did not make (no ACCEPT)"),
    Rule(4, "§13.2", "answers a CONNECT with a valid cookie with a 20-byte ACCEPT carrying a "
                     "non-zero responder connection id"),
    Rule(5, "§13.2", "answers a replayed CONNECT of an up link with the same ACCEPT, "
                     "keeping the link"),
    Rule(6, "§13.4", "acknowledges a DATA datagram: an ACK whose next is beyond its seq"),
    Rule(7, "§13.4", "acknowledges a duplicate DATA at once", Level.SHOULD),
    Rule(8, "§13.1", "drops a datagram over 1,200 bytes (it is not acknowledged)"),
    Rule(9, "§13.1", "drops malformed datagrams (other version, unknown type, bare fragment, "
                     "chunk past the end) without answering or closing the link"),
    Rule(10, "§13.2", "drops a DATA carrying a connection id that is not the link's"),
    # Hostile frames on links of their own (each ends the link).
    Rule(11, "§10, §13.3", "refuses a frame over 8,256 bytes: closes the link with CLOSE"),
    Rule(12, "§10", "closes the link (CLOSE) when a peer keeps sending malformed frames "
                    "(the spec sets no number; the runner sends up to 64, meshnode closes "
                    "after 21)"),
    Rule(13, "§13.6", "gives an address whose link it closed for misbehaviour no new link "
                      "at once (a PROBE draws no CHALLENGE)", Level.SHOULD),
    # A whole session against meshnode's own Node over its own UDP link.
    Rule(14, "§13.2", "completes the handshake with the reference link and keeps it up"),
    Rule(15, "§10.1", "sends Hello first, as the first frame on a new link"),
    Rule(16, "§10", "sends only frames that decode (canonical msgpack, within every bound)"),
    Rule(17, "§10.1", "finishes the exchange: both sides say Done"),
    Rule(18, "§10.2", "reconciles a store of thousands of posts it lacks (2,000 by default): "
                      "it obtains every one in the first exchange"),
    Rule(19, "§10.1", "answers a new Hello on a finished link with a new exchange (its own "
                      "Hello)"),
    Rule(20, "§10.1", "sends its Hello digest (field 7), blinded with its own nonce",
         Level.SHOULD),
    Rule(21, "§4.4, §5", "opens a DM sealed to its identity and answers with a valid receipt"),
    Rule(22, "§6.5", "accepts a valid alert from a pinned root (its next Hello lists it)"),
    Rule(23, "§6.5", "refuses an alert chained to a root it has not pinned"),
    Rule(24, "§3, §6.5", "refuses an alert whose signature does not verify"),
    Rule(25, "§6.5, §9.1", "refuses an expired alert"),
    Rule(26, "§6.5, §6.6", "refuses an alert whose area lies outside its certificate's "
                           "scope"),
    Rule(27, "§3", "refuses a post whose signature does not verify (never stores or offers "
                   "it)"),
    Rule(28, "§2, §3", "every message it sends verifies (nothing mis-signed or malformed)"),
    # Observed on every link of the run.
    Rule(29, "§13.1", "sends no datagram over 1,200 bytes (its 12-byte header included)"),
    # Reconciliation of two large stores that differ a little (the second and third exchange).
    Rule(30, "§10.2", "reconciles two stores of thousands that differ in a few posts (25 new "
                      "to it): it obtains exactly those, none of the ones it holds"),
    Rule(31, "§10.2", "leaves nothing of the runner's missing: a third exchange finds equal "
                      "Hello digests, or none of the runner's posts wanted or pushed again"),
    Rule(32, "§10.1, §10.2", "serves what it holds: a new node with an empty store, linking "
                             "from another port, obtains every post the implementation was "
                             "given"),
    # Link efficiency, observed on the links above.
    Rule(33, "§13.3", "packs several small frames into one DATA datagram: the fresh node of "
                      "rule 32 receives its thousands of posts in fewer datagrams than frames",
         Level.SHOULD),
    Rule(34, "§13.4", "acknowledges a batch of DATA datagrams once: 16 sent back to back draw "
                      "fewer than 16 ACKs", Level.SHOULD),
)

_BY_NUMBER = {r.number: r for r in RULES}


def rule(number: int) -> Rule:
    return _BY_NUMBER[number]
