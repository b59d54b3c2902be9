"""QR codes for the join card, as inline SVG (segno): no image request, no script.

`wifi_svg` encodes the standard Wi-Fi joining string (``WIFI:T:WPA;S:...;P:...;;``, which
phone cameras offer to join; segno escapes the special characters); `url_svg` the board's
address. The SVG has no size of its own: the card's style sheet sizes it.
"""

from __future__ import annotations

import segno
from segno import helpers

__all__ = ["url_svg", "wifi_svg"]


def _svg(data: str, title: str) -> str:
    code = segno.make(data, error="m", micro=False)
    svg: str = code.svg_inline(scale=4, border=2, omitsize=True, svgclass="qr",
                               title=title, dark="#000", light="#fff")
    return svg


def wifi_svg(ssid: str, password: str, title: str) -> str:
    """A QR code that joins the Wi-Fi network `ssid` (open when `password` is "")."""
    data = helpers.make_wifi_data(ssid=ssid, password=password or None,
                                  security="WPA" if password else "nopass")
    return _svg(data, title)


def url_svg(url: str, title: str) -> str:
    """A QR code that opens `url`."""
    return _svg(url, title)
