"""The local installation's own certificate authority and the one server certificate its services present.

`kim up` makes them on first start under ``$KIM_HOME/tls`` (directory 0700, keys 0600) with ``cryptography``:

- ``ca.pem`` — the CA certificate every client trusts (``KIM_KAFKA_CA_FILE``, ``sslrootcert``, ``--cacert``);
- ``ca-key.pem`` — its key; it signs server certificates and nothing else;
- ``server.pem`` / ``server-key.pem`` — the server certificate (leaf, then the CA) and its PKCS#8 key, for
  the Kafka listeners, PostgreSQL and the HTTPS servers alike; its names are loopback and this host's name;
- ``server-keystore.pem`` — key and chain in one file, the PEM key store Kafka reads.

A server certificate close to expiry or lacking a name asked for is issued again (same CA, so clients keep
trusting it); the CA lasts ten years. Nothing here runs on import.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from infra.errors import SetupError

CA_YEARS = 10
SERVER_DAYS = 825  # the longest validity browsers accept
RENEW_BEFORE = dt.timedelta(days=30)
ORGANISATION = "KIM partner network (local installation)"


@dataclass(frozen=True)
class TlsFiles:
    """Where one installation's CA and server certificate are."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def cert(self) -> Path:
        return self.directory / "server.pem"

    @property
    def key(self) -> Path:
        return self.directory / "server-key.pem"

    @property
    def keystore(self) -> Path:
        return self.directory / "server-keystore.pem"

    def exists(self) -> bool:
        return all(p.exists() for p in (self.ca, self.cert, self.key, self.keystore))


def default_names() -> list[str]:
    """The names the local services answer to: loopback and this host's name."""
    names = ["127.0.0.1", "::1", "localhost"]
    host = socket.gethostname()
    if host and host not in names:
        names.append(host)
    return names


def ensure_tls(directory: Path, names: Iterable[str] | None = None) -> TlsFiles:
    """The CA and a current server certificate for ``names`` in ``directory``, made or renewed as needed."""
    files = TlsFiles(directory)
    wanted = list(names) if names is not None else default_names()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not (files.ca.exists() and files.ca_key.exists()):
            _write_ca(files)
        if _needs_server_cert(files, wanted):
            _write_server(files, wanted)
    except PermissionError as exc:
        raise SetupError(
            f"cannot write the TLS certificates in {directory} ({exc.strerror}); run kim as the user that owns KIM_HOME"
        ) from None
    return files


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_ca(files: TlsFiles) -> None:
    key = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, "KIM local CA"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(files.ca_key, _key_pem(key))
    _write_public(files.ca, cert.public_bytes(serialization.Encoding.PEM))
    for stale in (files.cert, files.key, files.keystore):  # signed by a CA that is gone
        stale.unlink(missing_ok=True)


def _needs_server_cert(files: TlsFiles, names: list[str]) -> bool:
    if not (files.cert.exists() and files.key.exists() and files.keystore.exists()):
        return True
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return True
    have = {str(n) for n in san.get_values_for_type(x509.DNSName)} | {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    }
    return (
        cert.issuer != ca.subject
        or cert.not_valid_after_utc - RENEW_BEFORE < _now()
        or not {_canonical(n) for n in names} <= have
    )


def _canonical(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _alt_names(names: list[str]) -> list[x509.GeneralName]:
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    return alt


def _write_server(files: TlsFiles, names: list[str]) -> None:
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    if not isinstance(ca_key, rsa.RSAPrivateKey):
        raise SetupError(f"{files.ca_key} is not the RSA key kim made; remove {files.directory} and run kim up again")
    key = _new_key()
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_alt_names(names)), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    key_pem = _key_pem(key)
    _write_private(files.key, key_pem)
    _write_private(files.keystore, key_pem + chain)
    _write_public(files.cert, chain)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes) -> None:
    _write(path, data, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    _write(path, data, 0o644)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write through a temporary file and rename, so a reader never sees half a key."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
