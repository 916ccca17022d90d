"""Applications as central holds them: stored once per tracking number, with
their status reported back to the kiosk that took them.

`handle_submission` is the ingest handler for the `applications` stream;
`set_status` is what workflows and clerk actions call, and it feeds the
kiosk's status catch-up (central.status_feed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, String, Text, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import bulk, status_feed
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
    # False until SUBMISSION_HOOKS (workflow start) ran; see route_pending.
    routed: Mapped[bool] = mapped_column(Boolean, default=True, index=True)


def _validate(payload: dict[str, Any]) -> dict[str, Any]:
    """The application row a payload describes (pure; UrError if malformed)."""
    try:
        number = tracking.parse(str(payload["tracking"]))
        fields = payload["fields"]
        row = {
            "tracking": number,
            "service_id": str(payload["service_id"]),
            "catalogue_version": int(payload["catalogue_version"]),
            "fee_total": int(payload["fee_total"]),
            "submitted_at": datetime.fromisoformat(str(payload["submitted_at"])),
        }
    except (KeyError, TypeError, ValueError) as e:
        raise UrError(f"application payload invalid: {type(e).__name__} {e}") from None
    if not isinstance(fields, dict):
        raise UrError("application payload invalid: fields must be a map")
    row["fields"] = json.dumps(fields, ensure_ascii=False)
    return row


def handle_submission(session: Session, kiosk_id: str, message_id: str, payload: dict[str, Any]) -> None:
    """Store one submitted application (raises UrError on a bad payload: the
    message is then rejected for good and the kiosk told why)."""
    results = handle_many(session, kiosk_id, [(message_id, payload)])
    if results[0][0] == "rejected":
        raise UrError(results[0][1])


def handle_many(session: Session, kiosk_id: str, items: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    """Store many submissions with a few bulk statements (ingest's fast path).
    Returns ("applied", "") or ("rejected", reason) per item, in order."""
    now = datetime.now(UTC)
    results: list[tuple[str, str]] = []
    rows: list[dict[str, Any]] = []
    for message_id, payload in items:
        try:
            row = _validate(payload)
        except UrError as e:
            results.append(("rejected", str(e)))
            continue
        rows.append({**row, "kiosk_id": kiosk_id, "message_id": message_id, "received_at": now,
                     "status": "received", "status_at": now, "routed": not DEFER_ROUTING.get()})
        results.append(("applied", ""))
    numbers = [r["tracking"] for r in rows]
    taken = set(session.scalars(select(Application.tracking).where(
        bulk.among(session, Application.tracking, numbers)))) if numbers else set()
    fresh: list[dict[str, Any]] = []
    i = 0
    for n, (res, _reason) in enumerate(results):
        if res != "applied":
            continue
        row = rows[i]
        i += 1
        if row["tracking"] in taken:
            # Same tracking number from a different message: a kiosk bug, never overwrite.
            results[n] = ("rejected", f"tracking number {row['tracking']} already used by another message")
            continue
        taken.add(row["tracking"])
        fresh.append(row)
    if fresh:
        bulk.insert_rows(session, Application.__table__, fresh)
        status_feed.push_many(session, [
            (kiosk_id, "status", {"tracking": r["tracking"], "status": "received", "at": now.isoformat()})
            for r in fresh])
        if not DEFER_ROUTING.get():
            numbers = [r["tracking"] for r in fresh]
            for hook in SUBMISSION_HOOKS:
                hook(session, numbers)
    return results


# Called with the tracking numbers of newly stored applications, in order (e.g. the
# workflow engine starts their first steps); a list, so a hook can work set-based.
SUBMISSION_HOOKS: list[Callable[[Session, list[str]], None]] = []
# The ingest worker sets this: storing and acking stay fast, and the hooks (workflow
# start with its audit chain) run right after the commit in route_pending.
DEFER_ROUTING: ContextVar[bool] = ContextVar("defer_routing", default=False)


def route_pending(session: Session, limit: int = 100) -> int:
    """Run SUBMISSION_HOOKS for stored applications that have not been routed yet
    (deferred by the worker, or left by a worker that died after its commit)."""
    numbers = list(session.scalars(select(Application.tracking).where(Application.routed.is_(False))
                                   .order_by(Application.received_at).limit(limit).with_for_update(skip_locked=True)))
    if numbers:
        for hook in SUBMISSION_HOOKS:
            hook(session, numbers)
        session.execute(update(Application).where(Application.tracking.in_(numbers)).values(routed=True))
    return len(numbers)


# (tracking number, status, at (None: now), detail shown to the kiosk)
StatusChange = tuple[str, str, datetime | None, dict[str, Any]]


def set_status_many(session: Session, changes: list[StatusChange]) -> None:
    """Apply status changes and feed them to their kiosks, in order, with one
    SELECT, one UPDATE by primary key and one bulk INSERT (workflow start sets
    a status on every application it routes). UrError if a number is unknown."""
    if not changes:
        return
    now = datetime.now(UTC)
    numbers = list(dict.fromkeys(c[0] for c in changes))
    kiosks: dict[str, str] = {t: k for t, k in session.execute(
        select(Application.tracking, Application.kiosk_id).where(Application.tracking.in_(numbers)))}
    for number in numbers:
        if number not in kiosks:
            raise UrError(f"no application {number}")
    rows: dict[str, dict[str, Any]] = {}
    events: list[tuple[str, str, dict[str, Any]]] = []
    for number, status, at, detail in changes:
        at = at or now
        rows[number] = {"tracking": number, "status": status, "status_at": at}  # the last change wins
        events.append((kiosks[number], "status",
                       {"tracking": number, "status": status, "at": at.isoformat(), **detail}))
    session.execute(update(Application), list(rows.values()))  # by primary key; loaded rows stay in step
    status_feed.push_many(session, events)


def set_status(session: Session, number: str, status: str, at: datetime | None = None,
               **detail: Any) -> None:
    set_status_many(session, [(number, status, at, detail)])


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Application)) or 0)
