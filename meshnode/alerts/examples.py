"""Realistic example alerts for the demo, the docs and tests."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from meshnode.alerts.model import (
    Alert,
    Area,
    Category,
    Certainty,
    Info,
    MsgType,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
)
from meshnode.crypto.authority import (
    IssuerCert,
    Level,
    RootKey,
    TrustStore,
    decode_cert,
    issue_cert,
    sign_alert,
)
from meshnode.crypto.trustfile import write_public_key
from meshnode.wire import Message

__all__ = [
    "BOTLEK_POLYGON", "RIJNMOND", "ExampleAuthority", "example_authority", "example_nl_alert",
]

# Rotterdam-Botlek with Pernis and Hoogvliet, degrees x 10^7 (lat, lon), not closed.
BOTLEK_POLYGON = (
    (519_050_000, 42_600_000),
    (519_080_000, 43_050_000),
    (518_960_000, 43_550_000),
    (518_780_000, 43_700_000),
    (518_560_000, 43_450_000),
    (518_530_000, 43_000_000),
    (518_650_000, 42_650_000),
    (518_850_000, 42_500_000),
)

# Rotterdam-Rijnmond, roughly: a box around the Botlek polygon and the city; an example scope.
RIJNMOND = ((520_500_000, 39_000_000), (520_500_000, 46_500_000),
            (517_500_000, 46_500_000), (517_500_000, 39_000_000))

_DAY = 86_400
_SENDER = "nl-alert@vrr.example"
_SENDER_NAME = "Veiligheidsregio Rotterdam-Rijnmond"
_WEB = "https://www.vrr.nl/actueel"


def example_nl_alert(now: int, *, tz_minutes: int = 60, lifetime: int = 6 * 3600) -> Alert:
    """An NL-Alert-style fire alert in Dutch and English, sent at `now`, one polygon area.

    The texts follow NL-Alert's shape: what is happening (description), what to do and
    where to find more (instruction). `tz_minutes` is the local offset written on export.
    """
    area_nl = Area(area_desc="Rotterdam-Botlek, Pernis en Hoogvliet", polygons=(BOTLEK_POLYGON,))
    area_en = Area(area_desc="Rotterdam-Botlek, Pernis and Hoogvliet",
                   polygons=(BOTLEK_POLYGON,))
    dutch = Info(
        language="nl-NL",
        event="Grote brand",
        headline="Grote brand in Rotterdam-Botlek: sluit ramen en deuren",
        description=(
            "Wat is er aan de hand? In de Botlek in Rotterdam woedt een grote brand bij een "
            "bedrijf. Er komt veel rook vrij. De rook trekt in noordoostelijke richting over "
            "Pernis, Hoogvliet en Rotterdam-Zuid. In de rook kunnen schadelijke stoffen zitten. "
            "De brandweer is met veel eenheden ter plaatse."
        ),
        instruction=(
            "Wat moet u doen? Ga naar binnen. Sluit ramen en deuren en zet de mechanische "
            "ventilatie uit. Bent u buiten? Vermijd de rook en ga zo snel mogelijk naar binnen. "
            "Volg de aanwijzingen van de hulpdiensten. Meer informatie: www.vrr.nl en Rijnmond."
        ),
        areas=(area_nl,),
        categories=(Category.FIRE,),
        response_types=(ResponseType.SHELTER,),
        urgency=Urgency.IMMEDIATE,
        severity=Severity.SEVERE,
        certainty=Certainty.OBSERVED,
        effective=now,
        effective_tz=tz_minutes,
        expires=now + lifetime,
        expires_tz=tz_minutes,
        sender_name=_SENDER_NAME,
        web=_WEB,
    )
    english = replace(
        dutch,
        language="en-GB",
        event="Large fire",
        headline="Large fire in Rotterdam-Botlek: close windows and doors",
        description=(
            "What is happening? A large fire is burning at a company in the Botlek area of "
            "Rotterdam. It produces a lot of smoke. The smoke is drifting north-east over "
            "Pernis, Hoogvliet and Rotterdam-Zuid and may contain harmful substances. The fire "
            "service is on site with many units."
        ),
        instruction=(
            "What should you do? Go indoors. Close windows and doors and switch off mechanical "
            "ventilation. Are you outside? Avoid the smoke and go indoors as soon as possible. "
            "Follow the instructions of the emergency services. More information: www.vrr.nl."
        ),
        areas=(area_en,),
    )
    return Alert(
        identifier=f"nl.vrr.{now}.brand-botlek",
        sender=_SENDER,
        sent=now,
        sent_tz=tz_minutes,
        status=Status.ACTUAL,
        msg_type=MsgType.ALERT,
        scope=Scope.PUBLIC,
        infos=(dutch, english),
    )


@dataclass(frozen=True)
class ExampleAuthority:
    """A throw-away root and one safety region it certifies, for demos, tests and the simulator."""

    root: ed25519.Ed25519PrivateKey
    issuer: ed25519.Ed25519PrivateKey
    cert: IssuerCert
    cert_msg: Message
    trust: TrustStore

    def alert(self, now: int, *, seq: int = 1, alert: Alert | None = None,
              identifier: str | None = None) -> Message:
        """`alert` (default: the example NL-Alert sent at `now`) signed with sequence `seq`."""
        body = alert if alert is not None else example_nl_alert(now)
        if identifier is not None:
            body = replace(body, identifier=identifier)
        return sign_alert(self.issuer, self.cert_msg, body, seq)

    def write_root(self, path: Path) -> Path:
        """Write the root's public key file (as an operator would receive it) to `path`."""
        write_public_key(path, role="root", name=self.trust.roots[0].name,
                         key=self.root.public_key().public_bytes_raw())
        return path


def example_authority(
    now: int, *,
    root: ed25519.Ed25519PrivateKey | None = None,
    issuer: ed25519.Ed25519PrivateKey | None = None,
    root_name: str = "Example root (throw-away)",
    issuer_name: str = _SENDER_NAME,
    issuer_id: str = "nl-vr17",
    serial: int = 17,
    valid: tuple[int, int] = (-_DAY, 30 * _DAY),
    polygons: tuple[tuple[tuple[int, int], ...], ...] = (RIJNMOND,),
    geocodes: tuple[tuple[str, str], ...] = (("CBS", "GM0599"),),
) -> ExampleAuthority:
    """A root (generated unless given) certifying a regional issuer for the example sender.

    The certificate is valid from `now + valid[0]` to `now + valid[1]`, may issue alerts,
    updates and cancels of any severity for `polygons`/`geocodes`; `trust` pins the root.
    """
    root = root if root is not None else ed25519.Ed25519PrivateKey.generate()
    issuer = issuer if issuer is not None else ed25519.Ed25519PrivateKey.generate()
    cert = IssuerCert(
        serial=serial, issuer_id=issuer_id, name=issuer_name,
        key=issuer.public_key().public_bytes_raw(), root_id=bytes(16),
        not_before=now + valid[0], not_after=now + valid[1], level=Level.REGION,
        senders=(_SENDER,), max_severity=Severity.EXTREME,
        msg_types=frozenset({MsgType.ALERT, MsgType.UPDATE, MsgType.CANCEL}),
        polygons=polygons, geocodes=geocodes,
    )
    cert_msg = issue_cert(root, cert)
    trust = TrustStore((RootKey(root.public_key().public_bytes_raw(), root_name),))
    return ExampleAuthority(root, issuer, decode_cert(cert_msg.body), cert_msg, trust)
