"""A small, real authority chain for tests: a root, a safety region, a municipality."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.alerts.examples import example_nl_alert
from meshnode.alerts.model import Alert, MsgType, Severity
from meshnode.crypto.authority import (
    IssuerCert,
    Level,
    RootKey,
    TrustStore,
    decode_cert,
    issue_cert,
    sign_alert,
)
from meshnode.wire import Message

NOW = 1_790_000_000
DAY = 86_400
# Rotterdam-Rijnmond, roughly: a box around the Botlek example polygon and the city.
RIJNMOND = ((520_500_000, 39_000_000), (520_500_000, 46_500_000),
            (517_500_000, 46_500_000), (517_500_000, 39_000_000))
SENDER = "nl-alert@vrr.example"  # the sender of example_nl_alert


@dataclass
class Chain:
    root: ed25519.Ed25519PrivateKey
    issuer: ed25519.Ed25519PrivateKey
    cert: IssuerCert
    cert_msg: Message
    trust: TrustStore

    def alert(self, alert: Alert | None = None, *, seq: int = 1, key: ed25519.Ed25519PrivateKey
              | None = None, cert_msg: Message | None = None, **kw: int) -> Message:
        return sign_alert(key or self.issuer, cert_msg or self.cert_msg,
                          alert or example_nl_alert(NOW, lifetime=6 * 3600), seq, **kw)

    def with_cert(self, **changes: object) -> Chain:
        cert = dataclasses.replace(self.cert, **changes)  # type: ignore[arg-type]
        return dataclasses.replace(self, cert=cert, cert_msg=issue_cert(self.root, cert))


def make_chain(**cert_changes: object) -> Chain:
    root = ed25519.Ed25519PrivateKey.generate()
    issuer = ed25519.Ed25519PrivateKey.generate()
    cert = IssuerCert(
        serial=17, issuer_id="nl-vr17", name="Veiligheidsregio Rotterdam-Rijnmond",
        key=issuer.public_key().public_bytes_raw(), root_id=bytes(16),
        not_before=NOW - DAY, not_after=NOW + 30 * DAY, level=Level.REGION,
        senders=(SENDER,), max_severity=Severity.EXTREME,
        msg_types=frozenset({MsgType.ALERT, MsgType.UPDATE, MsgType.CANCEL}),
        polygons=(RIJNMOND,), geocodes=(("CBS", "GM0599"),),
    )
    cert = dataclasses.replace(cert, **cert_changes)  # type: ignore[arg-type]
    cert_msg = issue_cert(root, cert)
    trust = TrustStore((RootKey(root.public_key().public_bytes_raw(), "Test root"),))
    return Chain(root, issuer, decode_cert(cert_msg.body), cert_msg, trust)


def nl_alert(**changes: object) -> Alert:
    """The example NL-Alert sent at NOW, with `changes` applied."""
    return dataclasses.replace(example_nl_alert(NOW), **changes)  # type: ignore[arg-type]
