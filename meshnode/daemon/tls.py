"""The steunpunt's HTTPS certificate (`[web] tls_cert` and `tls_key`, docs/steunpunt.md).

`read_certificate(cert, key)` reads both PEM files and checks that they belong together;
every problem an operator can fix before the hub goes out is a `TlsError` naming the key and
the fix. A certificate that has expired, or is not valid yet, is *not* an error here: a hub
that restarts after a long outage must still relay the mesh, so its dates are reported by
`Certificate.warnings(now)` (the daemon's log and `meshnode status`) instead.

Browsers allow a service worker and WebCrypto's Ed25519 only in a secure context, and a
page is one only when the browser trusts the certificate: a self-signed one, or one whose
chain it cannot complete offline, gives the app none of them (the warnings say so).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

__all__ = ["EXPIRY_WARN_DAYS", "Certificate", "TlsError", "read_certificate"]

EXPIRY_WARN_DAYS = 30  # a long outage outlives a 90-day certificate: warn a month ahead
_DAY = 86400
_PEM_MAX = 1024 * 1024  # a certificate chain or key file is a few KB


class TlsError(Exception):
    """`[web] tls_cert` or `tls_key` cannot be used; `key` names which, `problem` the fix."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Certificate:
    """The server certificate a hub serves: the first of its PEM file, with what the
    browsers will check of it."""

    path: str
    names: tuple[str, ...]  # the subject alternative names: DNS names and IP addresses
    not_before: datetime
    not_after: datetime
    self_signed: bool
    chain: int  # certificates in the file (the server's, then its intermediates)

    def covers(self, host: str) -> bool:
        """Whether a browser accepts this certificate for `host` (a name or an address);
        a wildcard stands for exactly one leftmost label, as browsers read it."""
        host = host.strip("[]").rstrip(".").lower()
        if _is_ip(host):
            host = str(ipaddress.ip_address(host))
        for name in self.names:
            if name == host:
                return True
            wildcard = name.startswith("*.") and "." in host and not _is_ip(host)
            if wildcard and host.split(".", 1)[1] == name[2:]:
                return True
        return False

    def days_left(self, now: float) -> int:
        """Whole days until it expires (negative once it has)."""
        return int((self.not_after.timestamp() - now) // _DAY)

    def status(self, now: float) -> dict[str, Any]:
        """What `meshnode status` shows of it (times in whole seconds, as every API time)."""
        return {"names": list(self.names), "not_after": int(self.not_after.timestamp()),
                "days_left": self.days_left(now), "warnings": self.warnings(now)}

    def warnings(self, now: float) -> list[str]:
        """What a hub operator must act on, at wall-clock time `now`: expired, not valid
        yet, expiring within `EXPIRY_WARN_DAYS`, or a certificate phones will not trust."""
        out = []
        after = f"{self.not_after:%Y-%m-%d %H:%M} UTC"
        if now >= self.not_after.timestamp():
            out.append(f"the HTTPS certificate EXPIRED on {after}: phones refuse the board "
                       "and the app. Renew it while the hub is online, or serve plain HTTP "
                       "(remove tls_cert and tls_key, set url to http://...): "
                       "docs/steunpunt.md, \"HTTPS\"")
        elif now < self.not_before.timestamp():
            out.append(f"the HTTPS certificate is not valid until "
                       f"{self.not_before:%Y-%m-%d %H:%M} UTC (or this hub's clock is "
                       "behind): phones whose clock is right refuse it until then")
        elif self.days_left(now) < EXPIRY_WARN_DAYS:
            out.append(f"the HTTPS certificate expires in {self.days_left(now)} day(s), on "
                       f"{after}: renew it while the hub is online (docs/steunpunt.md, "
                       "\"HTTPS\")")
        if self.self_signed:
            out.append("the HTTPS certificate is self-signed: phones do not trust it, so "
                       "the app gets no service worker (no offline reload) and no WebCrypto "
                       "Ed25519; use a certificate from a public CA")
        elif self.chain == 1:
            out.append("the certificate file holds no intermediate certificate: a phone "
                       "without internet cannot fetch it and may refuse the site; use the "
                       "full chain (certbot's fullchain.pem)")
        return out


def read_certificate(cert_path: str, key_path: str) -> Certificate:
    """Read `cert_path` (the server certificate, then its intermediates, PEM) and `key_path`
    (its private key, PEM, unencrypted); raises `TlsError` if either cannot be used."""
    chain = _certificates(cert_path)
    leaf = chain[0]
    key = _private_key(key_path)
    if _spki(key.public_key()) != _spki(leaf.public_key()):
        raise TlsError("web.tls_key", f"{key_path} is not the key of the certificate in "
                                      f"{cert_path}: use the key made with it (certbot's "
                                      "privkey.pem beside fullchain.pem)")
    return Certificate(path=cert_path, names=_names(leaf),
                       not_before=leaf.not_valid_before_utc, not_after=leaf.not_valid_after_utc,
                       self_signed=leaf.issuer == leaf.subject, chain=len(chain))


def _read(key: str, path: str) -> bytes:
    if not Path(path).is_absolute():
        raise TlsError(key, f"must be an absolute path, got {path!r}")
    try:
        with open(path, "rb") as f:
            return f.read(_PEM_MAX + 1)
    except FileNotFoundError:
        raise TlsError(key, f"{path}: no such file") from None
    except PermissionError:
        raise TlsError(key, f"{path}: permission denied (the daemon's user must be able to "
                            "read it: e.g. chgrp meshnode and chmod 640)") from None
    except OSError as exc:
        raise TlsError(key, f"{path}: cannot read it ({exc.strerror or exc})") from None


def _certificates(path: str) -> list[x509.Certificate]:
    data = _read("web.tls_cert", path)
    try:
        if len(data) > _PEM_MAX:
            raise ValueError("too large")
        chain = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise TlsError("web.tls_cert", f"{path}: not a PEM certificate chain (-----BEGIN "
                                       "CERTIFICATE-----; certbot's fullchain.pem)") from None
    return chain


def _private_key(path: str) -> PrivateKeyTypes:
    data = _read("web.tls_key", path)
    try:
        if len(data) > _PEM_MAX:
            raise ValueError("too large")
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise TlsError("web.tls_key", f"{path}: the key is protected by a passphrase, which "
                                      "a daemon that starts by itself cannot type; store it "
                                      "unencrypted, readable only by the daemon's "
                                      "user") from None
    except (ValueError, UnsupportedAlgorithm):
        raise TlsError("web.tls_key", f"{path}: not a PEM private key (-----BEGIN PRIVATE "
                                      "KEY-----; certbot's privkey.pem)") from None


def _spki(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    """The names browsers match: the subject alternative names (they ignore the CN)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    dns = [n.lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName)]
    ips = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    return tuple(dns + ips)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
