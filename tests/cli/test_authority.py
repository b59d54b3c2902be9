"""An authority's whole workflow through the real `meshnode authority` command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest
import xmlschema

from meshnode.alerts.capxml import import_cap
from tests.cli.conftest import Run

DATA = Path(__file__).parent.parent / "data" / "cap"
REGION = "52.05,3.9 52.05,4.65 51.75,4.65 51.75,3.9"
BOTLEK = "51.9,4.26 51.9,4.35 51.86,4.35 51.86,4.26"


def read_data(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.fixture
def authority(meshnode: Run, tmp_path: Path) -> Path:
    """A root and a certified safety region in tmp_path."""
    assert meshnode("authority", "init-root", "--dir", str(tmp_path / "root"),
                    "--name", "Test root (NOT REAL)").returncode == 0
    assert meshnode("authority", "init-issuer", "--dir", str(tmp_path / "vr17"),
                    "--name", "Veiligheidsregio Rotterdam-Rijnmond").returncode == 0
    made = meshnode("authority", "issue-cert", "--root-dir", str(tmp_path / "root"),
                    "--issuer-pub", str(tmp_path / "vr17" / "issuer.pub"),
                    "--issuer-id", "nl-vr17", "--sender", "nl-alert@vrr.example",
                    "--polygon", REGION, "--geocode", "CBS=GM0599",
                    "--max-severity", "Extreme", "--out", str(tmp_path / "cert.msg"))
    assert made.returncode == 0, made.stderr
    return tmp_path


def sign(meshnode: Run, d: Path, out: str, *extra: str) -> tuple[int, str]:
    r = meshnode("authority", "sign-alert", "--issuer-dir", str(d / "vr17"),
                 "--cert", str(d / "cert.msg"), "--out", str(d / out), *extra)
    return r.returncode, r.stdout + r.stderr


def fire_alert(*extra: str) -> list[str]:
    return ["--event", "Grote brand", "--event-en", "Large fire", "--category", "Fire",
            "--area-desc", "Rotterdam-Botlek", "--polygon", BOTLEK,
            "--headline-nl", "Grote brand: sluit ramen en deuren",
            "--instruction-nl", "Ga naar binnen.", "--headline-en", "Large fire",
            "--instruction-en", "Go indoors.", *extra]


def verify(meshnode: Run, d: Path, *files: str, extra: tuple[str, ...] = ()) -> tuple[int, list[
        dict[str, object]]]:
    r = meshnode("authority", "verify", *[str(d / f) for f in files], "--root",
                 str(d / "root" / "root.pub"), "--json", *extra)
    return r.returncode, json.loads(r.stdout)


def test_root_to_verified_alert(meshnode: Run, authority: Path) -> None:
    code, out = sign(meshnode, authority, "alert.msg", *fire_alert())
    assert code == 0, out
    code, reports = verify(meshnode, authority, "alert.msg", "cert.msg",
                           extra=("--at", "51.88,4.30"))
    assert code == 0
    alert, cert = reports
    assert alert["verdict"] == "verified"
    assert alert["issuer"] == "Veiligheidsregio Rotterdam-Rijnmond"
    assert alert["root"] == "Test root (NOT REAL)"
    assert alert["covers_location"] is True
    assert alert["headlines"] == {"nl-NL": "Grote brand: sluit ramen en deuren",
                                  "en-GB": "Large fire"}
    assert cert["verdict"] == "verified" and cert["serial"] == 1


def test_sequence_numbers_increase_per_alert(meshnode: Run, authority: Path) -> None:
    sign(meshnode, authority, "a1.msg", *fire_alert())
    sign(meshnode, authority, "a2.msg", *fire_alert())
    _, reports = verify(meshnode, authority, "a1.msg", "a2.msg")
    assert [r["seq"] for r in reports] == [1, 2]


def test_alert_outside_scope_is_not_signed(meshnode: Run, authority: Path) -> None:
    code, out = sign(meshnode, authority, "ams.msg", "--event", "Brand", "--polygon",
                     "52.4,4.8 52.4,5.0 52.3,5.0", "--headline-nl", "Brand in Amsterdam")
    assert code == 2
    assert "area outside the issuer's scope" in out and "nothing was signed" in out
    assert not (authority / "ams.msg").exists()
    # The refused attempt did not use up a sequence number.
    sign(meshnode, authority, "ok.msg", *fire_alert())
    assert verify(meshnode, authority, "ok.msg")[1][0]["seq"] == 1


def test_tampered_alert_file_is_refused(meshnode: Run, authority: Path) -> None:
    sign(meshnode, authority, "alert.msg", *fire_alert())
    raw = bytearray((authority / "alert.msg").read_bytes())
    raw[-100] ^= 0x20
    (authority / "alert.msg").write_bytes(bytes(raw))
    code, reports = verify(meshnode, authority, "alert.msg")
    assert code == 1
    assert reports[0]["verdict"] == "refused"


def test_revocation_withdraws_the_issuer(meshnode: Run, authority: Path) -> None:
    sign(meshnode, authority, "alert.msg", *fire_alert())
    r = meshnode("authority", "revoke", "--root-dir", str(authority / "root"), "--serial", "1",
                 "--out", str(authority / "revoke.msg"))
    assert r.returncode == 0, r.stderr
    code, reports = verify(meshnode, authority, "alert.msg",
                           extra=("--revocations", str(authority / "revoke.msg")))
    assert code == 1
    assert reports[0]["reason"] == "certificate revoked"


def test_cap_file_in_and_out(meshnode: Run, authority: Path) -> None:
    sign(meshnode, authority, "alert.msg", *fire_alert())
    exported = meshnode("authority", "export-cap", str(authority / "alert.msg"),
                        "--out", str(authority / "alert.xml"))
    assert exported.returncode == 0, exported.stderr
    xmlschema.XMLSchema(str(DATA / "oasiscap-cap12.xsd")).validate(str(authority / "alert.xml"))
    # A CAP file is signed as is, and keeps its content.
    code, out = sign(meshnode, authority, "again.msg", "--cap", str(authority / "alert.xml"))
    assert code == 0, out
    _, reports = verify(meshnode, authority, "alert.msg", "again.msg")
    assert reports[0]["identifier"] == reports[1]["identifier"]
    assert reports[0]["headlines"] == reports[1]["headlines"]


def test_foreign_cap_file_is_refused_with_its_reason(meshnode: Run, authority: Path) -> None:
    code, out = sign(meshnode, authority, "x.msg", "--cap", str(DATA / "kde-thunderstorm.xml"))
    assert code == 2
    assert "nodes would refuse this alert" in out
    code, out = sign(meshnode, authority, "y.msg", "--cap",
                     str(DATA / "oasiscap-v1dot1_appendix_adot2.xml"))
    assert code == 2 and "CAP 1.1 document read as CAP 1.2" in out
    assert "nodes would refuse this alert" in out and "not supported" not in out


def test_misuse_gets_helpful_errors(meshnode: Run, authority: Path) -> None:
    r = meshnode("authority", "init-root", "--dir", str(authority / "root"), "--name", "x")
    assert r.returncode == 2 and "not empty" in r.stderr
    code, out = sign(meshnode, authority, "z.msg", "--event", "Brand")
    assert code == 2 and "--headline-nl" in out
    code, out = sign(meshnode, authority, "z.msg", *fire_alert("--expires-in", "soon"))
    assert code == 2 and "90m, 6h or 2d" in out
    r = meshnode("authority", "verify", str(authority / "cert.msg"), "--root",
                 str(authority / "vr17" / "issuer.pub"))
    assert r.returncode == 2 and "expected a root key file" in r.stderr
    for result in (r,):
        assert "Traceback" not in result.stderr


def test_node_trusts_an_installed_root(meshnode: Run, authority: Path) -> None:
    r = meshnode("trust", "list")
    assert "No roots pinned" in r.stdout
    r = meshnode("trust", "add-root", str(authority / "root" / "root.pub"))
    assert r.returncode == 0, r.stderr
    assert "Test root (NOT REAL)" in meshnode("trust", "list").stdout


def _exported(meshnode: Run, d: Path) -> str:
    sign(meshnode, d, "alert.msg", *fire_alert())
    r = meshnode("authority", "export-cap", str(d / "alert.msg"), "--out", str(d / "alert.xml"))
    assert r.returncode == 0, r.stderr
    return (d / "alert.xml").read_text()


def test_expires_in_with_a_cap_file_is_never_silently_ignored(meshnode: Run,
                                                              authority: Path) -> None:
    xml = _exported(meshnode, authority)
    code, out = sign(meshnode, authority, "x.msg", "--cap", str(authority / "alert.xml"),
                     "--expires-in", "2h")
    assert code == 2 and "--expires-in does not apply to --cap" in out
    assert not (authority / "x.msg").exists()
    # With --trim it is the lifetime of an <info> that has no <expires>.
    bare = authority / "bare.xml"
    bare.write_text(re.sub(r"<expires>[^<]*</expires>", "", xml))
    code, out = sign(meshnode, authority, "bare.msg", "--cap", str(bare), "--trim",
                     "--expires-in", "2h")
    assert code == 0, out
    _, [report] = verify(meshnode, authority, "bare.msg")
    sent = int(datetime.fromisoformat(
        re.search(r"<sent>([^<]*)</sent>", xml)[1]).timestamp())  # type: ignore[index]
    assert report["expires"] == sent + 2 * 3600


def test_the_trim_hint_comes_only_with_errors_trimming_fixes(meshnode: Run,
                                                             authority: Path) -> None:
    xml = _exported(meshnode, authority)
    broken = authority / "broken.xml"
    broken.write_text(xml.replace("</alert>", ""))
    code, out = sign(meshnode, authority, "b.msg", "--cap", str(broken))
    assert code == 2 and "malformed XML" in out and "--trim" not in out
    long = authority / "long.xml"
    long.write_text(re.sub(r"<instruction>[^<]*</instruction>",
                           "<instruction>" + "Blijf binnen. " * 400 + "</instruction>", xml,
                           count=1))
    code, out = sign(meshnode, authority, "l.msg", "--cap", str(long))
    assert code == 2 and "(--trim shortens texts and simplifies areas)" in out


def test_references_take_the_sent_time_as_cap_writes_it(meshnode: Run, authority: Path) -> None:
    xml = _exported(meshnode, authority)
    identifier = re.search(r"<identifier>([^<]*)</identifier>", xml)[1]  # type: ignore[index]
    sent = re.search(r"<sent>([^<]*)</sent>", xml)[1]  # type: ignore[index]
    code, out = sign(meshnode, authority, "update.msg", *fire_alert(
        "--msg-type", "Update", "--references", f"nl-alert@vrr.example,{identifier},{sent}"))
    assert code == 0, out
    r = meshnode("authority", "export-cap", str(authority / "update.msg"))
    assert f"nl-alert@vrr.example,{identifier},{sent}" in r.stdout
    code, out = sign(meshnode, authority, "bad.msg", *fire_alert(
        "--msg-type", "Update", "--references", f"nl-alert@vrr.example,{identifier},gisteren"))
    assert code == 2 and "2027-03-01T14:05:00+01:00" in out


def test_verify_prints_dates_and_texts_not_raw_values(meshnode: Run, authority: Path) -> None:
    sign(meshnode, authority, "alert.msg", *fire_alert())
    r = meshnode("authority", "verify", str(authority / "alert.msg"), str(authority / "cert.msg"),
                 "--root", str(authority / "root" / "root.pub"))
    assert r.returncode == 0, r.stderr
    assert "{" not in r.stdout and "['" not in r.stdout and "None" not in r.stdout
    assert re.search(r"expires: 20\d\d-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d", r.stdout)
    assert re.search(r"not after: 20\d\d-\d\d-\d\d ", r.stdout)
    assert "headlines: [nl-NL] Grote brand: sluit ramen en deuren; [en-GB] Large fire" in r.stdout


# --- validity checks, trimming, CAP 1.x and the sequence lock -----------------------------

_CAP_TIME = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)([+-]\d\d:\d\d)")
WORLD = "-80,-179 80,-179 80,179 -80,179"


def shifted(doc: bytes, sent_at: float) -> bytes:
    """A real CAP document with every time moved by one offset, so that it was sent at
    `sent_at` (Unix time); nothing else changes."""
    first = _CAP_TIME.search(doc)
    assert first is not None
    delta = timedelta(seconds=sent_at - datetime.fromisoformat(
        (first[1] + first[2]).decode()).timestamp())

    def move(m: re.Match[bytes]) -> bytes:
        moved = datetime.fromisoformat((m[1] + m[2]).decode()) + delta
        return moved.isoformat(timespec="seconds").encode()

    return _CAP_TIME.sub(move, doc)


def certify_for(meshnode: Run, d: Path, doc: bytes) -> tuple[Path, Path]:
    """An issuer certified (now) for the sender and geocodes of `doc`, anywhere on Earth."""
    alert = import_cap(doc, trim=True).alert
    issuer, cert = d / "feed", d / "feed-cert.msg"
    assert meshnode("authority", "init-issuer", "--dir", str(issuer),
                    "--name", "A feed (NOT REAL)").returncode == 0
    codes = sorted({f"{n}={v}" for a in alert.areas for n, v in a.geocodes})
    made = meshnode("authority", "issue-cert", "--root-dir", str(d / "root"), "--issuer-pub",
                    str(issuer / "issuer.pub"), "--issuer-id", "feed", "--sender", alert.sender,
                    "--polygon", WORLD, *[f"--geocode={c}" for c in codes],
                    "--out", str(cert))
    assert made.returncode == 0, made.stderr
    return issuer, cert


def sign_with(meshnode: Run, issuer: Path, cert: Path, out: Path,
              *extra: str) -> subprocess.CompletedProcess[str]:
    return meshnode("authority", "sign-alert", "--issuer-dir", str(issuer), "--cert", str(cert),
                    "--out", str(out), *extra)


def test_an_alert_sent_before_its_certificate_is_valid_is_not_signed(meshnode: Run,
                                                                     authority: Path) -> None:
    """The certificate was issued just now (valid from 5 minutes ago): an alert sent an hour
    ago is refused by every node, so sign-alert refuses it too and uses no sequence number."""
    doc = shifted(read_data("google-canada.cap"), time.time() - 3600)
    issuer, cert = certify_for(meshnode, authority, doc)
    (authority / "old.xml").write_bytes(doc)
    r = sign_with(meshnode, issuer, cert, authority / "old.msg", "--cap",
                  str(authority / "old.xml"))
    assert r.returncode == 2
    assert "nodes would refuse this alert: certificate not yet valid" in r.stderr
    assert not (authority / "old.msg").exists() and not (issuer / "seq").exists()


def test_the_environment_canada_alert_is_signed_and_verified(meshnode: Run,
                                                             authority: Path) -> None:
    doc = shifted(read_data("google-canada.cap"), time.time() - 60)
    issuer, cert = certify_for(meshnode, authority, doc)
    (authority / "ec.xml").write_bytes(doc)
    r = sign_with(meshnode, issuer, cert, authority / "ec.msg", "--cap",
                  str(authority / "ec.xml"), "--trim")
    assert r.returncode == 0, r.stderr
    _, [report] = verify(meshnode, authority, "ec.msg")
    assert report["verdict"] == "verified" and report["sender"] == "cap@ec.gc.ca"


def test_a_trimmed_alert_says_so_when_exported(meshnode: Run, authority: Path) -> None:
    """A real tsunami warning with 38 parameters (over 4 KiB) is trimmed; the changes are
    signed into the alert's note, so `export-cap` writes them back."""
    doc = shifted(read_data("google-wcatwc-warning.cap"), time.time() - 60)
    issuer, cert = certify_for(meshnode, authority, doc)
    (authority / "tsunami.xml").write_bytes(doc)
    r = sign_with(meshnode, issuer, cert, authority / "tsunami.msg", "--cap",
                  str(authority / "tsunami.xml"), "--trim")
    assert r.returncode == 0, r.stderr
    assert "trimmed: info[0].parameters: dropped" in r.stdout
    exported = meshnode("authority", "export-cap", str(authority / "tsunami.msg"),
                        "--out", str(authority / "back.xml"))
    assert exported.returncode == 0, exported.stderr
    xmlschema.XMLSchema(str(DATA / "oasiscap-cap12.xsd")).validate(str(authority / "back.xml"))
    note = ElementTree.parse(authority / "back.xml").find(
        "{urn:oasis:names:tc:emergency:cap:1.2}note")
    assert note is not None and note.text is not None
    assert "Shortened by a meshnode gateway: " in note.text and "parameters: dropped" in note.text


def test_a_cap_1_1_document_is_upgraded_and_signed(meshnode: Run, authority: Path) -> None:
    doc = shifted(read_data("google-earthquake.cap"), time.time() - 60)
    issuer, cert = certify_for(meshnode, authority, doc)
    (authority / "quake.xml").write_bytes(doc)
    r = sign_with(meshnode, issuer, cert, authority / "quake.msg", "--cap",
                  str(authority / "quake.xml"))
    assert r.returncode == 0, r.stderr
    assert "note: CAP 1.1 document read as CAP 1.2" in r.stdout
    _, [report] = verify(meshnode, authority, "quake.msg")
    assert report["verdict"] == "verified"


_SIGN_AFTER_GO = """
import sys, time
from pathlib import Path
import cli.main
go = Path(sys.argv[1])
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.001)
sys.exit(cli.main.main(sys.argv[2:]))
"""


def test_concurrent_sign_alert_runs_never_share_a_sequence_number(meshnode: Run,
                                                                  authority: Path) -> None:
    """Real processes, each fully started and waiting at a barrier, then all signing at once."""
    runs = 8
    go = authority / "go"
    env = {k: v for k, v in os.environ.items() if k != "MESHNODE_PASSPHRASE"}
    env["MESHNODE_HOME"] = str(authority / "home")
    procs = [subprocess.Popen(
        [sys.executable, "-c", _SIGN_AFTER_GO, str(go), "authority", "sign-alert",
         "--issuer-dir", str(authority / "vr17"), "--cert", str(authority / "cert.msg"),
         "--out", str(authority / f"c{i}.msg"), *fire_alert()],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(runs)]
    go.write_bytes(b"")
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    code, reports = verify(meshnode, authority, *[f"c{i}.msg" for i in range(runs)])
    assert code == 0
    assert sorted(int(str(r["seq"])) for r in reports) == list(range(1, runs + 1))
    assert len({r["identifier"] for r in reports}) == runs
