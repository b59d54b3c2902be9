"""The TUI's string tables and the choice of language."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from meshnode.crypto.authority import Reason
from tui.i18n import REASONS_NL, STRINGS, Lang, pick_language, refusal, text
from tui.render import render_alerts, size


def test_every_string_exists_in_both_languages_with_the_same_placeholders() -> None:
    assert set(STRINGS[Lang.NL]) == set(STRINGS[Lang.EN])
    for key, english in STRINGS[Lang.EN].items():
        fields = set(re.findall(r"\{(\w+)\}", english))
        assert set(re.findall(r"\{(\w+)\}", STRINGS[Lang.NL][key])) == fields, key


def test_dutch_and_english_differ_where_it_matters() -> None:
    assert text(Lang.NL, "offline.title") != text(Lang.EN, "offline.title")
    assert "NIET GEVERIFIEERD" in text(Lang.NL, "alerts.unverified", reason="x")
    assert "NOT VERIFIED" in text(Lang.EN, "alerts.unverified", reason="x")


@pytest.mark.parametrize(("explicit", "env", "expected"), [
    ("nl", {"LANG": "en_US.UTF-8"}, Lang.NL),
    ("en", {"LANG": "nl_NL.UTF-8"}, Lang.EN),
    (None, {"MESHNODE_LANG": "nl", "LANG": "en_GB.UTF-8"}, Lang.NL),
    (None, {"LC_ALL": "nl_BE.UTF-8", "LANG": "en_US.UTF-8"}, Lang.NL),
    (None, {"LC_MESSAGES": "en_US.UTF-8", "LANG": "nl_NL.UTF-8"}, Lang.EN),
    (None, {"LANG": "nl_NL.UTF-8"}, Lang.NL),
    (None, {"LANG": "de_DE.UTF-8"}, Lang.EN),
    (None, {}, Lang.EN),
])
def test_language_choice(explicit: str | None, env: dict[str, str], expected: Lang) -> None:
    assert pick_language(explicit, env) is expected


@given(st.dictionaries(st.sampled_from(["LANG", "LC_ALL", "LC_MESSAGES", "MESHNODE_LANG"]),
                       st.text(max_size=20)))
def test_any_environment_gives_a_supported_language(env: dict[str, str]) -> None:
    assert pick_language(None, env) in (Lang.NL, Lang.EN)


def test_every_verification_failure_has_a_dutch_reason() -> None:
    assert {r.value for r in Reason} == set(REASONS_NL)
    why, detail = refusal("alert unknown root: root id 57b6c0d4e2f1a398 is not pinned here",
                          Lang.NL)
    assert why == "ondertekend onder een stamsleutel die hier niet vertrouwd wordt"
    assert detail == "root id 57b6c0d4e2f1a398 is not pinned here"
    assert refusal("alert bad signature: x", Lang.EN) == ("bad signature", "x")
    assert refusal("alert: bad signature: x", Lang.NL) == ("de handtekening klopt niet", "x")


def test_a_refused_alert_in_dutch_names_its_reason_in_dutch() -> None:
    refused = [{"reason": "alert certificate expired: certificate 3 of VR17", "link": None,
                "first_seen": 1, "last_seen": 2, "count": 1}]
    console = Console(width=100, file=io.StringIO(), record=True, color_system=None)
    console.print(render_alerts([], refused, Lang.NL))
    shown = " ".join(console.export_text().split())
    assert "het certificaat is verlopen. Volg kopieën hiervan niet op." in shown
    assert "Technisch detail (Engels): certificate 3 of VR17" in shown


@pytest.mark.parametrize(("key", "dutch"), [
    ("key.quit", "Afsluiten"), ("peers.state", "Status"), ("alerts.cancelled", "OPGEHEVEN"),
    ("alerts.withdrawn", "INGETROKKEN"), ("status.roots", "Vertrouwde stamsleutels"),
    ("peers.state.up", "actief"),
])
def test_dutch_wording(key: str, dutch: str) -> None:
    assert dutch in text(Lang.NL, key)


def test_the_status_tab_and_its_key_have_one_name() -> None:
    for lang in Lang:
        assert text(lang, "tab.peers") == text(lang, "key.peers")


def test_sizes_are_binary_units_with_a_dutch_decimal_comma() -> None:
    assert size(4300, Lang.NL) == "4,2 KiB" and size(4300, Lang.EN) == "4.2 KiB"
    assert size(268_435_456, Lang.NL) == "256,0 MiB" and size(512, Lang.NL) == "512 B"
