"""`[web] tls_cert`, `tls_key` and `redirect_listen`: HTTPS for the steunpunt, checked when the
configuration is read. Every mistake an operator can fix before the hub goes out is a
`ConfigError` naming the key and the fix; the certificate's dates are warnings instead (a hub
restarting after a long outage must still relay the mesh). Real certificates and keys, made
with `cryptography` in PEM files (tests/web/certs.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from meshnode.daemon import api
from meshnode.daemon.config import ConfigError, WebConfig, parse_config, render_config
from meshnode.daemon.tls import Certificate, read_certificate
from meshnode.daemon.web import serve_web
from meshnode.transport.udp import Endpoint
from tests.web.certs import NAME, Ca, ServerFiles, make_ca, server_files

DAY = 86400.0


@pytest.fixture(scope="module")
def ca() -> Ca:
    return make_ca()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, ca: Ca) -> ServerFiles:
    d = tmp_path_factory.mktemp("tls")
    files = server_files(d, ca)
    # As a public CA's chain is delivered: the server's certificate, then the issuer's.
    files.cert.write_bytes(files.cert.read_bytes() + ca.pem())
    return files


def web(cert: Path | str, key: Path | str, *, url: str = f"https://{NAME}:8443/",
        extra: str = "", enabled: bool = True) -> str:
    return (f'[web]\nenabled = {str(enabled).lower()}\nurl = "{url}"\n'
            f'tls_cert = "{cert}"\ntls_key = "{key}"\n{extra}')


def refused(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    return err.value


def test_a_certificate_and_its_key_are_read_and_round_trip(files: ServerFiles) -> None:
    config = parse_config(web(files.cert, files.key, extra='redirect_listen = "0.0.0.0:8080"'))
    assert (config.web.tls_cert, config.web.tls_key) == (str(files.cert), str(files.key))
    assert config.web.redirect_listen == Endpoint("0.0.0.0", 8080)
    assert parse_config(render_config(config)) == config


def test_without_https_there_is_no_redirect_listener() -> None:
    config = parse_config('[web]\nenabled = true\nurl = "http://10.42.0.1:8080/"')
    assert (config.web.tls_cert, config.web.redirect_listen) == ("", None)
    assert parse_config(render_config(config)) == config


def test_a_missing_file_is_named_with_its_key(files: ServerFiles, tmp_path: Path) -> None:
    err = refused(web(tmp_path / "fullchain.pem", files.key))
    assert err.key == "web.tls_cert" and "no such file" in err.problem
    err = refused(web(files.cert, tmp_path / "privkey.pem"))
    assert err.key == "web.tls_key" and "no such file" in err.problem


def test_a_file_that_cannot_be_read_is_named(files: ServerFiles, tmp_path: Path) -> None:
    err = refused(web(tmp_path, files.key))  # a directory, not a file
    assert err.key == "web.tls_cert" and "cannot read it" in err.problem


def test_a_relative_path_is_refused(files: ServerFiles) -> None:
    err = refused(web("fullchain.pem", files.key))
    assert err.key == "web.tls_cert" and "absolute path" in err.problem


def test_a_file_that_is_not_pem_is_refused(files: ServerFiles, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    err = refused(web(junk, files.key))
    assert err.key == "web.tls_cert" and "not a PEM certificate" in err.problem
    err = refused(web(files.cert, files.cert))  # the certificate given as the key
    assert err.key == "web.tls_key" and "not a PEM private key" in err.problem


def test_a_key_that_is_not_the_certificates_is_refused(files: ServerFiles, ca: Ca,
                                                      tmp_path: Path) -> None:
    other = server_files(tmp_path, ca, stem="other")
    err = refused(web(files.cert, other.key))
    assert err.key == "web.tls_key" and "is not the key of the certificate" in err.problem


def test_a_key_with_a_passphrase_is_refused(files: ServerFiles, tmp_path: Path) -> None:
    locked = tmp_path / "locked.key"
    key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    locked.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"geheim")))
    err = refused(web(files.cert, locked))
    assert err.key == "web.tls_key" and "passphrase" in err.problem


def test_https_needs_both_files(files: ServerFiles) -> None:
    assert refused(web(files.cert, "")).key == "web.tls_key"
    assert refused(web("", files.key)).key == "web.tls_cert"


def test_the_card_must_print_the_https_name_the_certificate_is_for(files: ServerFiles) -> None:
    err = refused(web(files.cert, files.key, url="http://10.42.0.1:8080/"))
    assert err.key == "web.url" and "https://" in err.problem
    err = refused(web(files.cert, files.key, url="https://steunpunt-zuid.test:8443/"))
    assert err.key == "web.url" and NAME in err.problem  # it says which name it is for


def test_the_redirect_needs_https_and_a_url(files: ServerFiles) -> None:
    err = refused('[web]\nenabled = true\nredirect_listen = "0.0.0.0:8080"')
    assert err.key == "web.redirect_listen"
    err = refused(web(files.cert, files.key, url="", extra='redirect_listen = "0.0.0.0:80"'))
    assert err.key == "web.url"


def test_a_board_that_is_off_does_not_need_its_files(tmp_path: Path) -> None:
    config = parse_config(web(tmp_path / "gone.pem", tmp_path / "gone.key", enabled=False))
    assert config.web.tls_cert == str(tmp_path / "gone.pem")


def test_an_expired_certificate_is_read_with_a_warning_not_an_error(ca: Ca,
                                                                   tmp_path: Path) -> None:
    """The daemon must start (the mesh relays on); the warning says what to do."""
    old = server_files(tmp_path, ca, valid_from=datetime.now(UTC) - timedelta(days=100),
                       valid_days=90)
    parse_config(web(old.cert, old.key))
    cert = read_certificate(str(old.cert), str(old.key))
    now = datetime.now(UTC).timestamp()
    assert cert.days_left(now) < 0
    assert any("EXPIRED" in w and "plain HTTP" in w for w in cert.warnings(now))


def test_the_warnings_follow_the_certificates_dates(files: ServerFiles) -> None:
    cert = read_certificate(str(files.cert), str(files.key))
    start, end = cert.not_before.timestamp(), cert.not_after.timestamp()
    assert cert.warnings(start + DAY) == []
    assert [w for w in cert.warnings(end - 10 * DAY) if "expires in 10 day(s)" in w]
    assert [w for w in cert.warnings(end) if "EXPIRED" in w]
    assert [w for w in cert.warnings(start - DAY) if "not valid until" in w]
    status = cert.status(end - 40 * DAY)
    assert (status["names"], status["days_left"], status["warnings"]) == ([NAME], 40, [])


def test_certificates_phones_will_not_trust_are_named(ca: Ca, tmp_path: Path) -> None:
    own = server_files(tmp_path, None, stem="own")
    cert = read_certificate(str(own.cert), str(own.key))
    assert cert.self_signed and any("self-signed" in w for w in cert.warnings(
        cert.not_before.timestamp() + DAY))
    bare = server_files(tmp_path, ca, stem="bare")  # no intermediate in the file
    cert = read_certificate(str(bare.cert), str(bare.key))
    assert any("fullchain.pem" in w for w in cert.warnings(cert.not_before.timestamp() + DAY))


@pytest.mark.parametrize(("host", "covered"), [
    ("steunpunt-noord.example.nl", True), ("STEUNPUNT-NOORD.example.nl.", True),
    ("zuid.example.nl", True),  # by the wildcard
    ("a.zuid.example.nl", False), ("example.nl", False), ("steunpunt-noord.example.com", False),
])
def test_names_are_matched_as_browsers_match_them(ca: Ca, tmp_path: Path, host: str,
                                                  covered: bool) -> None:
    f = server_files(tmp_path, ca, ("steunpunt-noord.example.nl", "*.example.nl"))
    assert read_certificate(str(f.cert), str(f.key)).covers(host) is covered


def test_a_certificate_gone_when_the_board_starts_is_logged_and_the_board_left_out(
        files: ServerFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The file was checked when the config was read; if it is gone by the time the board
    starts, the board task logs why and ends, and the daemon's other tasks run on."""
    web = WebConfig(enabled=True, listen=Endpoint("127.0.0.1", 0),
                    tls_cert=str(tmp_path / "gone.pem"), tls_key=str(files.key))

    async def no_api(request: api.Request) -> dict[str, Any]:
        raise AssertionError("the board must not be served")

    async def start() -> Certificate | None:
        async with trio.open_nursery() as nursery:
            return await nursery.start(serve_web, web, no_api)

    with caplog.at_level(logging.ERROR, logger="meshnode.web"):
        assert trio.run(start) is None
    assert [r for r in caplog.records if r.getMessage() == "web_unavailable"
            and "no such file" in r.fields["error"]]
