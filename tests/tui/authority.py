"""A throwaway authority for the TUI tests: a root, a safety region, alerts signed now."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.alerts.examples import RIJNMOND, example_nl_alert
from meshnode.alerts.model import MsgType, Severity
from meshnode.crypto.authority import IssuerCert, Level, issue_cert, sign_alert
from meshnode.crypto.trustfile import write_public_key
from meshnode.wire import Message, encode_message
from tests.crypto.chain import DAY, SENDER

ROOT_NAME = "Test root NCTV"
ISSUER_NAME = "Veiligheidsregio Rotterdam-Rijnmond"


@dataclass
class Authority:
    root: ed25519.Ed25519PrivateKey
    issuer: ed25519.Ed25519PrivateKey
    cert_msg: Message

    def write_root(self, path: Path) -> Path:
        write_public_key(path, role="root", name=ROOT_NAME,
                         key=self.root.public_key().public_bytes_raw())
        return path

    def alert(self, now: int, *, seq: int = 1) -> bytes:
        """The example NL-Alert (Dutch and English), sent at `now`, as a message file."""
        alert = example_nl_alert(now, lifetime=6 * 3600)
        return encode_message(sign_alert(self.issuer, self.cert_msg, alert, seq))


def make_authority(now: int) -> Authority:
    root = ed25519.Ed25519PrivateKey.generate()
    issuer = ed25519.Ed25519PrivateKey.generate()
    cert = IssuerCert(
        serial=17, issuer_id="nl-vr17", name=ISSUER_NAME,
        key=issuer.public_key().public_bytes_raw(), root_id=bytes(16),
        not_before=now - DAY, not_after=now + 30 * DAY, level=Level.REGION,
        senders=(SENDER,), max_severity=Severity.EXTREME,
        msg_types=frozenset({MsgType.ALERT, MsgType.UPDATE, MsgType.CANCEL}),
        polygons=(RIJNMOND,), geocodes=(("CBS", "GM0599"),),
    )
    return Authority(root, issuer, issue_cert(root, dataclasses.replace(cert)))
