"""Per-kiosk feed of events central owes a kiosk (application status changes,
answers to complaints ...), read by cursor.

The kiosk asks "what since cursor N?" whenever it connects or is poked, so a
broker queue that overflows or is lost loses nothing: the feed is the truth.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import bulk
from central.db import Base


class KioskEvent(Base):
    __tablename__ = "kiosk_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kiosk_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def push(session: Session, kiosk_id: str, kind: str, payload: dict[str, Any]) -> KioskEvent:
    ev = KioskEvent(kiosk_id=kiosk_id, kind=kind,
                    payload=json.dumps(payload, ensure_ascii=False, default=str),
                    created_at=datetime.now(UTC))
    session.add(ev)
    session.flush()
    return ev


def push_many(session: Session, events: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Bulk form of `push` for ingest's fast path and workflow start: (kiosk_id, kind,
    payload) each, in order; bulk rows, as new ones need no ORM bookkeeping."""
    now = datetime.now(UTC)
    bulk.insert_rows(session, KioskEvent.__table__, [
        {"kiosk_id": k, "kind": kind, "payload": json.dumps(p, ensure_ascii=False, default=str), "created_at": now}
        for k, kind, p in events])


def since(session: Session, kiosk_id: str, cursor: int, limit: int = 500) -> list[dict[str, Any]]:
    # Plain columns, not ORM objects: a catch-up page is hundreds of rows.
    rows = session.execute(
        select(KioskEvent.id, KioskEvent.kind, KioskEvent.payload)
        .where(KioskEvent.kiosk_id == kiosk_id, KioskEvent.id > cursor)
        .order_by(KioskEvent.id).limit(limit)
    )
    return [{"id": i, "kind": k, "payload": json.loads(p)} for i, k, p in rows]
