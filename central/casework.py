"""Casework: the imperative shell around the workflow engine. It starts a case
when an application arrives (registered in applications.SUBMISSION_HOOKS),
applies clerk actions, escalates breached SLAs, lists an agency's inbox, and
for every change writes the audit trail and pushes the status (with step,
agency, since and SLA due) that reaches the kiosk through sync.

Cases for complaints use the same table and engine (kind "complaint").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Boolean, DateTime, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import applications, audit, bulk, workflows
from central import catalogue as central_catalogue
from central.db import Base
from contract import catalogue as cat
from contract import tracking
from contract.errors import UrError

APPLICATION, COMPLAINT = "application", "complaint"


class CaseRow(Base):
    __tablename__ = "cases"
    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str] = mapped_column(String(16))  # application | complaint
    service_id: Mapped[str] = mapped_column(String(64), default="")
    workflow: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), index=True)
    agency: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(64))
    sla_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# subject -> push(session, number, status, at, detail): how a change reaches the kiosk.
Notifier = Callable[[Session, str, str, datetime, dict[str, Any]], None]
NOTIFIERS: dict[str, Notifier] = {
    APPLICATION: lambda s, n, st, at, d: applications.set_status(s, n, st, at=at, **d),
}


@lru_cache(maxsize=1)
def definitions() -> dict[str, workflows.Definition]:
    return workflows.load_definitions()


def _aware(d: datetime | None) -> datetime | None:
    return d.replace(tzinfo=UTC) if d is not None and d.tzinfo is None else d


def detail(case: workflows.Case, ev: workflows.Event | None = None) -> dict[str, Any]:
    """What the citizen sees for each status: step, agency, since when, SLA due."""
    d: dict[str, Any] = {"step": case.step.id, "agency": case.agency, "role": case.role,
                         "since": case.since.isoformat(timespec="seconds"),
                         "sla_due": case.sla_due.isoformat(timespec="seconds") if case.sla_due else None}
    if case.escalated:
        d["escalated"] = True
    if ev is not None:
        d["action"] = ev.action
        if ev.note:
            d["note"] = ev.note
    return d


def _columns(case: workflows.Case, now: datetime) -> dict[str, Any]:
    """The CaseRow columns a case state sets (a saved row and a bulk-inserted one agree)."""
    return {"status": case.status, "agency": case.agency, "role": case.role, "sla_due": case.sla_due,
            "escalated": case.escalated, "state": case.to_json(), "updated_at": now}


def _save(session: Session, row: CaseRow, case: workflows.Case, now: datetime) -> None:
    for k, v in _columns(case, now).items():
        setattr(row, k, v)


def _entry(number: str, ev: workflows.Event, origin: str) -> audit.Entry:
    return audit.Entry(number, ev.actor, origin, ev.action,
                       {"from": ev.from_status, "to": ev.to_status, "step": ev.step, "agency": ev.agency,
                        "note": ev.note, **ev.extra}, at=ev.at)


def _shown(case: workflows.Case, ev: workflows.Event) -> str:
    # A new case shows as "received" (at its first step); later changes as the engine's status.
    return "received" if ev.action == "start" else case.status


def _record(session: Session, row: CaseRow, case: workflows.Case, ev: workflows.Event, origin: str) -> None:
    audit.append_many(session, [_entry(row.number, ev, origin)])
    NOTIFIERS[row.subject](session, row.number, _shown(case, ev), ev.at, detail(case, ev))


def open_case(session: Session, number: str, subject: str, defn: workflows.Definition,
              institution: str, agencies: list[str], origin: str, service_id: str = "",
              now: datetime | None = None) -> workflows.Case:
    now = now or datetime.now(UTC)
    case, ev = workflows.start(number, defn, workflows.resolve(defn, institution, agencies), now)
    row = CaseRow(number=number, subject=subject, service_id=service_id, workflow=defn.name)
    _save(session, row, case, now)
    session.add(row)
    session.flush()
    _record(session, row, case, ev, origin)
    return case


@dataclass(frozen=True)
class Routing:
    """What starting one application writes: its audit lines, the status change its
    kiosk sees (applications.StatusChange) and the case row (None: refused)."""
    entries: tuple[audit.Entry, ...]
    status: applications.StatusChange
    case: dict[str, Any] | None


def route(number: str, kiosk_id: str, service_id: str, catalogue_version: int, fee_total: int,
          catalogue: cat.Catalogue | UrError, defs: dict[str, workflows.Definition], now: datetime) -> Routing:
    """Route one stored application into its workflow, or refuse it with the reason
    (unknown catalogue or service, informational service, a fee that is not the
    catalogue's); pure, so a slice is decided without the database."""
    def refused(reason: str) -> Routing:
        return Routing((audit.Entry(number, "system", kiosk_id, "refuse", {"reason": reason}, now),),
                       (number, workflows.REJECTED, now, {"note": reason, "action": "refuse"}), None)

    if isinstance(catalogue, UrError):
        return refused(str(catalogue))
    try:
        svc = catalogue.service(service_id)
        fee = cat.fee_for(catalogue, svc.id)
        if fee.total != fee_total:
            raise UrError(f"fee {fee_total} IQD is not the fee of catalogue v{catalogue.version} ({fee.total} IQD)")
        defn = workflows.pick(defs, svc.kind, svc.workflow)
    except UrError as e:
        return refused(str(e))
    case, ev = workflows.start(number, defn, workflows.resolve(defn, svc.institution, svc.agencies), now)
    submit = audit.Entry(number, "citizen", kiosk_id, "submit",
                         {"service": svc.id, "catalogue_version": catalogue_version, "fee_total": fee_total}, now)
    row = {"number": number, "subject": APPLICATION, "service_id": svc.id, "workflow": defn.name,
           **_columns(case, now)}
    return Routing((submit, _entry(number, ev, kiosk_id)), (number, _shown(case, ev), ev.at, detail(case, ev)), row)


def start_applications(session: Session, numbers: list[str], now: datetime | None = None) -> None:
    """SUBMISSION_HOOK: start the workflows of stored applications (those without a
    case yet) with a constant number of statements: a slice of thousands is a few
    SELECTs and bulk writes, not a dozen ORM round trips per application."""
    now = now or datetime.now(UTC)
    wanted = list(dict.fromkeys(numbers))
    if not wanted:
        return
    A = applications.Application
    apps = {r.tracking: r for r in session.execute(
        select(A.tracking, A.kiosk_id, A.service_id, A.catalogue_version, A.fee_total)
        .where(A.tracking.in_(wanted)))}
    has_case = set(session.scalars(select(CaseRow.number).where(CaseRow.number.in_(wanted))))
    todo = [apps[n] for n in wanted if n in apps and n not in has_case]
    if not todo:
        return
    catalogues = central_catalogue.catalogues_at(session, {a.catalogue_version for a in todo})
    defs = definitions()
    plans = [route(a.tracking, a.kiosk_id, a.service_id, a.catalogue_version, a.fee_total,
                   catalogues[a.catalogue_version], defs, now) for a in todo]
    rows = [p.case for p in plans if p.case is not None]
    if rows:
        bulk.insert_rows(session, CaseRow.__table__, rows)  # no ORM per-row bookkeeping
    audit.append_many(session, [e for p in plans for e in p.entries])
    # Applications only: their notifier is applications.set_status, here in bulk.
    applications.set_status_many(session, [p.status for p in plans])


def start_application(session: Session, number: str, now: datetime | None = None) -> None:
    """One application (see start_applications)."""
    start_applications(session, [number], now)


def load_case(session: Session, number: str) -> tuple[CaseRow, workflows.Case]:
    number = tracking.parse(number)
    row = session.get(CaseRow, number, with_for_update=True)
    if row is None:
        raise UrError(f"no case {number}")
    return row, workflows.Case.from_json(row.state)


def _agencies(session: Session) -> set[str]:
    c = central_catalogue.current(session)
    known = {i.id for i in c.institutions} if c else set()
    return known | {"helpline-5599"}


def act(session: Session, number: str, action: str, actor: str, origin: str, note: str = "",
        to: str | None = None, now: datetime | None = None) -> workflows.Case:
    """A clerk (or the citizen: resubmit) acts on a case; audited and pushed to the kiosk."""
    now = now or datetime.now(UTC)
    row, case = load_case(session, number)
    case, _ = workflows.tick(case, now)
    new, ev = workflows.act(case, action, now, actor, note, to,
                            agencies=_agencies(session) if action == "forward" else None)
    _save(session, row, new, now)
    _record(session, row, new, ev, origin)
    return new


def escalate_due(session: Session, now: datetime | None = None) -> list[str]:
    """Escalate every open case whose SLA is breached; returns their numbers."""
    now = now or datetime.now(UTC)
    out = []
    rows = session.scalars(select(CaseRow).where(CaseRow.status == workflows.IN_REVIEW,
                                                 CaseRow.escalated.is_(False), CaseRow.sla_due < now))
    for row in list(rows):
        case = workflows.Case.from_json(row.state)
        new, ev = workflows.tick(case, now)
        if ev is not None:
            _save(session, row, new, now)
            _record(session, row, new, ev, "central")
            out.append(row.number)
    return out


def inbox(session: Session, agency: str, now: datetime | None = None, limit: int | None = None,
          offset: int = 0) -> list[dict[str, Any]]:
    """Open cases an agency owes a move on, overdue first, then by SLA due (cases
    without an SLA last). `limit`/`offset` page in SQL, in that same order, so a
    worklist of 100,000 open cases reads only the page it shows."""
    now = now or datetime.now(UTC)
    q = (select(CaseRow).where(CaseRow.agency == agency, CaseRow.status == workflows.IN_REVIEW)
         .order_by(CaseRow.sla_due.asc().nulls_last(), CaseRow.number))
    if limit is not None:
        q = q.limit(limit).offset(offset)
    rows = session.scalars(q)
    out = []
    for r in rows:
        case = workflows.Case.from_json(r.state)
        due = _aware(r.sla_due)
        out.append({"number": r.number, "subject": r.subject, "service_id": r.service_id,
                    "step": case.step.id, "role": r.role, "since": case.since.isoformat(timespec="seconds"),
                    "sla_due": due.isoformat(timespec="seconds") if due else None,
                    "overdue": bool(due and due < now), "escalated": r.escalated,
                    "actions": list(workflows.allowed(case))})
    out.sort(key=lambda x: (not x["overdue"], x["sla_due"] is None, x["sla_due"] or ""))
    return out


def inbox_count(session: Session, agency: str) -> int:
    """How many open cases `inbox` would list in all."""
    n: int = session.scalar(select(func.count()).select_from(CaseRow).where(
        CaseRow.agency == agency, CaseRow.status == workflows.IN_REVIEW)) or 0
    return n


def show(session: Session, number: str) -> dict[str, Any]:
    row, case = load_case(session, number)
    return {"number": row.number, "subject": row.subject, "service_id": row.service_id,
            "workflow": row.workflow, "status": case.status, "owner": case.owner(),
            "visits": case.visits, "actions": list(workflows.allowed(case)), **detail(case),
            "steps": [{"id": s.id, "agency": s.agency, "role": s.role, "sla_hours": s.sla_hours}
                      for s in case.steps],
            "audit": audit.trail(session, row.number)}


def handle_correction(session: Session, kiosk_id: str, message_id: str, payload: dict[str, Any]) -> None:
    """Ingest handler for the `corrections` stream: the citizen's corrected form
    replaces the stored one and the case goes back to the agency (resubmit)."""
    try:
        number = tracking.parse(str(payload["tracking"]))
        fields = payload["fields"]
        datetime.fromisoformat(str(payload["at"]))
    except (KeyError, TypeError, ValueError) as e:
        raise UrError(f"correction payload invalid: {type(e).__name__} {e}") from None
    app = session.get(applications.Application, number)
    if app is None or app.kiosk_id != kiosk_id:
        raise UrError(f"correction for {number}: no such application from this kiosk")
    if not isinstance(fields, dict):
        raise UrError("correction payload invalid: fields must be a map")
    row, case = load_case(session, number)
    if case.status != workflows.RETURNED:
        raise UrError(f"correction for {number}: the application is {case.status}, not returned")
    app.fields = json.dumps(fields, ensure_ascii=False)
    act(session, number, "resubmit", "citizen", kiosk_id)  # central's clock: kiosk clocks may be off


if start_applications not in applications.SUBMISSION_HOOKS:
    applications.SUBMISSION_HOOKS.append(start_applications)
