"""What the phone trusts, in the resident's app. Authority alerts are checked by the phone's
browser itself (docs/protocol.md §6.5, docs/steunpunt.md "Alerts in the app"): a real headless
Chromium runs the app from a real hub daemon; alerts are signed with the `meshnode authority`
command, injected at the hub with `meshnode inject`, and reach the page over its WebSocket
sync link.

The phone pins the roots the hub hands it on the first visit (/app/roots.json) and keeps them.
An alert is shown as verified only when the page's own check passes: the hub accepting it is
not enough (here the hub is made to trust a second root, as a misconfigured or hostile hub
would, and the phone still refuses that root's alerts), and a copy whose signature was forged
on the link is refused without keeping the genuine alert out.

Contacts by QR code (docs/steunpunt.md "Contacts by QR code"), on the same hub: one phone shows
its contact card as a QR code, another takes a picture of it (a screenshot of the code, handed
to the page's photo input) and has the contact; a contact link opened as a phone's camera app
opens it adds the contact; a pasted link adds it too, and a damaged one is refused.

With MESHNODE_SCREENSHOTS=1 these tests write docs/screenshots/steunpunt-app-alert-{nl,en}.png.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from meshnode import wire
from meshnode.crypto.authority import decode_cert
from meshnode.daemon.web.app import ROOTS_PATH
from tests.daemons import wait_for
from tests.web.conftest import (
    BOTLEK,
    REGION,
    AuthorityDirs,
    Browser,
    Steunpunt,
    fire_alert,
    make_authority,
    make_driver,
    meshnode,
)
from tests.web.test_app_browser import Resident

ROOT_NAME = "Test root (NOT REAL)"  # the conftest authority's root
STORED = """
const done = arguments[0];
Promise.all([import('/app/store.js'), import('/app/alerts.js')]).then(async ([s, a]) => {
  const store = await s.Store.open();
  const book = new a.AlertBook(await store.alertState() || {});
  done(book.current().map((x) => x.alert.infos.map((i) => i.headline).join(' | ')));
}).catch((e) => done(String(e)));
"""
FEED_FRAME = """
const [hexed, done] = arguments;
const bytes = Uint8Array.from(hexed.match(/../g), (x) => parseInt(x, 16));
import('/app/frames.js').then((f) => {
  window.meshnode.state.link.receive(f.encodeMsg(bytes));
  done('fed');
}).catch((e) => done(String(e)));
"""


@pytest.fixture(scope="module")
def resident(steunpunt: Steunpunt) -> Iterator[Resident]:
    browser = Browser(make_driver(360, 740, javascript=True), "")
    try:
        yield Resident(browser, steunpunt.url)
    finally:
        browser.driver.quit()


def _inject(spot: Steunpunt, file: Path) -> int:
    done = meshnode("inject", str(file), data_dir=spot.hub.data_dir)
    print(done.stdout, done.stderr)  # shown when a test fails
    return done.returncode


def _verified(phone: Resident) -> list[str]:
    return phone.texts("#alert-list li.alert.verified")


def _refused(phone: Resident) -> list[str]:
    return [str(r) for r in phone.driver.execute_script(
        "return [...document.querySelectorAll('#refused-list li')].map((e) => e.dataset.reason)")]


def _connected(phone: Resident) -> bool:
    return bool(phone.driver.execute_script(
        "return !!(window.meshnode && window.meshnode.state.link)"))


def test_an_alert_signed_by_the_authority_is_shown_verified_by_the_phones_own_check(
        steunpunt: Steunpunt, authority: AuthorityDirs, resident: Resident,
        tmp_path: Path) -> None:
    resident.open(steunpunt.url)
    wait_for("the hub's root pinned on the phone",
             lambda: ROOT_NAME in "".join(resident.texts("#roots")))
    resident.driver.find_element(By.ID, "lang-nl").click()
    assert _inject(steunpunt, authority.sign(tmp_path / "fire.msg", *fire_alert())) == 0
    wait_for("the alert verified in the page",
             lambda: any("Grote brand in de Botlek" in t for t in _verified(resident)), 45)
    shown = "\n".join(_verified(resident))
    assert f"uitgegeven door Veiligheidsregio Test, gecertificeerd door {ROOT_NAME}" in shown
    assert "Ga naar binnen. Sluit ramen en deuren." in shown
    resident.browser.screenshot("steunpunt-app-alert-nl")
    resident.driver.find_element(By.ID, "lang-en").click()
    wait_for("the English text", lambda: any(
        "Large fire in the Botlek" in t for t in _verified(resident)))
    shown = "\n".join(_verified(resident))
    assert f"verified by Veiligheidsregio Test, certified by {ROOT_NAME}" in shown
    assert _refused(resident) == []
    resident.browser.screenshot("steunpunt-app-alert-en")
    # Kept on the phone (IndexedDB), and verified again from there, with no hub involved.
    kept = resident.driver.execute_async_script(STORED)
    assert isinstance(kept, list) and any("Grote brand in de Botlek" in h for h in kept), kept


def test_an_alert_the_hub_accepts_under_a_root_the_phone_did_not_pin_is_not_verified(
        steunpunt: Steunpunt, resident: Resident, tmp_path: Path) -> None:
    resident.open(steunpunt.url)
    wait_for("the phone's pinned root", lambda: ROOT_NAME in "".join(resident.texts("#roots")))
    # A root the phone never pinned, certifying an issuer of the same name, sender and area
    # (another issuer id: the hub already holds sequence number 1 of the genuine one).
    impostor = make_authority(tmp_path / "impostor", "Nep-root", issuer_id="nl-vr17b")
    # The hub now trusts a second root (its operator pinned it, or the hub is hostile).
    added = meshnode("trust", "add-root", str(impostor.root / "root.pub"),
                     data_dir=steunpunt.hub.data_dir)
    assert added.returncode == 0, added.stderr
    forged = impostor.sign(tmp_path / "nep.msg", "--event", "Evacuatie", "--category", "Safety",
                           "--area-desc", "Botlek", "--polygon", BOTLEK, "--severity", "Extreme",
                           "--headline-nl", "Nep-evacuatie: verlaat direct uw huis")
    assert _inject(steunpunt, forged) == 0  # the hub took it: it trusts that root now
    wait_for("the alert refused by the phone",
             lambda: "unknown root" in _refused(resident), 45)
    assert not any("Nep-evacuatie" in t for t in _verified(resident))
    assert "Nep-evacuatie" not in "".join(resident.texts("#refused-list li"))
    # Loaded again, the phone keeps its first root and says the hub trusts others. (The hub
    # serves its state as read at most FRESH_FOR seconds ago: wait until it lists both roots,
    # or a quick reload reads the old list.)
    wait_for("the hub to hand out both roots", lambda: len(json.loads(
        steunpunt.get(ROOTS_PATH)[2])["roots"]) == 2)
    resident.open(steunpunt.url)
    wait_for("the warning that the hub's roots differ", lambda: resident.driver.find_element(
        By.ID, "roots-warn").is_displayed(), 30)
    assert "Nep-root" not in "".join(resident.texts("#roots"))
    wait_for("the alert, sent again by the hub, refused again",
             lambda: "unknown root" in _refused(resident), 45)
    assert not any("Nep-evacuatie" in t for t in _verified(resident))


def test_a_forged_signature_on_the_link_is_refused_and_the_genuine_alert_still_shows(
        steunpunt: Steunpunt, authority: AuthorityDirs, resident: Resident,
        tmp_path: Path) -> None:
    """The forged copy is fed to the page's sync link as a hostile hub would send it (a Msg
    frame into `Link.receive`, the WebSocket's handler); the genuine one comes from the hub."""
    resident.open(steunpunt.url)
    wait_for("the sync link", lambda: _connected(resident))
    genuine = authority.sign(tmp_path / "water.msg", "--event", "Drinkwater",
                             "--category", "Health", "--area-desc", "Botlek",
                             "--polygon", BOTLEK, "--severity", "Moderate",
                             "--headline-nl", "Kook uw drinkwater voor gebruik")
    msg = wire.decode_message(genuine.read_bytes())
    sig = bytes([msg.sig[0] ^ 1]) + msg.sig[1:]
    forged = wire.encode_message(wire.Message(msg.kind, msg.body, sig))
    assert resident.driver.execute_async_script(FEED_FRAME, forged.hex()) == "fed"
    wait_for("the forged copy refused", lambda: "bad signature" in _refused(resident))
    assert not any("Kook uw drinkwater" in t for t in _verified(resident))
    assert _inject(steunpunt, genuine) == 0
    wait_for("the genuine alert verified", lambda: any(
        "Kook uw drinkwater" in t for t in _verified(resident)), 45)


def test_a_revocation_from_the_pinned_root_withdraws_an_alert_on_the_phone(
        steunpunt: Steunpunt, authority: AuthorityDirs, resident: Resident,
        tmp_path: Path) -> None:
    """A second issuer certified by the pinned root; its alert shows verified until the root's
    revocation of its certificate reaches the phone through the hub."""
    issuer = tmp_path / "gemeente"
    assert meshnode("authority", "init-issuer", "--dir", str(issuer),
                    "--name", "Gemeente Test").returncode == 0
    cert = tmp_path / "gemeente-cert.msg"
    made = meshnode("authority", "issue-cert", "--root-dir", str(authority.root),
                    "--issuer-pub", str(issuer / "issuer.pub"), "--issuer-id", "gm-test",
                    "--sender", "crisis@gemeente.example", "--polygon", REGION,
                    "--out", str(cert))
    assert made.returncode == 0, made.stderr
    second = AuthorityDirs(authority.root, issuer, cert)
    resident.open(steunpunt.url)
    outage = second.sign(tmp_path / "stroom.msg", "--event", "Stroomstoring",
                        "--category", "Infra", "--area-desc", "Botlek", "--polygon", BOTLEK,
                        "--severity", "Minor", "--headline-nl", "Stroomstoring in de Botlek")
    assert _inject(steunpunt, outage) == 0
    wait_for("the gemeente's alert verified", lambda: any(
        "Stroomstoring in de Botlek" in t for t in _verified(resident)), 45)
    serial = decode_cert(wire.decode_message(cert.read_bytes()).body).serial
    revoke = tmp_path / "revoke.msg"
    assert meshnode("authority", "revoke", "--root-dir", str(authority.root), "--serial",
                    str(serial), "--reason", "key lost", "--out", str(revoke)).returncode == 0
    assert _inject(steunpunt, revoke) == 0
    wait_for("the alert withdrawn on the phone", lambda: not any(
        "Stroomstoring" in t for t in _verified(resident)), 45)
    assert any("Grote brand" in t or "Large fire" in t for t in _verified(resident))


# --- contacts by QR code ---------------------------------------------------------------------

OTHER_FP = "ABCD EFGH IJKL MNOP QRST UVWX YZ23 4567"  # a well-formed fingerprint of no one here


@pytest.fixture(scope="module")
def phones(steunpunt: Steunpunt, resident: Resident) -> Iterator[tuple[Resident, Resident]]:
    """Anna is the alert tests' phone; Bram a second one at the same steunpunt."""
    browser = Browser(make_driver(360, 740, javascript=True), "")
    try:
        bram = Resident(browser, steunpunt.url)
        resident.open(steunpunt.url)
        bram.open()
        yield resident, bram
    finally:
        browser.driver.quit()


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


# --- root rotation (last: it retires the module's root) ---------------------------------------

NEW_ROOT = "Test root 2 (NOT REAL)"


def test_the_phone_follows_a_root_rotation_its_pinned_root_signed_and_warns_the_resident(
        steunpunt: Steunpunt, authority: AuthorityDirs, resident: Resident,
        tmp_path: Path) -> None:
    """docs/protocol.md §6.5: the rotation is made with `meshnode authority rotate-root`
    (signed by the pinned root, co-signed by the new one) and injected at the hub. A rotation
    signed by a root the phone does not trust, fed to its link as a hostile hub would send it,
    changes nothing."""
    resident.open(steunpunt.url)
    wait_for("the sync link", lambda: _connected(resident))
    resident.driver.find_element(By.ID, "lang-en").click()
    stranger = make_authority(tmp_path / "stranger", "Vreemde root")
    assert meshnode("authority", "init-root", "--dir", str(tmp_path / "fake2"),
                    "--name", NEW_ROOT).returncode == 0
    made = meshnode("authority", "rotate-root", "--root-dir", str(stranger.root),
                    "--new-root-dir", str(tmp_path / "fake2"), "--out", str(tmp_path / "f.msg"))
    assert made.returncode == 0, made.stderr
    assert resident.driver.execute_async_script(
        FEED_FRAME, (tmp_path / "f.msg").read_bytes().hex()) == "fed"
    wait_for("the stranger's rotation refused", lambda: "unknown root" in _refused(resident))
    assert resident.attribute("#roots-rotated", "hidden") is not None
    assert NEW_ROOT not in "".join(resident.texts("#roots"))

    new_root = tmp_path / "root2"
    assert meshnode("authority", "init-root", "--dir", str(new_root),
                    "--name", NEW_ROOT).returncode == 0
    rotation = tmp_path / "rotation.msg"
    made = meshnode("authority", "rotate-root", "--root-dir", str(authority.root),
                    "--new-root-dir", str(new_root), "--out", str(rotation))
    assert made.returncode == 0, made.stderr
    assert _inject(steunpunt, rotation) == 0
    wait_for("the rotation followed and shown", lambda: NEW_ROOT in "".join(
        resident.texts("#roots-rotated")), 45)
    shown = "".join(resident.texts("#roots-rotated"))
    assert f"root {ROOT_NAME}" in shown and "handed over to" in shown
    assert NEW_ROOT in "".join(resident.texts("#roots"))
    assert f"{ROOT_NAME} (" not in "".join(resident.texts("#roots"))  # retired
    # An issuer certified by the new root: its alert is verified on the phone.
    cert = tmp_path / "cert2.msg"
    made = meshnode("authority", "issue-cert", "--root-dir", str(new_root),
                    "--issuer-pub", str(authority.issuer / "issuer.pub"), "--issuer-id",
                    "nl-vr17", "--sender", "nl-alert@vrr.example", "--polygon", REGION,
                    "--out", str(cert))
    assert made.returncode == 0, made.stderr
    alert = AuthorityDirs(new_root, authority.issuer, cert).sign(
        tmp_path / "gas.msg", "--event", "Gaslek", "--category", "Safety", "--area-desc",
        "Botlek", "--polygon", BOTLEK, "--severity", "Severe",
        "--headline-nl", "Gaslek in de Botlek", "--headline-en", "Gas leak in the Botlek")
    assert _inject(steunpunt, alert) == 0
    wait_for("the new root's alert verified on the phone", lambda: any(
        "Gas leak in the Botlek" in t for t in _verified(resident)), 45)
    assert any(f"certified by {NEW_ROOT}" in t for t in _verified(resident))
    resident.open(steunpunt.url)  # kept on the phone: still followed after a reload
    wait_for("the rotation shown after a reload", lambda: NEW_ROOT in "".join(
        resident.texts("#roots-rotated")))
