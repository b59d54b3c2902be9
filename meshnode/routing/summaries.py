"""The Hello's summaries of the few messages that are compared rather than reconciled.

Revocations and certificates are summarised by id (field 4), alerts by a sequence vector per
issuer (field 5): few enough to send whole, and each side pushes what the other's summary lacks
straight after the Hellos (docs/protocol.md §10.1 step 2).
"""

from __future__ import annotations

from meshnode.routing.frames import MAX_ISSUERS, MAX_SEQS, MAX_TRUST_IDS, Hello
from meshnode.store.base import StoredMessage, StoreView
from meshnode.wire import Kind

__all__ = ["AlertVector", "lacking", "summarise"]

AlertVector = tuple[tuple[str, tuple[int, ...]], ...]
_TRUST = (Kind.REVOKE, Kind.CERT)


def summarise(store: StoreView) -> tuple[tuple[bytes, ...], AlertVector]:
    """(ids of the revocations and certificates held, the alert vector) for our Hello."""
    trust_ids = [m.id for k in _TRUST for m in store.by_kind(int(k))]
    alerts: dict[str, list[int]] = {}
    for m in store.by_kind(int(Kind.ALERT)):
        if m.issuer is not None and m.seq is not None:
            alerts.setdefault(m.issuer.decode("utf-8", "replace"), []).append(m.seq)
    vector = tuple((issuer, tuple(sorted(seqs)[-MAX_SEQS:]))
                   for issuer, seqs in sorted(alerts.items())[:MAX_ISSUERS])
    return tuple(trust_ids[:MAX_TRUST_IDS]), vector


def lacking(store: StoreView, hello: Hello) -> list[StoredMessage]:
    """What we hold of trust and alerts that the peer's Hello does not summarise."""
    held = set(hello.trust_ids)
    missing = [m for k in _TRUST for m in store.by_kind(int(k)) if m.id not in held]
    peer_seqs = {issuer: set(seqs) for issuer, seqs in hello.alerts}
    missing.extend(m for m in store.by_kind(int(Kind.ALERT))
                   if m.seq not in peer_seqs.get((m.issuer or b"").decode("utf-8", "replace"),
                                                 set()))
    return missing
