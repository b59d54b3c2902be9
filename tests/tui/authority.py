"""A throwaway authority for the TUI tests: a root, a safety region, alerts signed now."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from meshnode.alerts.examples import ExampleAuthority, example_authority, example_nl_alert
from meshnode.alerts.model import MsgType, Reference
from meshnode.wire import encode_message

ROOT_NAME = "Test root NCTV"
ISSUER_NAME = "Veiligheidsregio Rotterdam-Rijnmond"


@dataclass
class Authority:
    example: ExampleAuthority

    def write_root(self, path: Path) -> Path:
        return self.example.write_root(path)

    def alert(self, now: int, *, seq: int = 1, update_of: int | None = None) -> bytes:
        """The example NL-Alert (Dutch and English), sent at `now`, as a message file; with
        `update_of`, an Update of the example alert sent at that time."""
        alert = example_nl_alert(now, lifetime=6 * 3600)
        if update_of is not None:
            original = example_nl_alert(update_of)
            alert = dataclasses.replace(
                alert, msg_type=MsgType.UPDATE, identifier=f"{alert.identifier}.update",
                references=(Reference(original.sender, original.identifier, original.sent),))
        return encode_message(self.example.alert(now, seq=seq, alert=alert))


def make_authority(now: int) -> Authority:
    return Authority(example_authority(now, root_name=ROOT_NAME, issuer_name=ISSUER_NAME))
