"""Contacts by QR code in the resident's app (docs/steunpunt.md "Contacts by QR code"), in a
real headless Chromium against a real hub daemon: one phone shows its contact card as a QR
code, another takes a picture of it (a screenshot of the code, handed to the page's photo
input) and has the contact; a contact link opened as a phone's camera app opens it adds the
contact; a pasted link adds it too, and a damaged one is refused with a message.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from tests.daemons import wait_for
from tests.web.conftest import Browser, Steunpunt, make_driver
from tests.web.test_app_browser import Resident

OTHER_FP = "ABCD EFGH IJKL MNOP QRST UVWX YZ23 4567"  # a well-formed fingerprint of no one here


@contextlib.contextmanager
def _phone(base: str) -> Iterator[Resident]:
    browser = Browser(make_driver(360, 740, javascript=True), "")
    try:
        yield Resident(browser, base)
    finally:
        browser.driver.quit()


@pytest.fixture(scope="module")
def phones(steunpunt: Steunpunt) -> Iterator[tuple[Resident, Resident]]:
    with _phone(steunpunt.url) as anna, _phone(steunpunt.url) as bram:
        anna.open()
        bram.open()
        yield anna, bram


def _contacts(phone: Resident) -> list[str]:
    return [str(fp) for fp in phone.driver.execute_script(
        "return [...document.querySelectorAll('#contact-list li')]"
        ".map((e) => e.dataset.fingerprint)")]


def _picture(phone: Resident, selector: str) -> bytes:
    """A PNG of what the phone's screen shows at `selector` (DevTools screenshot of its box):
    the picture a second phone's camera would take."""
    box = phone.driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}", selector)
    shot = phone.driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True, "clip": {**box, "scale": 1}})
    return base64.b64decode(shot["data"])


def test_a_photo_of_a_phones_qr_code_adds_it_as_a_contact(
        phones: tuple[Resident, Resident], tmp_path: Path) -> None:
    anna, bram = phones
    link = "".join(anna.texts("#my-link"))
    assert link == f"{anna.base}/app/#contact={anna.fingerprint().replace(' ', '')}"
    assert anna.attribute("#my-qr svg.qr", "data-text") == link
    photo = tmp_path / "qr.png"
    photo.write_bytes(_picture(anna, "#my-qr svg.qr"))
    bram.driver.find_element(By.ID, "contact-photo").send_keys(str(photo))
    wait_for("anna in bram's contacts", lambda: anna.fingerprint() in _contacts(bram))
    assert bram.texts("#contact-error") == [""]


def test_a_contact_link_opened_from_a_camera_app_adds_the_contact(
        phones: tuple[Resident, Resident]) -> None:
    anna, bram = phones
    anna.driver.get("".join(bram.texts("#my-link")))
    wait_for("bram in anna's contacts", lambda: bram.fingerprint() in _contacts(anna))
    assert "#contact=" not in anna.driver.current_url  # taken once, not kept in the address


def test_a_pasted_contact_link_is_added_and_a_damaged_one_refused(
        phones: tuple[Resident, Resident]) -> None:
    anna, _ = phones
    anna.open()
    anna.submit("contact-form", **{"contact-fp": f"{anna.base}/app/#contact=ABCDEFGH"})
    wait_for("the refusal", lambda: anna.texts("#contact-error") != [""])
    assert OTHER_FP not in _contacts(anna)
    anna.submit("contact-form", **{
        "contact-fp": f"{anna.base}/app/#contact={OTHER_FP.replace(' ', '').lower()}"})
    wait_for("the pasted contact", lambda: OTHER_FP in _contacts(anna))
    assert anna.texts("#contact-error") == [""]
