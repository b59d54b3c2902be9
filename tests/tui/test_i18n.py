"""The TUI's string tables and the choice of language."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui.i18n import STRINGS, Lang, pick_language, text


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
