"""The resident's app (the browser node) in a real headless Chromium against real hub daemons
(docs/steunpunt.md): two residents' browsers post and DM each other through one hub, a post
made in a browser at hub A reaches a browser at hub B over the mesh, and a phone that goes
offline carries what it wrote to the next steunpunt. Everything goes through the page's forms
and its WebSocket to the hub's ``/sync``; the hubs are separate daemon processes on loopback,
linked over UDP.

With MESHNODE_SCREENSHOTS=1 these tests write docs/screenshots/steunpunt-app-{nl,en}.png.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from meshnode.daemon import api
from meshnode.daemon.daemon import STORE_FILE
from meshnode.daemon.localnet import LocalNet, LocalNode
from tests.daemons import fast_config, links_up, wait_for
from tests.web.conftest import Browser, free_tcp_port, make_driver, web_config

CHANNEL = "wijk-zuid"
HOSTILE = ('<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"'
           "</script><h1>Nep-waarschuwing</h1> & \"quotes\"")
VECTORS = Path(__file__).parent.parent / "vectors" / "v1.json"


@dataclasses.dataclass
class Resident:
    """A phone's browser running the app from one hub's origin (`base`)."""

    browser: Browser
    base: str

    @property
    def driver(self) -> Any:
        return self.browser.driver

    def open(self, base: str | None = None) -> None:
        """Load the app (from the hub at `base`, by default the last one) and wait until its
        node is up (its identity made or read from IndexedDB)."""
        self.base = base or self.base
        self.driver.get(self.base + "/app/")
        wait_for("the app's node", lambda: len(self.fingerprint()) == 39)

    def fingerprint(self) -> str:
        return "".join(self.texts("#fp"))

    def submit(self, form: str, **fields: str) -> None:
        for field, value in fields.items():
            box = self.driver.find_element(By.ID, field)
            box.clear()
            box.send_keys(value)
        # The button is pressed by script: a native click aims at where the button was, and
        # the status line above it can change height (a sync finishing) in between.
        button = self.driver.find_element(By.CSS_SELECTOR, f"#{form} button[type=submit]")
        self.driver.execute_script("arguments[0].click()", button)

    def texts(self, selector: str) -> list[str]:
        """The rendered text of what `selector` matches, read at one moment (the page
        re-renders its lists as messages arrive, so element handles go stale)."""
        return list(self.driver.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map((e) => e.innerText)",
            selector))

    def attribute(self, selector: str, name: str) -> str | None:
        value = self.driver.execute_script(
            "const e = document.querySelector(arguments[0]);"
            "return e ? e.getAttribute(arguments[1]) : null", selector, name)
        return None if value is None else str(value)

    def status(self) -> dict[str, str]:
        return {"phase": str(self.attribute("#status", "data-phase")),
                "queued": str(self.attribute("#status", "data-queued"))}

    def diagnose(self) -> Any:
        """The page's node and link, for a failure message."""
        return self.driver.execute_script(
            "const m = window.meshnode; if (!m) return 'no node';"
            "const l = m.state.link; return {ws: m.state.ws ? m.state.ws.readyState : null,"
            " held: [...m.node.held.values()].map((r) => [r.kind, r.channel, r.mine, r.state,"
            " (r.text || r.name || '').slice(0, 12)]), checking: m.node.checking,"
            " channel: m.state.channel, link: l && {phase: l.phase,"
            " initiator: l.initiator, malformed: l.malformed, stats: l.stats}}")

    def synced(self) -> bool:
        return self.status()["phase"] == "FINISHED"

    def show_channel(self, channel: str) -> None:
        self.submit("channel-form", **{"channel-name": channel})

    def post(self, text: str) -> None:
        self.submit("post-form", **{"post-text": text})

    def sees_post(self, text: str) -> bool:
        return any(text in t for t in self.texts("#posts li .text"))

    def add_contact(self, fingerprint: str) -> None:
        self.submit("contact-form", **{"contact-fp": fingerprint})


RESIDENTS: list[Resident] = []  # every phone of this module, for failure messages


def until(what: str, predicate: Callable[[], bool], timeout: float = 45.0) -> None:
    """`wait_for`, and on time-out say what each phone's node and link were doing."""
    try:
        wait_for(what, predicate, timeout)
    except AssertionError as exc:
        states = [(r.base, r.diagnose()) for r in RESIDENTS]
        raise AssertionError(f"{exc}; the phones: {states}") from None


def _hub_posts(node: LocalNode, channel: str) -> list[str]:
    return [p["text"] for p in node.request(api.Posts(channel, limit=200))["posts"]]


def _accepted(node: LocalNode, kind: str) -> int:
    return int(node.request(api.Status())["counters"]["accepted"].get(kind, 0))


def _web_node(node: LocalNode, port: int, name: str) -> None:
    node.config = dataclasses.replace(
        node.config, web=web_config(port),
        node=dataclasses.replace(node.config.node, name=name))


@dataclasses.dataclass(frozen=True)
class Hubs:
    net: LocalNet
    a: LocalNode
    b: LocalNode
    url_a: str
    url_b: str


@pytest.fixture(scope="module")
def hubs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hubs]:
    """Steunpunt A and steunpunt B, each serving the app, linked to each other over UDP."""
    root = tmp_path_factory.mktemp("hubs")
    ports = [free_tcp_port(), free_tcp_port()]
    with LocalNet.line(root, ["a", "b"], fast_config()) as net:
        _web_node(net["a"], ports[0], "Steunpunt A")
        _web_node(net["b"], ports[1], "Steunpunt B")
        net.start()
        wait_for("the UDP link between the hubs", links_up(net["a"], 1))
        yield Hubs(net, net["a"], net["b"], f"http://127.0.0.1:{ports[0]}",
                   f"http://127.0.0.1:{ports[1]}")


@contextlib.contextmanager
def new_phone(base: str) -> Iterator[Resident]:
    """A phone-sized Chromium with JavaScript on and an empty profile (a new resident)."""
    browser = Browser(make_driver(360, 740, javascript=True), "")
    phone = Resident(browser, base)
    RESIDENTS.append(phone)
    try:
        yield phone
    finally:
        RESIDENTS.remove(phone)
        browser.driver.quit()


@pytest.fixture(scope="module")
def anna(hubs: Hubs) -> Iterator[Resident]:
    with new_phone(hubs.url_a) as phone:
        yield phone


@pytest.fixture(scope="module")
def bram(hubs: Hubs) -> Iterator[Resident]:
    with new_phone(hubs.url_a) as phone:
        yield phone


def _only_from_hubs(browser: Browser, *bases: str) -> list[str]:
    """The URLs the browser requested that are not on one of the hubs at `bases`."""
    allowed = [b.replace("http://", scheme) for b in bases for scheme in ("http://", "ws://")]
    return [u for u in browser.requests() if not any(u.startswith(a + "/") for a in allowed)]


def test_two_residents_post_and_dm_through_one_hub_which_holds_only_ciphertext(
        hubs: Hubs, anna: Resident, bram: Resident) -> None:
    anna.open(hubs.url_a)
    bram.open(hubs.url_a)
    assert anna.fingerprint() != bram.fingerprint()  # each made its own keys
    anna.submit("name-form", name="Anna de Vries")
    bram.submit("name-form", name="Bram Jansen")
    for r in (anna, bram):
        r.show_channel(CHANNEL)
    anna.post("Wie heeft er nog een powerbank over? Bij mij thuis is de stroom weg.")
    until("anna's post at bram's browser, through the hub",
             lambda: bram.sees_post("Wie heeft er nog een powerbank over?"), 45)
    assert "Wie heeft er nog een powerbank over? Bij mij thuis is de stroom weg." in \
        _hub_posts(hubs.a, CHANNEL)
    # A resident's words are shown as text, never run or parsed as markup.
    bram.post(HOSTILE)
    until("bram's hostile post at anna's", lambda: anna.sees_post("Nep-waarschuwing"), 45)
    assert HOSTILE in anna.texts("#posts li .text")
    assert anna.driver.title == "Steunpunt"
    assert anna.driver.execute_script(
        "return document.querySelectorAll('#posts img, #posts script, #posts h1').length") == 0

    # They swap fingerprints (read off each other's screens) and add each other.
    anna.add_contact(bram.fingerprint())
    bram.add_contact(anna.fingerprint().replace(" ", "").lower())  # typed sloppily: accepted
    until("bram's card in anna's contacts",
             lambda: "Bram Jansen" in anna.texts("#contact-list li strong"), 45)
    until("anna's card in bram's contacts",
             lambda: "Anna de Vries" in bram.texts("#contact-list li strong"), 45)

    secret = "Mijn reservesleutel ligt onder de derde bloempot links"
    anna.submit("dm-form", **{"dm-text": secret})
    until("the DM opened in bram's inbox",
             lambda: any(secret in t for t in bram.texts("#dms li .text")), 45)
    assert any("Anna de Vries" in t for t in bram.texts("#dms li .meta"))
    until("the receipt back at anna: delivered",
             lambda: anna.attribute("#dms li.mine", "data-state") == "delivered", 45)

    # The hub relayed a DM, but what it stored is ciphertext: the text is nowhere on its disk.
    assert _accepted(hubs.a, "dm") >= 1
    for file in hubs.a.data_dir.glob(STORE_FILE + "*"):
        assert secret.encode() not in file.read_bytes()
        assert b"reservesleutel" not in file.read_bytes()
    assert _only_from_hubs(anna.browser, hubs.url_a) == []
    for lang in ("nl", "en"):
        anna.driver.find_element(By.ID, f"lang-{lang}").click()
        anna.browser.screenshot(f"steunpunt-app-{lang}")
    assert "Direct messages" in anna.texts("#inbox h2")


def test_a_browser_post_at_hub_a_reaches_a_browser_at_hub_b_over_the_mesh(
        hubs: Hubs, anna: Resident, bram: Resident) -> None:
    anna.open(hubs.url_a)
    bram.open(hubs.url_b)  # another origin: bram's phone is a new node at hub B
    text = "Buurthuis De Ark deelt vanaf 14 uur soep uit"
    anna.show_channel(CHANNEL)
    anna.post(text)
    until("the post at hub B over UDP", lambda: text in _hub_posts(hubs.b, CHANNEL), 45)
    bram.show_channel(CHANNEL)
    until("the post in bram's browser at hub B", lambda: bram.sees_post(text), 45)
    assert _only_from_hubs(bram.browser, hubs.url_a, hubs.url_b) == []


def solo_hub(root: Path, name: str, port: int) -> LocalNet:
    net = LocalNet.line(root / name, [name], fast_config())
    _web_node(net[name], port, f"Steunpunt {name}")
    return net


def test_a_phone_writes_offline_and_the_next_steunpunt_carries_it_on(
        tmp_path: Path, anna: Resident, bram: Resident) -> None:
    """Every steunpunt serves the app at the same address (docs/steunpunt.md), so a phone's
    node and its service worker are the same at each: here hub "home" and then hub "away"
    serve the same loopback address, one after the other, as two buildings would."""
    port = free_tcp_port()
    base = f"http://127.0.0.1:{port}"
    with solo_hub(tmp_path, "home", port) as home:
        home.start()
        anna.open(base)
        until("the service worker to hold the app",
                 lambda: anna.attribute("#ready", "data-ready") == "1", 45)
        until("a first sync with the home hub", anna.synced, 45)
        anna.show_channel(CHANNEL)
    # The home hub is gone (the resident walked home): the page still loads, from the worker.
    anna.open(base)
    until("the page to see it is offline", lambda: anna.status()["phase"] == "offline")
    walked = "Dorpsstraat 12 heeft een werkende waterpomp, kom gerust tappen"
    anna.post(walked)
    until("the post queued on the phone", lambda: anna.status()["queued"] == "1")
    with solo_hub(tmp_path, "away", port) as away:
        away.start()
        until("the post carried to the away hub",
                 lambda: walked in _hub_posts(away["away"], CHANNEL), 60)
        bram.open(base)
        bram.show_channel(CHANNEL)
        until("the post in a resident's browser at the away hub",
                 lambda: bram.sees_post(walked), 45)
        assert anna.status()["queued"] == "0"


VERIFY_IN_PAGE = """
const [cases, done] = arguments;
const unhex = (s) => Uint8Array.from(s.match(/../g) || [], (x) => parseInt(x, 16));
import('/app/wire.js').then(async (wire) => {
  const got = [];
  for (const c of cases) {
    got.push(await wire.verifyFast(unhex(c.key), unhex(c.sig), unhex(c.signed_bytes)));
  }
  done({got, native: wire.nativeEd25519()});
}).catch((e) => done({error: String(e)}));
"""


def test_chromiums_own_ed25519_keeps_the_verification_rule_of_the_protocol(
        hubs: Hubs, anna: Resident) -> None:
    """The page checks signatures with the browser's WebCrypto Ed25519 where it has one; on
    every §3.1 vector (weak keys, s >= L, non-canonical points, small-order parts) it must
    agree with the rule, as the pure-JS reference does under Node.js (test_js_vectors)."""
    vectors = json.loads(VECTORS.read_text())["ed25519"]
    anna.open(hubs.url_a)
    result = anna.driver.execute_async_script(VERIFY_IN_PAGE, vectors)
    assert "error" not in result, result
    assert result["native"] is True  # 127.0.0.1 is a secure context: WebCrypto is there
    assert result["got"] == [c["valid"] for c in vectors]
