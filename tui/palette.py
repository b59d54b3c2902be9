"""Every colour the app shows, as explicit hex values checked against WCAG's 4.5:1.

Named terminal colours ("white on red") are drawn from each terminal's own palette, or
Textual's ANSI theme, where the safety-critical NOT VERIFIED panel came out at 2.4:1. Hex
values look the same everywhere with true colour, and tests/tui/test_contrast.py checks every
pair here, and every styled segment the views render, at true colour and at their nearest
256-colour match (a 16-colour terminal uses its own palette, which no test can know).
"""

from __future__ import annotations

__all__ = [
    "BACKGROUND",
    "DANGER",
    "FOREGROUND",
    "GOOD",
    "MUTED",
    "NAME",
    "NOTICE",
    "PANEL_BORDER",
    "SEVERITY",
    "SEVERITY_BORDER",
    "UNVERIFIED",
    "UNVERIFIED_BORDER",
    "WARNING_BAR",
]

BACKGROUND = "#121212"  # the screen (set in the app's CSS)
FOREGROUND = "#e0e0e0"  # text without a colour of its own

MUTED = "#a8a8a8"  # times, hints: instead of "dim", which halves the contrast
NAME = "bold #5fd7ff"  # a contact's name
GOOD = "bold #5fd75f"  # verified, "me"
NOTICE = "#ffd75f"  # delivery states, unread counts
DANGER = "bold #ff6b6b"  # an alert covering this node, a contact whose keys changed

_ALARM = "#b3001b"  # white on it: 7.2:1
UNVERIFIED = f"bold #ffffff on {_ALARM}"
UNVERIFIED_BORDER = "#ff5f5f"
WARNING_BAR = ("#ffffff", _ALARM)  # the key-change bar: (text, background) in the CSS
PANEL_BORDER = "#8a8a8a"  # superseded or expired alerts

SEVERITY = {
    "Extreme": f"bold #ffffff on {_ALARM}",
    "Severe": "bold #000000 on #ff8c00",
    "Moderate": "bold #000000 on #ffd700",
    "Minor": "bold #ffffff on #0050a0",
    "Unknown": "bold #ffffff on #5f5f5f",
}
# A panel's frame in its severity's colour, bright enough to stand out on the screen.
SEVERITY_BORDER = {
    "Extreme": "#ff5f5f",
    "Severe": "#ff8c00",
    "Moderate": "#ffd700",
    "Minor": "#5f9fff",
    "Unknown": "#a8a8a8",
}
