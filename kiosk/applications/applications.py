"""Citizen applications at the kiosk: validate against the cached catalogue,
store, queue for central, hand out a tracking number at once — network or not.

The application and its outbox row are one transaction, so an application the
citizen was given a number for can never be missing from the outbox. Form
values are personal data: encrypted at rest with the kiosk's data key.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Integer, LargeBinary, String, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from contract import catalogue as cat
from contract import tracking
from contract.errors import UrError
from kiosk import datasets, storage_guard
from kiosk.identity import Identity
from kiosk.store import Base, KioskStore
from kiosk.sync import outbox

STREAM = "applications"


class KioskApplication(Base):
    __tablename__ = "applications"
    tracking: Mapped[str] = mapped_column(String(16), primary_key=True)
    serial: Mapped[int] = mapped_column(Integer, unique=True)
    service_id: Mapped[str] = mapped_column(String(64))
    catalogue_version: Mapped[int] = mapped_column(Integer)
    fee_total: Mapped[int] = mapped_column(Integer)
    fields_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(32), default="queued")
    status_detail: Mapped[str] = mapped_column(String(512), default="")
    status_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StatusHistory(Base):
    """What central reported, newest last; shown to the citizen when tracking."""

    __tablename__ = "application_status_history"
    event_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # central's cursor
    tracking: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(2048), default="")  # JSON: step, agency, due ...
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def load_catalogue(session: Session) -> cat.Catalogue:
    ds = datasets.current(session, "catalogue")
    if ds is None:
        raise UrError("this kiosk has no service catalogue yet (enroll it or let it sync once)")
    return cat.parse(ds.body)


@dataclass(frozen=True)
class Submitted:
    tracking: str
    service_id: str
    fee_total: int
    catalogue_version: int


def submit(store: KioskStore, ident: Identity, service_id: str, fields: dict[str, str],
           now: float | None = None) -> Submitted:
    now = time.time() if now is None else now
    storage_guard.check_room_for_new_application(store)
    with store.tx() as s:
        catalogue = load_catalogue(s)
        service = catalogue.service(service_id)
        values = cat.validate_form(service, fields)
        serial = (s.scalar(select(func.max(KioskApplication.serial))) or 0) + 1
        number = tracking.make(ident.kiosk_code, serial)
        at = datetime.fromtimestamp(now, UTC)
        s.add(KioskApplication(
            tracking=number, serial=serial, service_id=service.id,
            catalogue_version=catalogue.version, fee_total=service.fee_total,
            fields_enc=ident.data_key.seal(json.dumps(values, ensure_ascii=False).encode(), "applications", number),
            created_at=at, status="queued", status_detail="", status_at=at,
        ))
        outbox.enqueue(s, ident, STREAM, {
            "tracking": number, "service_id": service.id,
            "catalogue_version": catalogue.version, "fee_total": service.fee_total,
            "fields": values, "submitted_at": at.isoformat(),
        }, now=now)
    return Submitted(number, service.id, service.fee_total, catalogue.version)


def apply_status_events(session: Session, events: list[tuple[int, dict[str, Any]]]) -> list[str]:
    """Record a page of status changes from central in a few statements
    (idempotent by central's event id); returns what was wrong with events that
    were skipped. Order is central's event ids, never clocks: each application
    ends at the change with the highest event id it has seen, whatever the
    times in the events or the kiosk's own clock say (a kiosk hours ahead
    used to keep "queued" for ever). Times are kept for display only. Applying
    the events one by one gives the same result."""
    problems: list[str] = []
    ids = [eid for eid, _ in events]
    known = set(session.scalars(select(StatusHistory.event_id).where(StatusHistory.event_id.in_(ids)))) if ids else set()
    rows: list[dict[str, Any]] = []
    newest: dict[str, tuple[int, datetime, str, str]] = {}
    for eid, payload in sorted(events, key=lambda e: e[0]):
        if eid in known:
            continue
        number = str(payload.get("tracking", ""))
        status = str(payload.get("status", ""))
        if not number or not status:
            problems.append(f"status event {eid} lacks tracking or status")
            continue
        known.add(eid)
        at = _parse_time(payload.get("at"))
        detail = json.dumps({k: v for k, v in payload.items() if k not in ("tracking", "status", "at")},
                            ensure_ascii=False)
        rows.append({"event_id": eid, "tracking": number, "status": status, "detail": detail, "at": at})
        newest[number] = (eid, at, status, detail)  # ascending ids: the last one wins
    if newest:
        # An event older than one already recorded for the same application (a
        # late page) goes to the history only.
        seen = dict(session.execute(
            select(StatusHistory.tracking, func.max(StatusHistory.event_id))
            .where(StatusHistory.tracking.in_(list(newest))).group_by(StatusHistory.tracking)).all())
    if rows:
        session.execute(insert(StatusHistory), rows)
    if newest:
        for app in session.scalars(select(KioskApplication).where(KioskApplication.tracking.in_(list(newest)))):
            eid, at, status, detail = newest[app.tracking]
            if eid > (seen.get(app.tracking) or 0):
                app.status, app.status_at, app.status_detail = status, at, detail[:512]
    return problems


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _parse_time(v: Any) -> datetime:
    try:
        return _aware(datetime.fromisoformat(str(v)))
    except ValueError:
        return datetime.now(UTC)


def status(session: Session, text: str) -> dict[str, Any]:
    number = tracking.parse(text)
    app = session.get(KioskApplication, number)
    history = list(session.scalars(
        select(StatusHistory).where(StatusHistory.tracking == number).order_by(StatusHistory.event_id)
    ))
    if app is None and not history:
        raise UrError(f"no application {number} is known at this kiosk")
    current = history[-1].status if history else (app.status if app else "unknown")
    return {
        "tracking": number,
        "service_id": app.service_id if app else None,
        "status": current,
        "history": [
            {"status": h.status, "at": _aware(h.at).isoformat(timespec="seconds"), **json.loads(h.detail or "{}")}
            for h in history
        ],
    }
