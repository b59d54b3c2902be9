"""Realistic example alerts for the demo, the docs and tests."""

from __future__ import annotations

from dataclasses import replace

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

__all__ = ["BOTLEK_POLYGON", "example_nl_alert"]

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
        sender="nl-alert@vrr.example",
        sent=now,
        sent_tz=tz_minutes,
        status=Status.ACTUAL,
        msg_type=MsgType.ALERT,
        scope=Scope.PUBLIC,
        infos=(dutch, english),
    )
