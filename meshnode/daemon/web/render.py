"""HTML pages from the board's model: Jinja2 templates with every value escaped.

Autoescaping is on for every template, so a resident's post, an alert's text or a channel
name reaches the page as text, never as markup; only the QR code's SVG (made here by segno
from the configured Wi-Fi name and address, with its own escaping) is inserted as markup.
Pages are self-contained: one style sheet from the hub, no script, no font, no image file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

from meshnode.daemon.config import WebConfig
from meshnode.daemon.web import strings
from meshnode.daemon.web.board import Board, KioskItem, PostLine
from meshnode.daemon.web.qr import url_svg, wifi_svg

__all__ = ["Renderer"]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("meshnode.daemon.web", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_ENV.globals.update(cap=strings.cap, ago=strings.ago, day_time=strings.day_time, tx=strings.text,
                    clock=strings.clock)


@dataclass(frozen=True, slots=True)
class Renderer:
    """Renders the pages of one steunpunt (its `[web]` settings) in either language."""

    web: WebConfig

    def _page(self, template: str, lang: str, **values: Any) -> str:
        def t(key: str, **fill: object) -> str:
            return strings.text(key, lang, **fill)

        other = "en" if lang == "nl" else "nl"
        return _ENV.get_template(template).render(lang=lang, other=other, t=t, web=self.web,
                                                  **values)

    def board(self, board: Board, lang: str) -> str:
        return self._page("board.html", lang, board=board, now=board.generated)

    def channel(self, name: str, posts: tuple[PostLine, ...], now: int, lang: str) -> str:
        return self._page("channel.html", lang, channel=name, posts=posts, now=now)

    def kiosk(self, board: Board, item: KioskItem | None, index: int, total: int,
              lang: str, next_url: str) -> str:
        return self._page("kiosk.html", lang, board=board, item=item, index=index,
                          total=total, next_url=next_url, now=board.generated)

    def card(self, lang: str) -> str:
        wifi = (Markup(wifi_svg(self.web.wifi_name, self.web.wifi_password,
                                strings.text("card_join", lang)))
                if self.web.wifi_name else None)
        url = (Markup(url_svg(self.web.url, strings.text("card_open", lang)))
               if self.web.url else None)
        return self._page("card.html", lang, wifi_qr=wifi, url_qr=url)

    def message(self, key: str, lang: str) -> str:
        """A page that only says one thing (not found, unavailable)."""
        return self._page("message.html", lang, key=key)
