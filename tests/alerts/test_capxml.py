"""CAP XML import and export against real alerts, the official schema and hostile input."""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest
import shapely
import xmlschema
from hypothesis import given
from hypothesis import strategies as st

from meshnode.alerts.capxml import (
    DEFAULT_LIFETIME,
    MAX_XML,
    TRIM_NOTE_PREFIX,
    CapError,
    CapLimitError,
    CapVersionError,
    export_cap,
    import_cap,
)
from meshnode.alerts.compact import decode_alert, encode_alert
from meshnode.alerts.model import MAX_BODY, MAX_PARAMETERS, MAX_POLYGON_POINTS, TEXT_MAX_CHARS
from tests.alerts.strategies import alerts

DATA = Path(__file__).parent.parent / "data" / "cap"
SCHEMA = xmlschema.XMLSchema(str(DATA / "oasiscap-cap12.xsd"))

OLD_VERSIONS = {
    "google-earthquake.cap": "1.1",
    "google-earthquake_signed.cap": "1.1",
    "google-weather.cap": "1.1",
    **{f"oasiscap-v1dot0_appendix_adot{i}.xml": "1.0" for i in range(1, 5)},
    **{f"oasiscap-v1dot1_appendix_adot{i}.xml": "1.1" for i in range(1, 5)},
}
# CAP 1.2 files beyond our limits, and where the first breach is reported.
OVER_LIMITS = {
    "google-wcatwc-warning.cap": "alert",  # 38 parameters: compact body over 4 KiB
    "oasiscap-v1dot2_appendix_adot1.xml": "info[0].expires",
    "oasiscap-v1dot2_appendix_adot3.xml": "info[0].expires",
    "oasiscap-v1dot2_appendix_adot4.xml": "info[0].expires",
}
ALL_FILES = sorted(p.name for p in DATA.iterdir() if p.suffix in (".xml", ".cap"))
CAP12_FILES = [name for name in ALL_FILES if name not in OLD_VERSIONS]
WITHIN_LIMITS = [name for name in CAP12_FILES if name not in OVER_LIMITS]
THUNDERSTORM = (DATA / "oasiscap-v1dot2_appendix_adot2.xml").read_bytes()


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def edit(old: str, new: str, doc: bytes = THUNDERSTORM) -> bytes:
    text = doc.decode()
    assert old in text
    return text.replace(old, new, 1).encode()


def test_every_data_file_has_an_expectation() -> None:
    assert set(OVER_LIMITS) <= set(CAP12_FILES)
    assert len(WITHIN_LIMITS) >= 10


@pytest.mark.parametrize("name", WITHIN_LIMITS)
def test_real_alert_imports_exports_valid_cap_and_round_trips(name: str) -> None:
    result = import_cap(read(name))
    assert result.trims == ()
    exported = export_cap(result.alert)
    SCHEMA.validate(exported.decode())
    again = import_cap(exported)
    assert again.alert == result.alert
    assert again.warnings == ()
    assert decode_alert(encode_alert(result.alert)) == result.alert


@pytest.mark.parametrize("name", sorted(OVER_LIMITS))
def test_real_alert_over_limits_needs_trim(name: str) -> None:
    with pytest.raises(CapLimitError) as caught:
        import_cap(read(name))
    assert caught.value.problems[0].where == OVER_LIMITS[name]
    result = import_cap(read(name), trim=True)
    assert result.trims and all(isinstance(t, str) for t in result.trims)
    assert len(encode_alert(result.alert)) <= MAX_BODY
    # The alert itself says it was trimmed, so every export of it does too.
    assert result.alert.note is not None and TRIM_NOTE_PREFIX in result.alert.note
    exported = export_cap(result.alert)
    SCHEMA.validate(exported.decode())
    assert import_cap(exported).alert == result.alert


@pytest.mark.parametrize("name", sorted(OLD_VERSIONS))
def test_cap_1_0_and_1_1_are_upgraded_to_1_2_saying_so(name: str) -> None:
    result = import_cap(read(name), trim=True)  # the appendix examples have no <expires>
    assert result.warnings[0].startswith(f"CAP {OLD_VERSIONS[name]} document read as CAP 1.2")
    exported = export_cap(result.alert)
    SCHEMA.validate(exported.decode())
    assert import_cap(exported).alert == result.alert


def test_the_same_example_in_cap_1_0_1_1_and_1_2_imports_alike() -> None:
    """OASIS publishes appendix example A.1 in every version: one alert, three documents."""
    alerts = [import_cap(read(f"oasiscap-v1dot{v}_appendix_adot1.xml"), trim=True).alert
              for v in (0, 1, 2)]
    assert alerts[1] == alerts[2]
    # The 1.0 text was re-wrapped (and a hyphen lost) by the spec's editors: all else is equal.
    untexted = [replace(a, infos=tuple(replace(i, description=None, instruction=None)
                                       for i in a.infos)) for a in alerts]
    assert untexted[0] == untexted[2]


def test_cap_1_0_name_value_strings_and_very_likely_are_upgraded() -> None:
    result = import_cap(read("oasiscap-v1dot0_appendix_adot3.xml"), trim=True)
    [info] = result.alert.infos
    assert info.parameters[:3] == (("EventID", "13970876"), ("Version", "1"),
                                   ("Magnitude", "3.4 Ml"))
    assert info.certainty.cap == "Likely"
    assert any("'Very Likely' read as 'Likely'" in w for w in result.warnings)
    four = import_cap(read("oasiscap-v1dot0_appendix_adot4.xml"), trim=True).alert
    assert four.areas[0].geocodes == (("fips6", "006037"),)


def test_a_real_cap_1_1_feed_alert_keeps_its_content() -> None:
    result = import_cap(read("google-earthquake.cap"))
    [info] = result.alert.infos
    assert ("EventIDKey", "us2010apcd") in info.parameters
    assert result.alert.sender and info.areas


def test_an_unknown_cap_version_is_refused_naming_it() -> None:
    doc = edit("urn:oasis:names:tc:emergency:cap:1.2", "urn:oasis:names:tc:emergency:cap:1.3")
    with pytest.raises(CapVersionError, match=re.escape("CAP 1.3")) as caught:
        import_cap(doc)
    assert caught.value.version == "1.3"


def test_fields_of_the_thunderstorm_example() -> None:
    alert = import_cap(THUNDERSTORM).alert
    assert alert.sent == int(datetime(2003, 6, 17, 21, 57, tzinfo=UTC).timestamp())
    assert alert.sent_tz == -7 * 60
    [info] = alert.infos
    assert info.language == "en-US"  # CAP's default when <language> is absent
    assert info.event_codes == (("SAME", "SVR"),)
    assert info.description is not None and info.description.startswith("AT 254 PM PDT")
    [area] = info.areas
    assert area.polygons == (((384_700_000, -1_201_400_000), (383_400_000, -1_199_500_000),
                              (385_200_000, -1_197_400_000), (386_200_000, -1_198_900_000)),)
    assert [value for _, value in area.geocodes] == ["006109", "006009", "006003"]
    exported = export_cap(alert).decode()
    assert "<sent>2003-06-17T14:57:00-07:00</sent>" in exported
    assert "<expires>2003-06-17T16:00:00-07:00</expires>" in exported
    assert "38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14" in exported


def test_circles_references_and_decimals_of_real_alerts() -> None:
    australia = import_cap(read("google-australia.cap")).alert
    circle = australia.infos[0].areas[0].circles[0]
    assert (circle.lat_e7, circle.lon_e7, circle.radius_m) == (-353_888_000, 1_470_598_000,
                                                                25_000)
    paaq = import_cap(read("oasiscap-google-PAAQ-4-mg5a94.xml")).alert
    assert [r.identifier for r in paaq.references] == ["PAAQ-1-mg5a94", "PAAQ-2-mg5a94",
                                                       "PAAQ-3-mg5a94"]
    assert paaq.references[0].sender == "wcatwc@noaa.gov"
    dwd = import_cap(read("kde-dwd-update.xml")).alert.infos[0].areas[0]
    assert (dwd.altitude_ft_e4, dwd.ceiling_ft_e4) == (0, 98_425_197)
    canada = import_cap(read("google-canada.cap")).alert
    assert canada.sent_tz == 0 and canada.restriction is None  # "-00:00", empty <restriction/>
    assert [info.language for info in canada.infos] == ["en-CA", "fr-CA"]


def test_polygon_with_trailing_space_and_repeated_points() -> None:
    result = import_cap(read("kde-polygon-trailing-space.xml"))
    [ring] = result.alert.infos[0].areas[0].polygons
    assert len(ring) == 9 and ring[0] == (-52_331_870, -356_616_210)


def test_what_is_not_carried_is_reported() -> None:
    tsunami = import_cap(read("kde-tsunami.xml"))
    assert any("XML-DSig signature present, not verified" in w for w in tsunami.warnings)
    assert any("resource" in w for w in tsunami.warnings)
    israel = import_cap(read("kde-il-488abaaf-cad5-4d2b-93b2-703016878453.xml"))
    assert sum("empty polygon ignored" in w for w in israel.warnings) == 6
    dwd = import_cap(read("kde-dwd-update.xml"))
    assert any("cannot enclose an area" in w for w in dwd.warnings)
    ipaws = import_cap(read("oasiscap-ipaws-5e7e0fc5023f1930efcf3deb.xml"))
    assert any("rounded to 7 decimals" in w for w in ipaws.warnings)


def test_cancel_without_info_imports() -> None:
    alert = import_cap(read("oasiscap-ipaws-5e6dd9de023f1930ef6548d9.xml")).alert
    assert alert.infos == () and alert.expires is None and len(alert.references) == 1


# --- trimming --------------------------------------------------------------------------------


def test_long_text_is_refused_then_shortened_description_first() -> None:
    doc = edit("TAKE COVER", "TAKE COVER " + "AND STAY INSIDE " * 10,
               edit("STORM.</description>", "STORM. " + "More detail. " * 150 + "</description>"))
    with pytest.raises(CapLimitError, match=re.escape(f"exceeds {TEXT_MAX_CHARS:,}")) as caught:
        import_cap(doc)
    assert caught.value.problems[0].where == "info[0].text"
    original = import_cap(doc, trim=True)
    [info] = original.alert.infos
    assert info.text_chars <= TEXT_MAX_CHARS
    assert info.description is not None and info.description.endswith("…")
    assert info.instruction is not None and info.instruction.endswith("STORM PASSES.")
    assert info.headline == "SEVERE THUNDERSTORM WARNING"
    assert [t.split(":")[0] for t in original.trims] == ["info[0].description"]


def test_large_polygon_is_refused_then_simplified_keeping_its_shape() -> None:
    n = 300
    turns = [2 * math.pi * k / n for k in range(n)]
    points = [(51.9 + 0.05 * math.sin(t), 4.3 + 0.08 * math.cos(t)) for t in turns]
    text = " ".join(f"{lat:.6f},{lon:.6f}" for lat, lon in [*points, points[0]])
    doc = re.sub(r"<polygon>.*</polygon>", f"<polygon>{text}</polygon>", THUNDERSTORM.decode())
    with pytest.raises(CapLimitError, match="300 points") as caught:
        import_cap(doc.encode())
    assert caught.value.problems[0].where == "info[0].area[0].polygon[0]"
    result = import_cap(doc.encode(), trim=True)
    [ring] = result.alert.infos[0].areas[0].polygons
    assert 3 <= len(ring) <= MAX_POLYGON_POINTS
    before = shapely.Polygon([(lon, lat) for lat, lon in points])
    after = shapely.Polygon([(lon / 1e7, lat / 1e7) for lat, lon in ring])
    assert before.symmetric_difference(after).area / before.area < 0.02
    assert any("simplified from 300" in t for t in result.trims)


def test_surplus_parameters_are_dropped_only_with_trim() -> None:
    params = "".join(f"<parameter><valueName>p{i}</valueName><value>{i}</value></parameter>"
                     for i in range(MAX_PARAMETERS + 5))
    doc = edit("<area>", params + "<area>")
    with pytest.raises(CapLimitError) as caught:
        import_cap(doc)
    assert caught.value.problems[0].where == "info[0].parameters"
    result = import_cap(doc, trim=True)
    kept = result.alert.infos[0].parameters
    assert kept == tuple((f"p{i}", str(i)) for i in range(MAX_PARAMETERS))


def test_oversized_body_sheds_parameters_but_keeps_the_message() -> None:
    plain = import_cap(read("google-wcatwc-warning.cap"), trim=True).alert.infos[0]
    root = ElementTree.fromstring(read("google-wcatwc-warning.cap"))
    ns = "{urn:oasis:names:tc:emergency:cap:1.2}"
    source = root.find(f"{ns}info")
    assert source is not None
    assert plain.description == (source.findtext(f"{ns}description") or "").strip()
    assert 0 < len(plain.parameters) < len(source.findall(f"{ns}parameter"))


def test_missing_expiry_becomes_sent_plus_lifetime_with_trim() -> None:
    doc = read("oasiscap-v1dot2_appendix_adot1.xml")
    alert = import_cap(doc, trim=True).alert
    assert alert.infos[0].expires == alert.sent + DEFAULT_LIFETIME
    assert import_cap(doc, trim=True, default_lifetime=3600).alert.infos[0].expires == (
        alert.sent + 3600)


def test_limits_that_trimming_must_not_fix() -> None:
    info = re.search(r"<info>.*</info>", THUNDERSTORM.decode(), re.S)
    assert info is not None
    five = edit(info.group(0), info.group(0) * 5)
    for trim in (False, True):
        with pytest.raises(CapLimitError) as caught:
            import_cap(five, trim=trim)
        assert caught.value.problems[0].where == "infos"


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(("doc", "message"), [
    (edit("<identifier>KSTO1055887203</identifier>", ""), "identifier: missing"),
    (edit("<event>SEVERE THUNDERSTORM</event>", ""), "info[0].event: missing"),
    (edit("<category>Met</category>", ""), "info[0].category: missing"),
    (edit("<urgency>Immediate</urgency>", "<urgency> </urgency>"), "info[0].urgency: missing"),
    (edit("<valueName>SAME</valueName>", ""), "info[0].eventCode[0].valueName: missing"),
    (edit("<status>Actual</status>", "<status>actual</status>"), "status: 'actual'"),
    (edit("<msgType>Alert</msgType>", "<msgType>Alert</msgType><msgType>Alert</msgType>"),
     "msgType> appears 2 times"),
    (edit("2003-06-17T14:57:00-07:00", "2003-02-30T14:57:00-07:00"), "sent:"),
    (edit("2003-06-17T14:57:00-07:00", "17 June 2003"), "sent: '17 June 2003'"),
    (edit("2003-06-17T14:57:00-07:00", "2003-06-17T14:57:00-15:00"), "sent: UTC offset"),
    (edit("38.47,-120.14 38.34", "38.47;-120.14 38.34"), "polygon[0]: '38.47;-120.14'"),
    (edit("38.47,-120.14 38.34", "98.47,-120.14 38.34"), "polygon[0]: 98.47 is out of range"),
    (edit("38.47,-120.14 38.34", "38.47,-1e2 38.34"), "'-1e2' is not a decimal"),
    (edit("<polygon>", "<circle>1,2</circle><polygon>"), "circle[0]: '1,2'"),
    (edit("38.47,-120.14 38.34", "38.4" + "7" * 30 + ",-120.14 38.34"), "is not a decimal"),
    (edit("2003-06-17T14:57:00-07:00", "\u0662003-06-17T14:57:00-07:00"), "sent:"),
    (edit("<identifier>KSTO1055887203", "<identifier>KSTO 1055887203"), "identifier:"),
    (edit("<category>", "<language>en_US</language><category>"), "language: 'en_US'"),
    (edit("SEVERE THUNDERSTORM</event>", "SEVERE &#127; STORM</event>"), "U+007F"),
    (edit("<sender>KSTO@NWS.NOAA.GOV</sender>", "<sender><b>x</b></sender>"),
     "sender: unexpected child"),
])
def test_broken_documents_name_the_field(doc: bytes, message: str) -> None:
    with pytest.raises(CapError, match=re.escape(message)) as caught:
        import_cap(doc)
    assert not isinstance(caught.value, CapLimitError)


@pytest.mark.parametrize("doc", [
    b"",
    b"<alert",
    b"not xml at all",
    b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">'
    b']><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&b;</identifier>'
    b"</alert>",
    b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><note>&x;</note></alert>',
    b'<?xml version="1.0" encoding="no-such-codec"?><alert/>',
    b'<alert xmlns="urn:example:other"><identifier>x</identifier></alert>',
    b'<feed xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>',
])
def test_malformed_and_hostile_xml_is_a_cap_error(doc: bytes) -> None:
    with pytest.raises(CapError):
        import_cap(doc)


def test_unknown_cap_version_is_named() -> None:
    doc = THUNDERSTORM.replace(b"emergency:cap:1.2", b"emergency:cap:1.3")
    with pytest.raises(CapVersionError, match=r"CAP 1\.3"):
        import_cap(doc)


def test_oversized_and_non_bytes_input() -> None:
    with pytest.raises(CapError, match="limit"):
        import_cap(b" " * (MAX_XML + 1))
    with pytest.raises(CapError, match="bytes"):
        import_cap(THUNDERSTORM.decode())  # type: ignore[arg-type]


def test_lenient_time_forms_are_warned_about() -> None:
    doc = edit("2003-06-17T14:57:00-07:00", "2003-06-17T21:57:00.25Z")
    result = import_cap(doc)
    assert result.alert.sent == int(datetime(2003, 6, 17, 21, 57, tzinfo=UTC).timestamp())
    assert result.alert.sent_tz == 0
    assert any("fractional" in w for w in result.warnings)
    assert any("'Z'" in w for w in result.warnings)


# --- properties ------------------------------------------------------------------------------


@given(alerts())
def test_model_to_cap_xml_to_model_is_exact(alert: object) -> None:
    result = import_cap(export_cap(alert))  # type: ignore[arg-type]
    assert result.alert == alert
    assert result.warnings == () and result.trims == ()


@given(alerts(max_infos=1))
def test_every_export_is_valid_cap_1_2(alert: object) -> None:
    exported = export_cap(alert, trimmed_notes=("x: shortened",))  # type: ignore[arg-type]
    SCHEMA.validate(exported.decode())


@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_cap_error(data: bytes) -> None:
    with contextlib.suppress(CapError):
        import_cap(data)


@given(st.sampled_from(CAP12_FILES), st.data())
def test_mutated_real_documents_raise_only_cap_error(name: str, data: st.DataObject) -> None:
    doc = bytearray(read(name)[:20_000])
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(doc) - 1))
        doc[at] = data.draw(st.integers(0, 255))
    try:
        result = import_cap(bytes(doc), trim=data.draw(st.booleans()))
    except CapError:
        return
    assert len(encode_alert(result.alert)) <= MAX_BODY
