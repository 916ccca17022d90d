"""Enrolled kiosks: their public keys (to verify envelopes), codes (for
tracking numbers), last heartbeat, clock skew and revocation; and the
one-time enrollment codes that let a kiosk enroll.

Enrollment is CSR-style (contract.enrollment says why): `issue_code` reserves
a kiosk id and returns a one-time code for the technician; `sign_request`
checks a kiosk's request against that code and registers the kiosk's public
keys. Central never sees a kiosk's private key. What the code protects
against: a request altered on its way (swapped keys), made for another id,
made by someone who was never given a code, or replayed; it works once, for one
kiosk id, until it expires, and a few wrong MACs burn it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from sqlalchemy import BigInteger, DateTime, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import pki, status_feed
from central.db import Base
from contract import enrollment, kiosk_ids
from contract.errors import UrError

SKEW_ALARM_MS = 5 * 60 * 1000
CODE_VALID_HOURS = 24  # long enough for a day's round of installs, short enough to go stale
SERVICE_EVENT = "service"  # feed event kind: {"state": "revoked"} puts the kiosk out of service
MAX_CODE_FAILURES = 5  # wrong MACs before a code is burned (80 bits: guessing is hopeless anyway)


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
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EnrollmentCode(Base):
    """A pending enrollment: the kiosk id is reserved, the code not used yet.
    `mac_key` is the code's HMAC key (contract.enrollment.code_key): central
    must hold it to check a request, as it holds the CA key."""

    __tablename__ = "enrollment_codes"
    kiosk_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    office: Mapped[str] = mapped_column(String(64), default="")
    broker_url: Mapped[str] = mapped_column(String(256))
    mac_key: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)  # SQLite hands back naive datetimes


@dataclass(frozen=True)
class IssuedCode:
    kiosk_id: str
    code: str
    expires_at: datetime


def issue_code(session: Session, kiosk_id: str, broker_url: str, office: str, now: datetime,
               valid_hours: int = CODE_VALID_HOURS) -> IssuedCode:
    """Reserve `kiosk_id` and return its one-time code (shown once, stored only
    as its HMAC key). Issuing again for a pending id replaces the old code."""
    kiosk_ids.check(kiosk_id)
    if not 1 <= valid_hours <= 720:
        raise UrError(f"--valid-hours {valid_hours} must be 1..720")
    if len(office) > 64:
        raise UrError("office must be at most 64 characters")
    if session.get(Kiosk, kiosk_id) is not None:
        raise UrError(f"kiosk {kiosk_id!r} is already enrolled")
    code = enrollment.new_code()
    expires = now + timedelta(hours=valid_hours)
    session.merge(EnrollmentCode(kiosk_id=kiosk_id, office=office, broker_url=broker_url,
                                 mac_key=enrollment.code_key(code, kiosk_id).hex(), issued_at=now,
                                 expires_at=expires, failures=0, used_at=None))
    session.flush()
    return IssuedCode(kiosk_id, code, expires)


def register(session: Session, kiosk_id: str, public_key_hex: str, office: str, now: datetime) -> Kiosk:
    """Add a kiosk with its envelope public key and the next free 4-digit code."""
    kiosk_ids.check(kiosk_id)
    if session.get(Kiosk, kiosk_id) is not None:
        raise UrError(f"kiosk {kiosk_id!r} is already enrolled")
    code = (session.scalar(select(func.max(Kiosk.kiosk_code))) or 1000) + 1
    if code > 9999:
        raise UrError("no kiosk codes left (9999 kiosks)")
    k = Kiosk(kiosk_id=kiosk_id, kiosk_code=code, office=office, public_key=public_key_hex, enrolled_at=now)
    session.add(k)
    session.flush()
    return k


@dataclass(frozen=True)
class Signed:
    kiosk: Kiosk
    broker_url: str
    certificate: x509.Certificate


def sign_request(session: Session, req: enrollment.Request, now: datetime) -> Signed | str:
    """Check `req` (already parsed) against the code issued for its kiosk id;
    register the kiosk and sign its certificate. A wrong MAC is counted on the
    code and returned as the refusal text (the caller commits the count)."""
    pending = session.get(EnrollmentCode, req.kiosk_id)
    if pending is None:
        if session.get(Kiosk, req.kiosk_id) is not None:
            raise UrError(f"kiosk {req.kiosk_id!r} is already enrolled")
        raise UrError(f"no enrollment code was issued for kiosk {req.kiosk_id!r} "
                      f"(run: ur-central kiosks enroll {req.kiosk_id})")
    if pending.used_at is not None:
        raise UrError(f"the enrollment code for kiosk {req.kiosk_id!r} was already used")
    if _utc(pending.expires_at) <= now:
        raise UrError(f"the enrollment code for kiosk {req.kiosk_id!r} expired at "
                      f"{_utc(pending.expires_at).isoformat(timespec='seconds')}; issue a new one")
    if pending.failures >= MAX_CODE_FAILURES:
        raise UrError(f"the enrollment code for kiosk {req.kiosk_id!r} was burned after "
                      f"{MAX_CODE_FAILURES} wrong attempts; issue a new one")
    if not req.mac_ok(bytes.fromhex(pending.mac_key)):
        pending.failures += 1
        return (f"enrollment request for kiosk {req.kiosk_id!r} is not authenticated by its enrollment "
                "code (wrong code typed at the kiosk, or the request was altered)")
    if session.scalar(select(func.count()).select_from(Kiosk).where(Kiosk.public_key == req.envelope_public_key)):
        raise UrError("enrollment request: that envelope key belongs to another kiosk")
    pending.used_at = now
    kiosk = register(session, req.kiosk_id, req.envelope_public_key, pending.office, now)
    cert = pki.issue_for_key(session, req.kiosk_id, req.tls_public_key)
    return Signed(kiosk, pending.broker_url, cert)


def revoke(session: Session, kiosk_id: str, now: datetime) -> Kiosk | None:
    """Refuse this kiosk from now on: its envelopes at central (ingest checks
    `revoked_at`) and its certificate at the broker (pki's CRL). For a kiosk
    not enrolled yet, its unused code is withdrawn instead (returns None)."""
    k = session.get(Kiosk, kiosk_id)
    if k is None:
        pending = session.get(EnrollmentCode, kiosk_id)
        if pending is None or pending.used_at is not None:
            raise UrError(f"no kiosk {kiosk_id!r} is enrolled")
        session.delete(pending)
        session.flush()
        return None
    if k.revoked_at is None:
        k.revoked_at = now
        # Told through its (signed) event feed, in case it is still connected.
        status_feed.push(session, kiosk_id, SERVICE_EVENT, {"state": "revoked", "at": now.isoformat()})
    pki.revoke(session, kiosk_id, now)
    session.flush()
    return k


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
