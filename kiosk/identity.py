"""Who this kiosk is: id, 4-digit code for tracking numbers, signing key, broker;
and whether central has taken it out of service.

Enrollment is CSR-style (contract/enrollment.py says why): `make_request`
makes the kiosk's own keys, which never leave it, and a request authenticated
with the technician's one-time code; `enroll` installs the bundle central
signed for that request, after checking it answers this kiosk's keys. The
private keys and the at-rest data key live in `secrets/` next to the database,
0600 from the first byte; on real hardware that directory is the sealed
partition (TPM-backed), so a stolen SSD alone reveals neither.

Out of service: central revokes a kiosk (`ur-central kiosks revoke`); the
kiosk learns it from a `service` event in its signed feed, or from the broker
refusing its certificate as revoked during the TLS handshake. The state is a
row in sync_state; the screens show "out of service" while it is set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from contract import downlink, enrollment, envelope, kiosk_ids, mqtt_conn, pii_seal, private_files
from contract.errors import UrError
from kiosk.at_rest import DataKey, new_key_file
from kiosk.store import Base, KioskStore
from kiosk.sync import cursor

DOWNLINK_PIN = "downlink.pub"  # central's downlink public key (hex), in secrets/
PII_PIN = "pii.pub"  # central's X25519 key that personal data is sealed to (hex), in secrets/
PENDING = "pending"  # secrets/pending/: keys of the enrollment request not yet answered


class IdentityRow(Base):
    __tablename__ = "identity"
    kiosk_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kiosk_code: Mapped[int] = mapped_column(Integer)
    office: Mapped[str] = mapped_column(String(64), default="")
    broker_url: Mapped[str] = mapped_column(String(256))
    enrolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Identity:
    kiosk_id: str
    kiosk_code: int
    office: str
    broker_url: str
    key: Ed25519PrivateKey
    data_key: DataKey  # personal data and the outbox at rest (kiosk/at_rest.py)
    # Central's downlink key (hex), pinned at enrollment: the kiosk acts only on
    # downlink messages it signed (contract/downlink.py).
    downlink_public_key: str = ""
    # Central's sealing key (raw X25519), pinned at enrollment: applications,
    # complaints and corrections go out sealed to it (contract/pii_seal.py).
    # None only for a kiosk set up without a bundle that carries it.
    pii_public_key: bytes | None = None


def _secrets(store: KioskStore) -> Path:
    d = store.dir / "secrets"
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def _write_secret(path: Path, data: bytes) -> None:
    private_files.write_private(path, data)  # 0600 from the first byte, atomic


def parse_bundle(text: str) -> dict[str, object]:
    """A bundle from `ur-central kiosks sign`, checked for form (pure). A bundle
    that carries a private key is the old, central-generated kind: refused."""
    try:
        b = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise UrError(f"enrollment bundle is not JSON: {e}") from None
    if not isinstance(b, dict):
        raise UrError("enrollment bundle must be a JSON object")
    if "private_key" in b or (isinstance(b.get("tls"), dict) and "key" in b["tls"]):
        raise UrError("enrollment bundle carries a private key (old enrollment); enroll again: "
                      "ur-central kiosks enroll K, ur-kiosk enroll-request, ur-central kiosks sign")
    for k, t in (("kiosk_id", str), ("kiosk_code", int), ("envelope_public_key", str), ("broker_url", str),
                 ("tls", dict)):
        if not isinstance(b.get(k), t):
            raise UrError(f"enrollment bundle: field {k!r} missing or not {t.__name__}")
    kiosk_ids.check(str(b["kiosk_id"]))
    envelope.public_key_from_hex(str(b["envelope_public_key"]))
    tls = b["tls"]
    for k in ("ca", "cert"):
        if not isinstance(tls.get(k), str):
            raise UrError(f"enrollment bundle: field 'tls.{k}' missing or not str")
    if not isinstance(b.get("downlink_public_key"), str):
        raise UrError("enrollment bundle: field 'downlink_public_key' missing or not str")
    downlink.verify_key_from_hex(str(b["downlink_public_key"]))
    if not isinstance(b.get("pii_public_key"), str):
        raise UrError("enrollment bundle: field 'pii_public_key' missing or not str")
    pii_seal.public_key_from_hex(str(b["pii_public_key"]))
    return b


def _pending(store: KioskStore) -> Path:
    d = _secrets(store) / PENDING
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def make_request(store: KioskStore, kiosk_id: str, code: str) -> dict[str, object]:
    """Make this kiosk's keys (kept in secrets/pending/, 0600) and the enrollment
    request for central, authenticated with the one-time code. A new request
    replaces the keys of an earlier one: the bundle must answer the latest."""
    kiosk_ids.check(kiosk_id)
    enrollment.normalise_code(code)
    with store.session() as s:
        if s.query(IdentityRow).first() is not None:
            raise UrError(f"kiosk in {store.dir} is already enrolled")
    env_key = Ed25519PrivateKey.generate()
    tls_key = ec.generate_private_key(ec.SECP256R1())
    req = enrollment.make_request(kiosk_id, code, env_key, tls_key)
    d = _pending(store)
    _write_secret(d / "kiosk.key", envelope.raw_private_hex(env_key).encode())
    _write_secret(d / "client.key", tls_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    _write_secret(d / "kiosk_id", kiosk_id.encode())
    return req


def enroll(store: KioskStore, bundle: dict[str, object]) -> None:
    """Install a bundle central signed for this kiosk's pending request: the
    bundle must name the kiosk id, envelope key and TLS key of that request, and
    its certificate must be the CA's."""
    d = store.dir / "secrets" / PENDING
    try:
        pending_id = (d / "kiosk_id").read_text().strip()
        env_hex = (d / "kiosk.key").read_text().strip()
        tls_pem = (d / "client.key").read_bytes()
    except OSError:
        raise UrError(f"no enrollment request was made in {store.dir} "
                      "(run: ur-kiosk enroll-request --kiosk K --out FILE)") from None
    if pending_id != bundle["kiosk_id"]:
        raise UrError(f"bundle is for kiosk {bundle['kiosk_id']!r}, but this kiosk asked to be {pending_id!r}")
    if envelope.raw_public_hex(envelope.private_key_from_hex(env_hex)) != str(bundle["envelope_public_key"]).lower():
        raise UrError("bundle answers another enrollment request (its envelope key is not this kiosk's)")
    tls = bundle["tls"]
    assert isinstance(tls, dict)
    try:
        cert = x509.load_pem_x509_certificate(str(tls["cert"]).encode())
        ca = x509.load_pem_x509_certificate(str(tls["ca"]).encode())
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as e:
        raise UrError(f"bundle certificate is not one the bundle's CA signed: {e or type(e).__name__}") from None
    tls_key = serialization.load_pem_private_key(tls_pem, None)
    if cert.public_key() != tls_key.public_key():
        raise UrError("bundle answers another enrollment request (its certificate is not for this kiosk's TLS key)")
    install(store, bundle, env_hex, tls_pem)
    for f in d.iterdir():
        f.unlink()
    d.rmdir()


def install(store: KioskStore, bundle: dict[str, object], envelope_key_hex: str,
            tls_key_pem: bytes | None = None) -> None:
    """Write the identity: keys and pins to secrets/ (0600), the rest to the
    database. `enroll` is the way in; test fixtures call this with keys they made."""
    with store.tx() as s:
        if s.query(IdentityRow).first() is not None:
            raise UrError(f"kiosk in {store.dir} is already enrolled")
        sec = _secrets(store)
        _write_secret(sec / "kiosk.key", envelope_key_hex.encode())
        if isinstance(bundle.get("downlink_public_key"), str):  # parse_bundle requires it
            _write_secret(sec / DOWNLINK_PIN, str(bundle["downlink_public_key"]).strip().lower().encode())
        if isinstance(bundle.get("pii_public_key"), str):
            pii = pii_seal.public_key_from_hex(str(bundle["pii_public_key"]))
            _write_secret(sec / PII_PIN, pii.hex().encode())
        tls = bundle.get("tls")
        if isinstance(tls, dict):
            for name, field in (("ca.crt", "ca"), ("client.crt", "cert")):
                if isinstance(tls.get(field), str):
                    _write_secret(sec / name, str(tls[field]).encode())
        if tls_key_pem is not None:
            _write_secret(sec / "client.key", tls_key_pem)
        if not (sec / "data.key").exists():
            _write_secret(sec / "data.key", new_key_file())
        s.add(IdentityRow(
            kiosk_id=str(bundle["kiosk_id"]), kiosk_code=int(bundle["kiosk_code"]),  # type: ignore[call-overload]  # bundle is validated JSON (dict[str, object]); int() of its checked field
            office=str(bundle.get("office", "")), broker_url=str(bundle["broker_url"]),
            enrolled_at=datetime.now(UTC),
        ))


def broker_address(store: KioskStore, url: str) -> mqtt_conn.BrokerAddress:
    """The broker to use; an `mqtts://` URL without explicit files uses the CA,
    certificate and key from the enrollment bundle (kept in secrets/)."""
    addr = mqtt_conn.parse_url(url)
    sec = store.dir / "secrets"
    if addr.tls and not addr.cert and (sec / "client.crt").exists():
        addr = replace(addr, ca=addr.ca or str(sec / "ca.crt"), cert=str(sec / "client.crt"),
                       key=str(sec / "client.key"))
    return addr


def load(store: KioskStore, session: Session | None = None) -> Identity:
    s = session or store.session()
    try:
        row = s.query(IdentityRow).first()
    finally:
        if session is None:
            s.close()
    if row is None:
        raise UrError(f"kiosk in {store.dir} is not enrolled (run: ur-kiosk init --bundle FILE)")
    sec = _secrets(store)
    try:
        key = envelope.private_key_from_hex((sec / "kiosk.key").read_text().strip())
        data_key = DataKey((sec / "data.key").read_bytes())
        pin = (sec / DOWNLINK_PIN).read_text().strip() if (sec / DOWNLINK_PIN).exists() else ""
        pii = pii_seal.public_key_from_hex((sec / PII_PIN).read_text()) if (sec / PII_PIN).exists() else None
    except OSError as e:
        raise UrError(f"kiosk secrets unreadable in {sec}: {e.strerror}") from None
    return Identity(row.kiosk_id, row.kiosk_code, row.office, row.broker_url, key, data_key, pin,
                    pii_public_key=pii)


# -- out of service ------------------------------------------------------------
OUT_OF_SERVICE = "out_of_service"  # sync_state row: int_value = one of SERVICE_REASONS' keys
SERVICE_REASONS = {1: "revoked", 2: "certificate_refused"}


def set_out_of_service(session: Session, reason: str) -> None:
    """Record that central has taken this kiosk out of service (kept until re-enrollment)."""
    code = next(k for k, v in SERVICE_REASONS.items() if v == reason)
    if cursor.get_int(session, OUT_OF_SERVICE) == 0:
        cursor.set_int(session, OUT_OF_SERVICE, code)


def out_of_service(session: Session) -> str | None:
    """Why this kiosk is out of service (`revoked`, `certificate_refused`), or None."""
    return SERVICE_REASONS.get(cursor.get_int(session, OUT_OF_SERVICE))


def apply_service_events(session: Session, events: list[tuple[int, dict[str, object]]]) -> list[str]:
    """Feed handler for `service` events (central.kiosks.SERVICE_EVENT); the feed
    page they come in is signed by central, so a stranger cannot send one."""
    problems = []
    for eid, payload in events:
        if payload.get("state") == "revoked":
            set_out_of_service(session, "revoked")
        else:
            problems.append(f"event {eid}: unknown service state {payload.get('state')!r}")
    return problems
