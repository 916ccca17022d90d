"""Applications as central holds them: stored once per tracking number, with
their status reported back to the kiosk that took them.

`handle_submission` is the ingest handler for the `applications` stream;
`set_status` is what workflows and clerk actions call, and it feeds the
kiosk's status catch-up (central.status_feed).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import status_feed
from central.db import Base
from contract import tracking
from contract.errors import UrError


class Application(Base):
    __tablename__ = "applications"
    tracking: Mapped[str] = mapped_column(String(16), primary_key=True)
    kiosk_id: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    service_id: Mapped[str] = mapped_column(String(64), index=True)
    catalogue_version: Mapped[int] = mapped_column(Integer)
    fee_total: Mapped[int] = mapped_column(Integer)
    fields: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(32))
    status_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def handle_submission(session: Session, kiosk_id: str, message_id: str, payload: dict[str, Any]) -> None:
    """Store one submitted application (raises UrError on a bad payload: the
    message is then rejected for good and the kiosk told why)."""
    try:
        number = tracking.parse(str(payload["tracking"]))
        service_id = str(payload["service_id"])
        fields = payload["fields"]
        version = int(payload["catalogue_version"])
        fee = int(payload["fee_total"])
        submitted = datetime.fromisoformat(str(payload["submitted_at"]))
    except (KeyError, TypeError, ValueError) as e:
        raise UrError(f"application payload invalid: {type(e).__name__} {e}") from None
    if not isinstance(fields, dict):
        raise UrError("application payload invalid: fields must be a map")
    if session.get(Application, number) is not None:
        # Same tracking number from a different message: a kiosk bug, never overwrite.
        raise UrError(f"tracking number {number} already used by another message")
    now = datetime.now(UTC)
    session.add(Application(
        tracking=number, kiosk_id=kiosk_id, message_id=message_id, service_id=service_id,
        catalogue_version=version, fee_total=fee,
        fields=json.dumps(fields, ensure_ascii=False), submitted_at=submitted, received_at=now,
        status="received", status_at=now,
    ))
    session.flush()
    set_status(session, number, "received", at=now)
    for hook in SUBMISSION_HOOKS:
        hook(session, number)


# Called after an application is stored (e.g. the workflow engine starts its first step).
SUBMISSION_HOOKS: list[Any] = []


def set_status(session: Session, number: str, status: str, at: datetime | None = None,
               **detail: Any) -> None:
    app = session.get(Application, number)
    if app is None:
        raise UrError(f"no application {number}")
    at = at or datetime.now(UTC)
    app.status, app.status_at = status, at
    status_feed.push(session, app.kiosk_id, "status",
                     {"tracking": number, "status": status, "at": at.isoformat(), **detail})


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Application)) or 0)
