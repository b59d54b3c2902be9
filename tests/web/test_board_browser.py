"""The steunpunt board in a real headless Chromium against real daemons (docs/steunpunt.md).

An authority made with the `meshnode authority` command signs alerts that the hub's operator
injects with `meshnode inject`; a mesh peer posts in the neighbourhood channels; the hub's own
notices come from `meshnode notice`. The phone is 320 px wide with JavaScript off; the kiosk
screen is a 1280x720 browser. With MESHNODE_SCREENSHOTS=1 these tests write the screenshots
in docs/screenshots/.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from meshnode.alerts.examples import example_nl_alert
from meshnode.alerts.model import Area
from meshnode.crypto.authority import sign_alert
from meshnode.crypto.keyfile import load_identity
from meshnode.daemon import api
from meshnode.wire import decode_message, encode_message
from tests.daemons import wait_for
from tests.web.conftest import AuthorityDirs, Browser, Steunpunt, fire_alert, make_driver, meshnode

NOTICE = "Drinkwater en opladen: dagelijks 8-20 uur. EHBO in de kleedkamer."
FAKE_NOTICE = "Gratis aggregaat bij de kerk (nep)"
HOSTILE = ('<script>document.title="pwned"</script><img src=x onerror="document.title='
           "'pwned'\"> & \"quotes\" </p><h1>Nep-waarschuwing</h1>")
FIRE_ID = "nl-vr17.test.fire"


@dataclasses.dataclass(frozen=True)
class Mesh:
    """The state the tests share: what was injected and posted, as the hub's API shows it."""

    spot: Steunpunt
    fire: dict[str, Any]
    files: Path


def _inject(spot: Steunpunt, file: Path) -> int:
    return meshnode("inject", str(file), data_dir=spot.hub.data_dir).returncode


def _refusal(spot: Steunpunt, file: Path) -> str:
    """What `meshnode inject` said refusing `file` (it must refuse it)."""
    done = meshnode("inject", str(file), data_dir=spot.hub.data_dir)
    assert done.returncode != 0, done.stdout
    return done.stdout + done.stderr


def _hub_holds(spot: Steunpunt, channel: str, text: str) -> bool:
    posts = spot.hub.request(api.Posts(channel, limit=100))["posts"]
    return any(p["text"] == text for p in posts)


@pytest.fixture(scope="module")
def mesh(steunpunt: Steunpunt, authority: AuthorityDirs,
         tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    files = tmp_path_factory.mktemp("files")
    alert = authority.sign(files / "fire.msg", *fire_alert("--identifier", FIRE_ID))
    assert _inject(steunpunt, alert) == 0
    [fire] = steunpunt.hub.request(api.Alerts())["alerts"]
    r = meshnode("notice", NOTICE, data_dir=steunpunt.hub.data_dir)
    assert r.returncode == 0, r.stderr
    peer = steunpunt.peer
    peer.request(api.Post("wijk-noord", "Wie heeft er nog stroom? Wij kunnen telefoons laden."))
    peer.request(api.Post("wijk-noord", HOSTILE))
    peer.request(api.Post("steunpunt", FAKE_NOTICE))  # not the hub's key: not a notice
    wait_for("the peer's posts at the hub", lambda: _hub_holds(steunpunt, "wijk-noord", HOSTILE)
             and _hub_holds(steunpunt, "steunpunt", FAKE_NOTICE))
    return Mesh(steunpunt, fire, files)


@pytest.fixture(scope="module")
def screen(steunpunt: Steunpunt) -> Iterator[Browser]:
    """A public screen (1280x720) in an ordinary browser, JavaScript on."""
    driver = make_driver(1280, 720, javascript=True, scale=1.0)
    try:
        yield Browser(driver, steunpunt.url)
    finally:
        driver.quit()


def test_an_alert_signed_by_the_authority_cli_shows_verified_in_dutch_and_english(
        mesh: Mesh, phone: Browser) -> None:
    phone.open_until("/?lang=nl", "the alert on the board",
                     lambda: "Grote brand in de Botlek" in phone.text())
    text = phone.text()
    assert ("Geverifieerd: afgegeven door Veiligheidsregio Test, gecertificeerd door "
            "Test root (NOT REAL).") in text
    assert "Dit steunpunt ligt in het gebied van deze waarschuwing." in text
    assert "Wat moet u doen?\nGa naar binnen. Sluit ramen en deuren." in text
    assert NOTICE in text
    phone.screenshot("steunpunt-board-nl")

    phone.open("/?lang=en")
    text = phone.text()
    assert "Large fire in the Botlek: close windows and doors" in text
    assert "Verified: issued by Veiligheidsregio Test, certified by Test root (NOT REAL)." in text
    assert "This support point is inside the area of this alert." in text
    assert "What should you do?\nGo indoors. Close windows and doors." in text
    phone.screenshot("steunpunt-board-en")


def test_the_board_shows_the_hubs_mesh_status(mesh: Mesh, phone: Browser) -> None:
    phone.open_until("/?lang=en", "a sync with the peer",
                     lambda: "Last exchange with another node" in phone.text())
    text = phone.text()
    assert "Connected to 1 other nodes now." in text
    assert "Newest message received:" in text
    assert mesh.spot.hub.identity.fingerprint in text


def test_forged_and_out_of_scope_alerts_never_reach_the_board(
        mesh: Mesh, authority: AuthorityDirs, phone: Browser) -> None:
    # Forged: the CLI-signed alert with its headline changed after signing.
    raw = (mesh.files / "fire.msg").read_bytes()
    forged = mesh.files / "forged.msg"
    forged.write_bytes(raw.replace(b"Grote brand in de Botlek", b"Grote bronk in de Botlek"))
    assert forged.read_bytes() != raw
    # Out of scope: signed with the issuer's real key, for an area its certificate excludes
    # (the CLI refuses to sign it, so it is made with the library as an attacker would).
    issuer = load_identity(authority.issuer / "issuer.key")
    groningen = Area(area_desc="Groningen", polygons=(((532_500_000, 65_000_000),
                     (532_500_000, 66_000_000), (531_500_000, 66_000_000)),))
    base = example_nl_alert(int(time.time()))
    alert = dataclasses.replace(base, sender="nl-alert@vrr.example", infos=tuple(
        dataclasses.replace(i, headline=f"Dijkdoorbraak Groningen {i.language}",
                            areas=(groningen,)) for i in base.infos))
    outside = mesh.files / "outside.msg"
    outside.write_bytes(encode_message(sign_alert(issuer.signing, decode_message(
        (authority.cert).read_bytes()), alert, 999)))

    # Each is refused for its own fault: the forgery carries the sequence number of the alert
    # the hub holds, so only the reason tells its signature check from its replay check.
    assert "bad signature" in _refusal(mesh.spot, forged)
    assert "area outside the issuer's scope" in _refusal(mesh.spot, outside)
    refused = [r["reason"] for r in mesh.spot.hub.request(api.RejectedAlerts())["rejected"]]
    for reason in ("bad signature", "area outside the issuer's scope"):
        assert any(reason in r for r in refused), refused
    # A notice posted after the refusals shows that the board has read past them.
    later = "Na de weigering: het steunpunt is open."
    assert meshnode("notice", later, data_dir=mesh.spot.hub.data_dir).returncode == 0
    for lang in ("nl", "en"):
        phone.open_until(f"/?lang={lang}", "the later notice", lambda: later in phone.text())
        source = phone.driver.page_source
        assert "Grote bronk" not in source and "Dijkdoorbraak" not in source
        assert len(phone.driver.find_elements(By.CSS_SELECTOR, "article.alert")) == 1


def test_notices_are_only_the_hubs_own_signed_posts(mesh: Mesh, phone: Browser) -> None:
    phone.open_until("/?lang=nl", "the notice", lambda: NOTICE in phone.text())
    notices = phone.driver.find_element(By.ID, "notices").text
    assert NOTICE in notices
    assert "Ondertekend door het steunpunt" in notices
    assert FAKE_NOTICE not in phone.driver.page_source  # the peer's post on #steunpunt
    channels = phone.driver.find_element(By.ID, "channels").text
    assert "#wijk-noord" in channels and "#steunpunt" not in channels
    assert mesh.spot.get("/c/steunpunt")[0] == 404


def test_hostile_post_text_is_shown_as_text_not_markup(mesh: Mesh, screen: Browser) -> None:
    screen.open_until("/c/wijk-noord?lang=nl", "the channel page",
                      lambda: "Wie heeft er nog stroom?" in screen.text())
    texts = [e.text for e in screen.driver.find_elements(By.CSS_SELECTOR, "article.post .text")]
    assert HOSTILE in texts
    assert screen.driver.find_elements(By.CSS_SELECTOR, "main script, main img, main h1") == []
    assert screen.driver.title != "pwned"
    assert "&lt;script&gt;" in screen.driver.page_source


def test_the_board_fits_320_px_with_javascript_off(mesh: Mesh, phone: Browser) -> None:
    for path in ("/?lang=nl", "/?lang=en", "/c/wijk-noord", "/card", "/kiosk"):
        phone.open(path)
        metrics = phone.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        viewport = metrics["cssLayoutViewport"]["clientWidth"]
        assert viewport == 320, metrics
        assert metrics["cssContentSize"]["width"] <= viewport, (path, metrics)
        assert phone.text()  # rendered without any script


def test_pages_request_nothing_outside_the_hub(mesh: Mesh, phone: Browser) -> None:
    phone.requests()  # drop what earlier tests logged
    for path in ("/", "/c/wijk-noord", "/kiosk", "/card"):
        phone.open(path)
    urls = phone.requests()
    assert urls and all(u.startswith(mesh.spot.url + "/") for u in urls), urls
    _, headers, _ = mesh.spot.get("/")
    assert "default-src 'none'" in headers["content-security-policy"]


def test_the_kiosk_rotates_by_meta_refresh_in_large_type(mesh: Mesh, screen: Browser) -> None:
    screen.open_until("/kiosk?lang=nl", "the alert on the kiosk",
                      lambda: "Grote brand in de Botlek" in screen.text())
    screen.screenshot("steunpunt-kiosk-nl")
    headline = screen.driver.find_element(By.CSS_SELECTOR, "main h1")
    assert float(headline.value_of_css_property("font-size").removesuffix("px")) >= 60
    # The page refreshes itself (no script) to the next screen: the hub's notice.
    wait_for("the kiosk's next screen", lambda: "i=1" in screen.driver.current_url, 30)
    wait_for("the notice on the kiosk", lambda: "Bericht van het steunpunt" in screen.text())
    screen.open("/kiosk?lang=en")
    assert "Large fire in the Botlek" in screen.text()
    screen.screenshot("steunpunt-kiosk-en")


def test_the_join_card_has_the_wifi_and_address_as_qr_codes(mesh: Mesh, screen: Browser) -> None:
    screen.open("/card")
    text = screen.text()
    assert "Steunpunt-De-Ark" in text and mesh.spot.url + "/" in text
    assert "Verbind met de wifi van dit steunpunt" in text
    assert "Join this support point's Wi-Fi" in text
    codes = screen.driver.find_elements(By.CSS_SELECTOR, "svg.qr")
    assert len(codes) == 2 and all(c.size["width"] >= 100 for c in codes)
    screen.screenshot("steunpunt-card")


def test_an_update_and_a_cancel_show_in_the_alerts_history(
        mesh: Mesh, authority: AuthorityDirs, phone: Browser) -> None:
    ref = f"nl-alert@vrr.example,{FIRE_ID},{mesh.fire['sent']}"
    update = authority.sign(mesh.files / "update.msg", *fire_alert(
        "--msg-type", "Update", "--references", ref, "--identifier", f"{FIRE_ID}.u",
        "--headline-nl", "Brand onder controle, ramen nog dicht houden",
        "--headline-en", "Fire under control, keep windows closed"))
    assert _inject(mesh.spot, update) == 0
    phone.open_until("/?lang=nl", "the update", lambda: "Brand onder controle" in phone.text())
    history = phone.driver.find_element(By.CSS_SELECTOR, "article.alert .history").text
    assert "Waarschuwing: Grote brand in de Botlek" in history
    assert "(vervangen)" in history and "Update: Brand onder controle" in history
    phone.screenshot("steunpunt-board-update-nl")

    sent = mesh.spot.hub.request(api.Alerts())["alerts"][0]["sent"]
    cancel = authority.sign(mesh.files / "cancel.msg", *fire_alert(
        "--msg-type", "Cancel", "--references", f"nl-alert@vrr.example,{FIRE_ID}.u,{sent}",
        "--headline-nl", "Brand geblust", "--headline-en", "Fire out"))
    assert _inject(mesh.spot, cancel) == 0
    phone.open_until("/?lang=en", "the cancel",
                     lambda: "No alert is in force." in phone.text())
    assert "Alerts that ended" in phone.text() and "cancelled" in phone.text()
