"""A phone that walks from one steunpunt to the next carries the alerts it verified (docs/
steunpunt.md "What your phone carries"): real hub daemons A and B (separate processes, never
linked to each other), a real headless Chromium running the app, an alert signed with the
`meshnode authority` command and injected at A. The resident opens the app at A; A is closed
and B opens at the same address (two buildings serving the app at one address, as the
offline-walk test in test_app_browser.py does); the phone syncs with B, which then holds the
alert, verified by its own check, one hop further on, and shows it on its board.

What the phone refused never travels: hub B here trusts a second root (its operator pinned it,
or it is hostile), so that an alert of that root *would* be accepted by B if the phone carried
it; the phone never pinned that root, refuses the alert at A, and B never receives it. A copy
of an alert with a forged signature, fed to the phone's link as a hostile hub would send it,
does not reach B either: B refuses nothing from the phone. Steunpunt A holds the alert before
the phone first comes, so the phone takes it on its first visit, whatever arrives first: the
hub's alerts or the roots it pins.
"""

from __future__ import annotations

import sqlite3
import urllib.request
from pathlib import Path

from selenium.webdriver.common.by import By

from meshnode import wire
from meshnode.daemon import api
from meshnode.daemon.daemon import STORE_FILE
from meshnode.daemon.localnet import LocalNode
from tests.web.conftest import (
    BOTLEK,
    AuthorityDirs,
    fire_alert,
    free_tcp_port,
    make_authority,
    meshnode,
)
from tests.web.test_app_browser import Resident, new_phone, solo_hub, until
from tests.web.test_app_trust import FEED_FRAME

ROOT_NAME = "Test root (NOT REAL)"


def _inject(hub: LocalNode, file: Path) -> None:
    done = meshnode("inject", str(file), data_dir=hub.data_dir)
    assert done.returncode == 0, done.stdout + done.stderr


def _hub_alerts(hub: LocalNode) -> dict[str, str]:
    """The alerts the hub holds that verify against its trust: id -> Dutch headline."""
    return {a["id"]: a["infos"][0]["headline"] for a in hub.request(api.Alerts())["alerts"]}


def _board(base: str) -> str:
    with urllib.request.urlopen(base + "/?lang=nl", timeout=10) as r:
        return str(r.read().decode("utf-8"))


def _verified(phone: Resident) -> list[str]:
    return phone.texts("#alert-list li.alert.verified")


def _refused(phone: Resident) -> list[str]:
    return [str(r) for r in phone.driver.execute_script(
        "return [...document.querySelectorAll('#refused-list li')].map((e) => e.dataset.reason)")]


def _hops(hub: LocalNode, msg_id: bytes) -> int:
    """The hops left of the hub's stored copy (read from its store file once it stopped)."""
    with sqlite3.connect(hub.data_dir / STORE_FILE) as db:
        row = db.execute("SELECT raw FROM messages WHERE id = ?", (msg_id,)).fetchone()
    return int(wire.decode_message(row[0]).routing.hops_left)


def test_a_phone_carries_a_verified_alert_to_a_steunpunt_that_lacks_it_and_nothing_forged(
        tmp_path: Path, authority: AuthorityDirs) -> None:
    port = free_tcp_port()
    base = f"http://127.0.0.1:{port}"
    impostor = make_authority(tmp_path / "impostor", "Nep-root", issuer_id="nl-vr17b")
    fire = wire.decode_message(authority.sign(tmp_path / "fire.msg", *fire_alert()).read_bytes())
    fake = impostor.sign(tmp_path / "nep.msg", "--event", "Evacuatie", "--category", "Safety",
                         "--area-desc", "Botlek", "--polygon", BOTLEK, "--severity", "Extreme",
                         "--headline-nl", "Nep-evacuatie: verlaat direct uw huis")
    # An alert signed by the issuer but never injected anywhere, its signature then forged.
    water = wire.decode_message(authority.sign(
        tmp_path / "water.msg", "--event", "Drinkwater", "--category", "Health", "--area-desc",
        "Botlek", "--polygon", BOTLEK, "--headline-nl", "Kook uw drinkwater").read_bytes())
    forged = wire.encode_message(wire.Message(water.kind, water.body,
                                              bytes([water.sig[0] ^ 1]) + water.sig[1:]))
    with new_phone(base) as phone:
        with solo_hub(tmp_path, "a", port) as net_a:
            net_a.start([authority.root / "root.pub"])
            _inject(net_a["a"], tmp_path / "fire.msg")  # A has it before the phone comes
            phone.open(base)
            phone.driver.find_element(By.ID, "lang-en").click()
            until("the hub's root pinned on the phone",
                  lambda: ROOT_NAME in "".join(phone.texts("#roots")))
            added = meshnode("trust", "add-root", str(impostor.root / "root.pub"),
                             data_dir=net_a["a"].data_dir)
            assert added.returncode == 0, added.stderr
            _inject(net_a["a"], fake)
            until("the alert verified in the page",
                  lambda: any("Large fire in the Botlek" in t for t in _verified(phone)))
            until("the impostor's alert refused", lambda: "unknown root" in _refused(phone))
            assert phone.driver.execute_async_script(FEED_FRAME, forged.hex()) == "fed"
            until("the forged copy refused", lambda: "bad signature" in _refused(phone))
            at_a = net_a["a"]
        hops_at_a = _hops(at_a, fire.id)
        # Steunpunt B never saw the alert, and would take the impostor's if it came.
        with solo_hub(tmp_path, "b", port) as net_b:
            net_b.start([authority.root / "root.pub", impostor.root / "root.pub"])
            hub_b = net_b["b"]
            # The resident opens the app at B: the page loads again, and what the phone
            # carries comes from its own storage.
            phone.open(base)
            until("the alert at steunpunt B, carried by the phone",
                  lambda: fire.id.hex() in _hub_alerts(hub_b), 60)
            assert "Grote brand in de Botlek" in _hub_alerts(hub_b)[fire.id.hex()]
            until("a finished sync with B", phone.synced)
            assert not any("Nep-evacuatie" in h for h in _hub_alerts(hub_b).values())
            status = hub_b.request(api.Status())
            assert status["counters"]["rejected"] == {}, status["counters"]["rejected"]
            assert status["counters"]["accepted"].get("alert") == 1
            held = hub_b.request(api.Alerts())["alerts"][0]
            assert held["root"] == ROOT_NAME and held["issuer"] == "Veiligheidsregio Test"
            until("the alert on steunpunt B's board", lambda: "Grote brand in de Botlek" in
                  _board(base))
        assert _hops(hub_b, fire.id) == hops_at_a - 2  # A -> phone -> B: two hand-overs
