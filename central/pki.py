"""The central CA for broker TLS: one client certificate per kiosk (CN = kiosk
id), one per central worker (CN = "central"), and the broker's server
certificate. With `use_identity_as_username` the CN becomes the MQTT user, and
the ACL (`broker_files`) lets a kiosk publish only under its own id.

Keys and certificates live in the central database (table `pki`); like the
document keys, database access equals CA power (an HSM is future work).
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from central.db import Base
from contract import topics

CENTRAL_USER = "central"


class PkiItem(Base):
    __tablename__ = "pki"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    pem: Mapped[str] = mapped_column(Text)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _cert(subject_cn: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
          issuer_key: ec.EllipticCurvePrivateKey, ca: bool, server_ip: str | None = None,
          days: int = 3650) -> x509.Certificate:
    now = datetime.now(UTC)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
         .issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_ip else ExtendedKeyUsageOID.CLIENT_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server_ip:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(server_ip))]),
                            critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _ca(session: Session) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key_row, cert_row = session.get(PkiItem, "ca.key"), session.get(PkiItem, "ca.crt")
    if key_row is None or cert_row is None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ur Kiosk central CA")])
        cert = _cert("Ur Kiosk central CA", key, name, key, ca=True)
        session.merge(PkiItem(name="ca.key", pem=_pem_key(key)))
        session.merge(PkiItem(name="ca.crt", pem=cert.public_bytes(serialization.Encoding.PEM).decode()))
        session.flush()
        return cert, key
    key = serialization.load_pem_private_key(key_row.pem.encode(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return x509.load_pem_x509_certificate(cert_row.pem.encode()), key


def ca_pem(session: Session) -> str:
    return _ca(session)[0].public_bytes(serialization.Encoding.PEM).decode()


def issue(session: Session, cn: str, server_ip: str | None = None) -> tuple[str, str]:
    """(certificate PEM, private key PEM) for `cn`, signed by the central CA."""
    ca_cert, ca_key = _ca(session)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(cn, key, ca_cert.subject, ca_key, ca=False, server_ip=server_ip, days=825)
    return cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key)


def acl_text() -> str:
    """Mosquitto ACL: a kiosk (user = certificate CN) reaches only its own topics."""
    root = topics.ROOT
    return "\n".join([
        f"user {CENTRAL_USER}",
        "topic readwrite #",
        "topic readwrite $share/#",
        "",
        f"pattern write {root}/kiosk/%u/up/#",
        f"pattern write {root}/kiosk/%u/req/#",
        f"pattern read {root}/kiosk/%u/down/#",
        f"topic read {root}/manifest/#",
        "",
    ])


def broker_files(session: Session, out: Path, port: int, host: str = "127.0.0.1") -> dict[str, Path]:
    """Write the CA, a server certificate, the ACL and a mosquitto.conf listener block."""
    out.mkdir(parents=True, exist_ok=True)
    crt, key = issue(session, host, server_ip=host)
    files = {"ca": out / "ca.crt", "cert": out / "server.crt", "key": out / "server.key",
             "acl": out / "acl", "conf": out / "tls-listener.conf"}
    files["ca"].write_text(ca_pem(session))
    files["cert"].write_text(crt)
    files["key"].write_text(key)
    files["key"].chmod(0o644)  # mosquitto drops to its own user and must read it
    files["acl"].write_text(acl_text())
    files["conf"].write_text("\n".join([
        f"listener {port} {host}",
        f"cafile {files['ca']}", f"certfile {files['cert']}", f"keyfile {files['key']}",
        "require_certificate true", "use_identity_as_username true",
        f"acl_file {files['acl']}", "",
    ]))
    return files
