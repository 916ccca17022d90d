"""Enrolled kiosks: their public keys (to verify envelopes), codes (for
tracking numbers), last heartbeat and clock skew."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import BigInteger, DateTime, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import downlink_key
from central.db import Base
from contract import envelope
from contract.errors import UrError

SKEW_ALARM_MS = 5 * 60 * 1000


class Kiosk(Base):
    __tablename__ = "kiosks"
    kiosk_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kiosk_code: Mapped[int] = mapped_column(Integer, unique=True)
    office: Mapped[str] = mapped_column(String(64), default="")
    public_key: Mapped[str] = mapped_column(String(64))
    enrolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    clock_skew_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    heartbeat: Mapped[str] = mapped_column(Text, default="{}")


def enroll(session: Session, kiosk_id: str, broker_url: str, office: str = "") -> dict[str, Any]:
    """Register a kiosk and return its enrollment bundle (holds its private key:
    written once to the kiosk at provisioning, never stored at central)."""
    if not kiosk_id or "/" in kiosk_id or "+" in kiosk_id or "#" in kiosk_id or len(kiosk_id) > 64:
        raise UrError(f"bad kiosk id {kiosk_id!r} (no '/', '+', '#'; at most 64 characters)")
    if session.get(Kiosk, kiosk_id) is not None:
        raise UrError(f"kiosk {kiosk_id!r} is already enrolled")
    key = Ed25519PrivateKey.generate()
    code = (session.scalar(select(func.max(Kiosk.kiosk_code))) or 1000) + 1
    if code > 9999:
        raise UrError("no kiosk codes left (9999 kiosks)")
    session.add(Kiosk(kiosk_id=kiosk_id, kiosk_code=code, office=office,
                      public_key=envelope.raw_public_hex(key), enrolled_at=datetime.now(UTC)))
    session.flush()
    return {"kiosk_id": kiosk_id, "kiosk_code": code, "office": office, "broker_url": broker_url,
            "private_key": envelope.raw_private_hex(key),
            # Pinned by the kiosk: it acts only on downlink messages this key signed.
            "downlink_public_key": downlink_key.signer(session).public_hex}


def record_heartbeat(session: Session, kiosk_id: str, payload: dict[str, Any]) -> None:
    k = session.get(Kiosk, kiosk_id)
    if k is not None:
        k.heartbeat = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)


def touch(session: Session, kiosk: Kiosk, hlc_ms: int, now: datetime) -> None:
    """Last seen, and the kiosk's clock skew as its HLC tells it (alarm over 5 min)."""
    kiosk.last_seen = now
    kiosk.clock_skew_ms = int(hlc_ms - now.timestamp() * 1000)


def skewed(session: Session) -> list[Kiosk]:
    return [k for k in session.scalars(select(Kiosk)) if abs(k.clock_skew_ms) > SKEW_ALARM_MS]
