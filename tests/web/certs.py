"""Real X.509 certificates for the HTTPS tests, made with `cryptography`: a test CA (as a
municipality's certificate would come from a public CA) and server certificates it signs, in
PEM files, for names such as ``steunpunt.test``. Nothing here is trusted outside a test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NAME = "steunpunt.test"


@dataclass(frozen=True)
class Ca:
    """A certificate authority: its key and self-signed certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class ServerFiles:
    """A server certificate chain and its key, written as PEM files."""

    cert: Path
    key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn: str = "meshnode test CA (NOT REAL)") -> Ca:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return Ca(key, cert)


def server_files(directory: Path, ca: Ca | None, names: tuple[str, ...] = (NAME,), *,
                 valid_from: datetime | None = None, valid_days: float = 80,
                 stem: str = "server") -> ServerFiles:
    """A server certificate for `names` signed by `ca` (None: self-signed), valid from
    `valid_from` (default: an hour ago) for `valid_days`; writes STEM.pem and STEM.key."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = valid_from or datetime.now(UTC) - timedelta(hours=1)
    subject = _name(names[0])
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(ca.cert.subject if ca is not None else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + timedelta(days=valid_days))
               .add_extension(x509.SubjectAlternativeName(
                   [x509.DNSName(n) for n in names]), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                              critical=False))
    if ca is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False)
    cert = builder.sign(ca.key if ca is not None else key, hashes.SHA256())
    files = ServerFiles(directory / f"{stem}.pem", directory / f"{stem}.key")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return files
