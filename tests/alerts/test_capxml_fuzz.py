"""Structure-aware fuzzing of CAP XML import (meshnode/alerts/capxml.py): real CAP 1.2 documents
with elements deleted, duplicated, moved, renamed or given hostile text, plus XML-level attacks
(entities, DTDs, deep nesting, odd encodings). Only `CapError` escapes, and an accepted
document always yields an alert whose compact body fits the limits.

Byte-level mutations are in test_capxml.py. `ci` profile by default; `HYPOTHESIS_PROFILE=fuzz`
for the long run.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshnode.alerts.capxml import CapError, import_cap
from meshnode.alerts.compact import decode_alert, encode_alert

DATA = Path(__file__).resolve().parent.parent / "data" / "cap"
NS = "urn:oasis:names:tc:emergency:cap:1.2"
DOCS = [p.read_bytes() for p in sorted(DATA.glob("*")) if p.suffix in (".xml", ".cap")
        and NS.encode() in p.read_bytes()]

HOSTILE_TEXT = [
    "", " ", "\t\n", "x" * 5_000, "-0", "+90.0000001,180", "-90,-180.00000001", "1e5", "NaN",
    "inf", "0x10", "1_000", "١٢٣", "9" * 25, "." + "9" * 21, "0,0 0,0 0,0 0,0", "0,0 1,1",
    "52.1,4.3 0", "52.1,4.3 -1", "52.1,4.3 " + "9" * 20, "52.1,4.3 1 2",
    "2024-02-30T10:00:00+01:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
    "2024-01-01T24:00:00+00:00", "2024-01-01T10:00:00+99:99", "2024-01-01T10:00:00.1234567891Z",
    "2024-01-01T10:00:00", "Actual", "Alert", "Cancel", "Update", "Extreme", "Unknown", "Other",
    "a,b,c d,e,f", "sender,id,2024-01-01T10:00:00+00:00 x", "\u202e\u0635\U0001f525", "&amp;",
    "Geo Met Safety Security Rescue Fire Health Env Transport Infra CBRNE Other",
]
TAGS = ["identifier", "sender", "sent", "status", "msgType", "scope", "info", "category",
        "event", "urgency", "severity", "certainty", "expires", "effective", "onset", "area",
        "areaDesc", "polygon", "circle", "geocode", "valueName", "value", "parameter",
        "references", "language", "headline", "description", "instruction", "web", "note",
        "incidents", "code", "restriction", "addresses", "altitude", "ceiling", "resource",
        "eventCode", "audience", "contact", "senderName", "responseType", "source", "bogus"]


@st.composite
def mutated_documents(draw: st.DrawFn) -> bytes:
    root = ET.fromstring(draw(st.sampled_from(DOCS)))
    for _ in range(draw(st.integers(1, 5))):
        elements = list(root.iter())
        el = draw(st.sampled_from(elements))
        op = draw(st.sampled_from(["text", "text", "delete", "duplicate", "rename", "move",
                                   "add", "namespace", "nest"]))
        parent = next((p for p in elements if el in list(p)), None)
        if op == "text":
            el.text = draw(st.sampled_from(HOSTILE_TEXT) | st.text(max_size=30))
        elif op == "delete" and parent is not None:
            parent.remove(el)
        elif op == "duplicate" and parent is not None:
            parent.insert(draw(st.integers(0, len(parent))), el)
        elif op == "rename":
            el.tag = f"{{{NS}}}{draw(st.sampled_from(TAGS))}"
        elif op == "move" and parent is not None:
            parent.remove(el)
            draw(st.sampled_from(list(root.iter()))).append(el)
        elif op == "add":
            child = ET.SubElement(el, f"{{{NS}}}{draw(st.sampled_from(TAGS))}")
            child.text = draw(st.sampled_from(HOSTILE_TEXT))
        elif op == "namespace":
            el.tag = "{urn:oasis:names:tc:emergency:cap:1.1}" + el.tag.split("}")[-1]
        else:
            for _ in range(draw(st.integers(1, 50))):
                el = ET.SubElement(el, f"{{{NS}}}info")
    return bytes(ET.tostring(root, encoding="utf-8"))


def refused_or_valid(data: bytes, trim: bool) -> None:
    try:
        result = import_cap(data, trim=trim)
    except CapError:
        return
    assert decode_alert(encode_alert(result.alert)) == result.alert


@given(mutated_documents(), st.booleans())
def test_structurally_mutated_documents(data: bytes, trim: bool) -> None:
    refused_or_valid(data, trim)


@given(st.sampled_from(DOCS), st.sampled_from(DOCS), st.data())
def test_spliced_documents(a: bytes, b: bytes, data: st.DataObject) -> None:
    cut_a = data.draw(st.integers(0, len(a)))
    cut_b = data.draw(st.integers(0, len(b)))
    refused_or_valid(a[:cut_a] + b[cut_b:], data.draw(st.booleans()))


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1
                                                            else b"&lol;") * 10)
                             for i in range(1, 10))
                  + b']><alert xmlns="' + NS.encode() + b'">&lol9;</alert>')
ATTACKS = {
    "billion laughs": BILLION_LAUGHS,
    "external entity": b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                       b'<alert xmlns="' + NS.encode() + b'">&x;</alert>',
    "external dtd": b'<?xml version="1.0"?><!DOCTYPE alert SYSTEM "http://example.invalid/x.dtd">'
                    b'<alert xmlns="' + NS.encode() + b'"/>',
    "deep nesting": b'<alert xmlns="' + NS.encode() + b'">' + b"<info>" * 100_000,
    "utf-16 with bom": ('<?xml version="1.0" encoding="utf-16"?><alert xmlns="' + NS
                        + '"/>').encode("utf-16"),
    "unknown encoding": b'<?xml version="1.0" encoding="x-nonsense"?><alert/>',
    "declared latin-1, invalid": b'<?xml version="1.0" encoding="latin-1"?><alert>\xff</alert>',
    "processing instruction": b'<?xml-stylesheet href="x"?><alert xmlns="' + NS.encode()
                              + b'"><?pi x?></alert>',
    "character reference to NUL": b'<alert xmlns="' + NS.encode() + b'">&#0;</alert>',
    "character reference to ESC": b'<alert xmlns="' + NS.encode()
                                  + b'"><identifier>&#x1b;[2J</identifier></alert>',
    "huge attribute": b'<alert xmlns="' + NS.encode() + b'" a="' + b"x" * 500_000 + b'"/>',
    "over the size limit": b"<alert>" + b" " * (1 << 20) + b"</alert>",
    "empty": b"",
}


@pytest.mark.parametrize("data", ATTACKS.values(), ids=ATTACKS.keys())
def test_xml_attacks_are_cap_errors(data: bytes) -> None:
    with pytest.raises(CapError):
        import_cap(data)
