"""Who this kiosk is: id, 4-digit code for tracking numbers, signing key, broker.

Created once from the enrollment bundle central issues (`ur-central kiosks
enroll`). The private key and the at-rest data key live in `secrets/` next to
the database with mode 0600; on real hardware that directory is the sealed
partition (TPM-backed), so a stolen SSD alone reveals neither.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from contract import downlink, envelope, mqtt_conn
from contract.errors import UrError
from kiosk.store import Base, KioskStore

DOWNLINK_PIN = "downlink.pub"  # central's downlink public key (hex), in secrets/


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
    fernet: Fernet
    # Central's downlink key (hex), pinned at enrollment: the kiosk acts only on
    # downlink messages it signed (contract/downlink.py).
    downlink_public_key: str = ""


def _secrets(store: KioskStore) -> Path:
    d = store.dir / "secrets"
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def _write_secret(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def parse_bundle(text: str) -> dict[str, object]:
    try:
        b = json.loads(text)
    except ValueError as e:
        raise UrError(f"enrollment bundle is not JSON: {e}") from None
    if not isinstance(b, dict):
        raise UrError("enrollment bundle must be a JSON object")
    for k, t in (("kiosk_id", str), ("kiosk_code", int), ("private_key", str), ("broker_url", str)):
        if not isinstance(b.get(k), t):
            raise UrError(f"enrollment bundle: field {k!r} missing or not {t.__name__}")
    envelope.private_key_from_hex(str(b["private_key"]))
    if not isinstance(b.get("downlink_public_key"), str):
        raise UrError("enrollment bundle: field 'downlink_public_key' missing or not str")
    downlink.verify_key_from_hex(str(b["downlink_public_key"]))
    return b


def enroll(store: KioskStore, bundle: dict[str, object]) -> None:
    with store.tx() as s:
        if s.query(IdentityRow).first() is not None:
            raise UrError(f"kiosk in {store.dir} is already enrolled")
        sec = _secrets(store)
        _write_secret(sec / "kiosk.key", str(bundle["private_key"]).encode())
        if isinstance(bundle.get("downlink_public_key"), str):  # parse_bundle requires it
            _write_secret(sec / DOWNLINK_PIN, str(bundle["downlink_public_key"]).strip().lower().encode())
        tls = bundle.get("tls")
        if isinstance(tls, dict):
            for name, field in (("ca.crt", "ca"), ("client.crt", "cert"), ("client.key", "key")):
                if isinstance(tls.get(field), str):
                    _write_secret(sec / name, str(tls[field]).encode())
        if not (sec / "data.key").exists():
            _write_secret(sec / "data.key", Fernet.generate_key())
        s.add(IdentityRow(
            kiosk_id=str(bundle["kiosk_id"]), kiosk_code=int(bundle["kiosk_code"]),  # type: ignore[call-overload]
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
        fernet = Fernet((sec / "data.key").read_bytes().strip())
        pin = (sec / DOWNLINK_PIN).read_text().strip() if (sec / DOWNLINK_PIN).exists() else ""
    except OSError as e:
        raise UrError(f"kiosk secrets unreadable in {sec}: {e.strerror}") from None
    return Identity(row.kiosk_id, row.kiosk_code, row.office, row.broker_url, key, fernet, pin)
