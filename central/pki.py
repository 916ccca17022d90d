"""The central CA for broker TLS: one client certificate per kiosk (CN = kiosk
id), one per central worker (CN = "central"), and the broker's server
certificate, plus the CRL of revoked kiosks. With `use_identity_as_username`
the CN becomes the MQTT user, with `use_username_as_clientid` also the client
id, and the ACL (`acl_text`) lets a kiosk publish only under its own id.

Kiosk certificates are signed from the kiosk's CSR (contract.enrollment): the
kiosk's TLS key never leaves the kiosk. They last KIOSK_CERT_DAYS = 397 days,
the CA/Browser Forum's cap for public TLS certificates since 2020 (was 825):
a certificate on a stolen or scrapped kiosk that somehow escapes revocation
stops working within about a year, and a yearly re-enrollment is an ordinary
technician visit. Renewal is by re-enrollment (no automatic renewal yet).

Every signature the CA makes (certificates and CRLs) goes through `_sign`,
into the PKCS#11 token that holds the CA key (central/hsm.py); the CA
certificate lives in the central database (table `pki`), and issued
certificates are listed in `pki_certs` with their serials, for the CRL.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import overload

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import DateTime, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import hsm
from central.db import Base
from contract import private_files, topics
from contract.errors import UrError

CENTRAL_USER = "central"
MAX_WORKERS = 64
KIOSK_CERT_DAYS = 397
SERVICE_CERT_DAYS = 825  # central's own worker and broker certificates (keys made here)
# Mosquitto checks the CRL on every handshake, and OpenSSL refuses EVERY client once
# a CRL's nextUpdate has passed; the broker only ever reads the CRL we write (and we
# rewrite it on each revocation), so it is valid for as long as the CA.
CRL_DAYS = 3650
BROKER_DIR = "broker_dir"  # pki row: where `broker-tls` wrote the broker's files


class PkiItem(Base):
    __tablename__ = "pki"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    pem: Mapped[str] = mapped_column(Text)


class IssuedCert(Base):
    """Every certificate the CA signed: its serial goes on the CRL when revoked."""

    __tablename__ = "pki_certs"
    serial: Mapped[str] = mapped_column(String(48), primary_key=True)  # hex
    cn: Mapped[str] = mapped_column(String(64), index=True)
    not_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _builder(subject_cn: str, public_key: ec.EllipticCurvePublicKey, issuer: x509.Name, ca: bool,
             server_ip: str | None = None, days: int = 3650) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
         .issuer_name(issuer).public_key(public_key)
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_ip else ExtendedKeyUsageOID.CLIENT_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server_ip:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(server_ip))]),
                            critical=False)
    return b


def _ca(session: Session) -> tuple[x509.Certificate, hsm.P256TokenKey]:
    """The CA certificate (database) and its key (made in the PKCS#11 token on first use)."""
    cert_row = session.get(PkiItem, "ca.crt")
    if cert_row is None:
        key = hsm.P256TokenKey(hsm.token().generate_p256("ca"))
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ur Kiosk central CA")])
        cert = hsm.sign_certificate(_builder("Ur Kiosk central CA", key.public_key(), name, ca=True), key)
        session.merge(PkiItem(name="ca.crt", pem=cert.public_bytes(serialization.Encoding.PEM).decode()))
        session.flush()
        return cert, key
    cert = x509.load_pem_x509_certificate(cert_row.pem.encode())
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return cert, hsm.P256TokenKey(public)


@overload
def _sign(session: Session, builder: x509.CertificateBuilder) -> x509.Certificate: ...
@overload
def _sign(session: Session, builder: x509.CertificateRevocationListBuilder) -> x509.CertificateRevocationList: ...
def _sign(session: Session, builder: x509.CertificateBuilder | x509.CertificateRevocationListBuilder
          ) -> x509.Certificate | x509.CertificateRevocationList:
    """The CA's one signing operation (certificates and CRLs), in the token."""
    _cert, key = _ca(session)
    if isinstance(builder, x509.CertificateBuilder):
        return hsm.sign_certificate(builder, key)
    return hsm.sign_crl(builder, key)


def ca_pem(session: Session) -> str:
    return _ca(session)[0].public_bytes(serialization.Encoding.PEM).decode()


def _record(session: Session, cert: x509.Certificate, cn: str) -> None:
    session.add(IssuedCert(serial=f"{cert.serial_number:x}", cn=cn, not_after=cert.not_valid_after_utc))
    session.flush()


def issue(session: Session, cn: str, server_ip: str | None = None) -> tuple[str, str]:
    """(certificate PEM, private key PEM) for one of central's own identities
    (worker, broker): their keys are central's, so they are made here."""
    ca_cert = _ca(session)[0]
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _sign(session, _builder(cn, key.public_key(), ca_cert.subject, ca=False, server_ip=server_ip,
                                   days=SERVICE_CERT_DAYS))
    _record(session, cert, cn)
    return cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key)


def issue_for_key(session: Session, cn: str, public_key: ec.EllipticCurvePublicKey) -> x509.Certificate:
    """A kiosk's client certificate for the public key from its CSR."""
    ca_cert = _ca(session)[0]
    cert = _sign(session, _builder(cn, public_key, ca_cert.subject, ca=False, days=KIOSK_CERT_DAYS))
    _record(session, cert, cn)
    return cert


def revoke(session: Session, cn: str, now: datetime) -> int:
    """Mark every certificate of `cn` revoked; returns how many were newly revoked."""
    rows = list(session.scalars(select(IssuedCert).where(IssuedCert.cn == cn, IssuedCert.revoked_at.is_(None))))
    for r in rows:
        r.revoked_at = now
    session.flush()
    return len(rows)


def crl_pem(session: Session, now: datetime | None = None) -> str:
    """The CA's CRL: every revoked certificate that has not expired yet."""
    now = now or datetime.now(UTC)
    ca_cert = _ca(session)[0]
    b = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
         .last_update(now - timedelta(minutes=5)).next_update(now + timedelta(days=CRL_DAYS)))
    for r in session.scalars(select(IssuedCert).where(IssuedCert.revoked_at.is_not(None))
                             .order_by(IssuedCert.serial)):
        if r.not_after.replace(tzinfo=r.not_after.tzinfo or UTC) < now:
            continue  # expired certificates are refused anyway
        revoked_at = r.revoked_at
        assert revoked_at is not None  # the query asked for revoked ones only
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(int(r.serial, 16))
            .revocation_date(revoked_at.replace(tzinfo=revoked_at.tzinfo or UTC)).build())
    crl: x509.CertificateRevocationList = _sign(session, b)
    return crl.public_bytes(serialization.Encoding.PEM).decode()


def _write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Atomically (the broker may reload at any moment and must never read half a
    file), with `mode` from the first byte; public files are world-readable, since
    Mosquitto may run as its own user."""
    private_files.write_atomic(path, text, mode)


def write_crl(session: Session, now: datetime | None = None) -> Path | None:
    """Rewrite the CRL in the broker directory `broker-tls` wrote (None if none)."""
    row = session.get(PkiItem, BROKER_DIR)
    if row is None:
        return None
    path = Path(row.pem) / "crl.pem"
    _write_file(path, crl_pem(session, now))
    return path


def worker_users(workers: int) -> list[str]:
    """Broker identities of central's workers: `central`, `central-2`, ... One each,
    because the listener makes the certificate CN the client id
    (`use_username_as_clientid`): two workers sharing a CN would knock each other
    off the broker in turn."""
    if not 1 <= workers <= MAX_WORKERS:
        raise UrError(f"--workers {workers}: between 1 and {MAX_WORKERS}")
    return [CENTRAL_USER] + [f"{CENTRAL_USER}-{i}" for i in range(2, workers + 1)]


def acl_text(workers: int = 1) -> str:
    """Mosquitto ACL. `pattern` lines apply to every user (a kiosk's user is its
    certificate CN): its own uplink and requests, its own downlink, and the
    retained manifests every kiosk needs. A `topic` line only applies to the
    `user` block it is in, which is why the manifests must be a pattern: under
    `user central` (as before) no kiosk ever received one. Each worker identity
    gets its own `user` block (Mosquitto has no user patterns)."""
    root = topics.ROOT
    lines = [
        f"pattern write {root}/kiosk/%u/up/#",
        f"pattern write {root}/kiosk/%u/req/#",
        f"pattern read {root}/kiosk/%u/down/#",
        f"pattern read {root}/manifest/#",
        "",
    ]
    for user in worker_users(workers):
        lines += [f"user {user}", "topic readwrite #", "topic readwrite $share/#", ""]
    return "\n".join(lines)


def listener_lines(files: dict[str, Path], port: int, host: str) -> list[str]:
    """The TLS listener: client certificate required, CN = user = client id (so a
    kiosk cannot take another's client id and knock it off), revoked certificates
    refused by the CRL (reloaded on SIGHUP)."""
    return [
        f"listener {port} {host}",
        f"cafile {files['ca']}", f"certfile {files['cert']}", f"keyfile {files['key']}",
        f"crlfile {files['crl']}",
        "require_certificate true", "use_identity_as_username true", "use_username_as_clientid true",
        f"acl_file {files['acl']}", "",
    ]


def broker_files(session: Session, out: Path, port: int, host: str = "127.0.0.1",
                 workers: int = 1) -> dict[str, Path]:
    """Write the CA, a server certificate, the ACL, the CRL and a mosquitto.conf
    listener block; remember `out`, so a revocation rewrites the CRL there."""
    out.mkdir(parents=True, exist_ok=True)
    crt, key = issue(session, host, server_ip=host)
    files = {"ca": out / "ca.crt", "cert": out / "server.crt", "key": out / "server.key",
             "acl": out / "acl", "crl": out / "crl.pem", "conf": out / "tls-listener.conf"}
    _write_file(files["ca"], ca_pem(session))
    _write_file(files["cert"], crt)
    # The broker's private key: 0600 from the first byte. Mosquitto must run as
    # the owner of these files (`user` in mosquitto.conf), or chown it to that user.
    _write_file(files["key"], key, 0o600)
    _write_file(files["acl"], acl_text(workers))
    session.merge(PkiItem(name=BROKER_DIR, pem=str(out.resolve())))
    session.flush()
    _write_file(files["crl"], crl_pem(session))
    _write_file(files["conf"], "\n".join(listener_lines(files, port, host)))
    return files
