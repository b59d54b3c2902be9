"""`RedirectApp` (`[web] redirect_listen`): where a plain-HTTP request is sent. Only ever to
the board's own https:// origin; a request target that is not a plain path (a proxy-style
absolute URL, a scheme-relative ``//host``, control or non-ASCII bytes, an overlong one) goes
to the front page, so the listener can never be made to point elsewhere or to split a header.
The listener itself is exercised over a real socket in test_app_https.py."""

from __future__ import annotations

import pytest

from meshnode.daemon.web.redirect import RedirectApp

APP = RedirectApp("https://steunpunt.test:8443/ignored/path?x=1")


def test_a_plain_path_and_query_are_kept() -> None:
    scope = {"raw_path": b"/c/wijk-noord", "query_string": b"lang=en"}
    assert APP.location(scope) == b"https://steunpunt.test:8443/c/wijk-noord?lang=en"
    assert APP.location({"raw_path": b"/app/%23x"}) == b"https://steunpunt.test:8443/app/%23x"


@pytest.mark.parametrize("raw_path", [
    b"http://elsewhere.example/", b"//elsewhere.example/", b"/a\r\nSet-Cookie: x=1",
    b"/caf\xc3\xa9", b"/a b", b"/" + b"a" * 2000, b"",
], ids=["absolute", "scheme-relative", "crlf", "non-ascii", "space", "overlong", "empty"])
def test_anything_but_a_plain_path_goes_to_the_front_page(raw_path: bytes) -> None:
    assert APP.location({"raw_path": raw_path}) == b"https://steunpunt.test:8443/"


def test_a_hostile_query_goes_to_the_front_page() -> None:
    assert APP.location({"raw_path": b"/", "query_string": b"a=\r\nx"}) == (
        b"https://steunpunt.test:8443/")
