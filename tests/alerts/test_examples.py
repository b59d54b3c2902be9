"""The example NL-Alert: valid, bilingual, in NL-Alert's shape, and small enough to relay."""

from __future__ import annotations

from pathlib import Path

import xmlschema

from meshnode.alerts.capxml import export_cap, import_cap
from meshnode.alerts.compact import encode_alert
from meshnode.alerts.examples import example_nl_alert
from meshnode.alerts.model import MAX_BODY, TEXT_MAX_CHARS, MsgType, alert_problems

SCHEMA = Path(__file__).parent.parent / "data" / "cap" / "oasiscap-cap12.xsd"
NOW = 1_790_000_000


def test_example_is_a_valid_bilingual_nl_alert() -> None:
    alert = example_nl_alert(NOW)
    assert alert_problems(alert) == ()
    assert alert.msg_type is MsgType.ALERT and alert.sent == NOW
    assert [i.language for i in alert.infos] == ["nl-NL", "en-GB"]
    dutch, english = alert.infos
    assert dutch.description is not None and dutch.description.startswith("Wat is er aan de hand?")
    assert dutch.instruction is not None and dutch.instruction.startswith("Wat moet u doen?")
    assert english.instruction is not None and "More information" in english.instruction
    for info in alert.infos:
        assert 300 <= info.text_chars <= TEXT_MAX_CHARS
        assert info.expires > NOW and info.areas[0].polygons
    assert len(encode_alert(alert)) <= MAX_BODY


def test_example_exports_valid_cap_and_reads_back() -> None:
    alert = example_nl_alert(NOW, tz_minutes=120, lifetime=3600)
    exported = export_cap(alert)
    xmlschema.XMLSchema(str(SCHEMA)).validate(exported.decode())
    assert import_cap(exported).alert == alert
    assert alert.expires == NOW + 3600
    assert b"+02:00</sent>" in exported
