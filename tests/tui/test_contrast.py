"""Every colour pair the app draws reaches WCAG's 4.5:1 contrast for text.

Checked on what the views really render (every styled segment of the alerts of each severity
and state, a refused alert, posts, a conversation, the status, the QR code) and on every
style the app sets itself (tui.palette), at true colour and at the nearest colour of a
256-colour terminal. A 16-colour terminal draws with its own palette, which no test can know.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from rich.color import Color, ColorSystem
from rich.console import Console, RenderableType
from rich.style import Style

from tests.tui.sample import snapshot
from tui import palette
from tui.app import MeshApp
from tui.i18n import Lang
from tui.render import render_alerts, render_conversation, render_posts, render_qr, render_status

MINIMUM = 4.5


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = rgb
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(fg: str, bg: str, system: ColorSystem) -> float:
    """WCAG 2 contrast ratio of two colours as drawn with `system`."""
    a, b = (tuple(Color.parse(c).downgrade(system).get_truecolor()) for c in (fg, bg))
    la, lb = _luminance(a), _luminance(b)  # type: ignore[arg-type]
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def test_the_contrast_formula_matches_wcag_examples() -> None:
    assert contrast("#000000", "#ffffff", ColorSystem.TRUECOLOR) == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff", ColorSystem.TRUECOLOR) == pytest.approx(4.48, 0.01)
    # The pair the NOT VERIFIED panel used to get from the terminal palette.
    assert contrast("#c4c5b5", "#f4005f", ColorSystem.TRUECOLOR) < 2.5


def _pair(style: Style) -> tuple[str, str]:
    """(text colour, background) of a style on the app's screen; no "dim" allowed."""
    assert not style.dim, f"{style}: dim text halves the contrast, use palette.MUTED"
    fg = style.color.get_truecolor().hex if style.color else palette.FOREGROUND
    bg = style.bgcolor.get_truecolor().hex if style.bgcolor else palette.BACKGROUND
    for value in (style.color, style.bgcolor):
        assert value is None or not value.is_system_defined, (
            f"{style}: a terminal palette colour, whose contrast nobody knows")
    return (bg, fg) if style.reverse else (fg, bg)


def _segments(renderable: RenderableType) -> Iterator[tuple[str, Style]]:
    console = Console(width=80, color_system="truecolor", file=None, force_terminal=True)
    for segment in console.render(renderable):
        if segment.text.strip() and segment.style is not None:
            yield segment.text, segment.style


def _views() -> Iterator[tuple[str, RenderableType]]:
    data = snapshot()
    thread = data["alert_history"]["threads"][0]
    for lang in Lang:
        for severity in palette.SEVERITY:
            for state in ("active", "cancelled", "withdrawn", "expired"):
                variant = copy.deepcopy(thread)
                variant["state"] = state
                for entry in variant["entries"]:
                    entry["severity"] = severity
                yield f"{lang} {severity} {state}", render_alerts(
                    [variant], [], lang)
        refused: list[dict[str, Any]] = [{"reason": "alert unknown root", "link": None,
                                          "first_seen": 1, "last_seen": 2, "count": 3}]
        yield f"{lang} refused", render_alerts([], refused, lang)
        yield f"{lang} posts", render_posts("wijk-noord", data["posts"]["posts"], lang)
        bob = data["contacts"]["contacts"][0]
        yield f"{lang} conversation", render_conversation(
            bob, data["inbox"]["messages"], data["outbox"]["messages"], lang)
        yield f"{lang} status", render_status(data["status"], lang)
    qr = render_qr("OWDK 3MZL WGLU 5LQ2 7GBP JJGA 2XHY NZ4B")
    assert qr is not None
    yield "qr", qr


@pytest.mark.parametrize("system", [ColorSystem.TRUECOLOR, ColorSystem.EIGHT_BIT])
def test_every_rendered_segment_reaches_4_5_to_1(system: ColorSystem) -> None:
    checked = 0
    for name, view in _views():
        for text, style in _segments(view):
            fg, bg = _pair(style)
            ratio = contrast(fg, bg, system)
            assert ratio >= MINIMUM, f"{name}: {text!r} is {ratio:.2f}:1 ({fg} on {bg})"
            checked += 1
    assert checked > 200


@pytest.mark.parametrize("system", [ColorSystem.TRUECOLOR, ColorSystem.EIGHT_BIT])
def test_every_palette_style_reaches_4_5_to_1(system: ColorSystem) -> None:
    styles = [palette.MUTED, palette.NAME, palette.GOOD, palette.NOTICE, palette.DANGER,
              palette.UNVERIFIED, palette.UNVERIFIED_BORDER, palette.PANEL_BORDER,
              f"{palette.WARNING_BAR[0]} on {palette.WARNING_BAR[1]}",
              *palette.SEVERITY.values(), *palette.SEVERITY_BORDER.values()]
    for text in styles:
        fg, bg = _pair(Style.parse(text))
        assert contrast(fg, bg, system) >= MINIMUM, text


def test_the_app_css_takes_its_colours_from_the_palette() -> None:
    css = MeshApp.CSS
    assert f"background: {palette.BACKGROUND}" in css
    assert f"background: {palette.WARNING_BAR[1]}; color: {palette.WARNING_BAR[0]}" in css
    for theme_colour in ("$error", "$text-muted", "$text;"):
        assert theme_colour not in css
