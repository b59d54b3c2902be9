"""A small, real authority chain for tests: a root, a safety region, a municipality."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.alerts.examples import example_authority, example_nl_alert
from meshnode.alerts.model import Alert
from meshnode.crypto.authority import (
    IssuerCert,
    TrustStore,
    issue_cert,
    sign_alert,
)
from meshnode.wire import Message

NOW = 1_790_000_000
DAY = 86_400
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
    example = example_authority(NOW, root_name="Test root")
    chain = Chain(example.root, example.issuer, example.cert, example.cert_msg, example.trust)
    return chain.with_cert(**cert_changes) if cert_changes else chain


def nl_alert(**changes: object) -> Alert:
    """The example NL-Alert sent at NOW, with `changes` applied."""
    return dataclasses.replace(example_nl_alert(NOW), **changes)  # type: ignore[arg-type]
