"""Complaints (the 5599 helpline idea): filed at a kiosk, optionally tied to an
application and an office, optionally anonymous; each has a tracking number
and runs the "complaint" workflow (triage at the helpline, investigation at
the agency it is about, a response), with the same audit trail and status
catch-up as applications.

Kiosks number complaints from the top of their serial range downwards
(999999, 999998, ...) while applications count up from 1, so the two never
collide (see kiosk.applications.complaints).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import applications, casework, status_feed
from central import catalogue as central_catalogue
from central.db import Base
from contract import tracking
from contract.errors import UrError

STREAM = "complaints"
HELPLINE = "helpline-5599"
CATEGORIES = ("delay", "bribery", "conduct", "wrong-fee", "service-quality", "other")


class Complaint(Base):
    __tablename__ = "complaints"
    tracking: Mapped[str] = mapped_column(String(16), primary_key=True)
    kiosk_id: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    category: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    application: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    office: Mapped[str | None] = mapped_column(String(64), nullable=True)
    institution: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)  # None = anonymous
    mobile: Mapped[str | None] = mapped_column(String(20), nullable=True)
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(32))


def _push(session: Session, number: str, status: str, at: datetime, detail: dict[str, Any]) -> None:
    c = session.get(Complaint, number)
    if c is None:
        raise UrError(f"no complaint {number}")
    c.status = status
    status_feed.push(session, c.kiosk_id, "status",
                     {"tracking": number, "status": status, "at": at.isoformat(), "subject": "complaint", **detail})


casework.NOTIFIERS[casework.COMPLAINT] = _push


def _institution(session: Session, application: str | None, office: str | None, given: str | None) -> str:
    """The agency a complaint is about: its application's, its office's, the one
    named, else the helpline itself investigates."""
    if application:
        app = session.get(applications.Application, application)
        if app is not None:
            try:
                return central_catalogue.at_version(session, app.catalogue_version).service(app.service_id).institution
            except UrError:
                pass
    cat_now = central_catalogue.current(session)
    if cat_now is not None:
        if given and cat_now.institution(given) is not None:
            return given
        if office:
            for inst in cat_now.institutions:
                if any(o.id == office for o in inst.offices):
                    return inst.id
    return HELPLINE


def handle(session: Session, kiosk_id: str, message_id: str, payload: dict[str, Any]) -> None:
    """Ingest handler for the `complaints` stream (UrError = rejected for good)."""
    try:
        number = tracking.parse(str(payload["tracking"]))
        text = str(payload["text"]).strip()
        category = str(payload.get("category") or "other")
        filed = datetime.fromisoformat(str(payload["filed_at"]))
        app_no = tracking.parse(str(payload["application"])) if payload.get("application") else None
    except (KeyError, TypeError, ValueError) as e:
        raise UrError(f"complaint payload invalid: {type(e).__name__} {e}") from None
    if not text or len(text) > 4000:
        raise UrError("complaint payload invalid: text must be 1..4000 characters")
    if category not in CATEGORIES:
        raise UrError(f"complaint payload invalid: category {category!r} not one of {', '.join(CATEGORIES)}")
    if session.get(Complaint, number) is not None or session.get(applications.Application, number) is not None:
        raise UrError(f"tracking number {number} already used by another message")
    now = datetime.now(UTC)
    office = str(payload["office"]) if payload.get("office") else None
    inst = _institution(session, app_no, office, str(payload.get("institution") or "") or None)
    session.add(Complaint(
        tracking=number, kiosk_id=kiosk_id, message_id=message_id, category=category, text=text,
        application=app_no, office=office, institution=inst,
        name=(str(payload["name"]) if payload.get("name") else None),
        mobile=(str(payload["mobile"]) if payload.get("mobile") else None),
        filed_at=filed, received_at=now, status="received",
    ))
    session.flush()
    casework.audit.append(session, number, "citizen" if payload.get("name") else "anonymous", kiosk_id,
                          "file", {"category": category, "application": app_no, "office": office,
                                   "institution": inst}, at=now)
    defn = casework.definitions()["complaint"]
    casework.open_case(session, number, casework.COMPLAINT, defn, inst, [], kiosk_id, "", now)
