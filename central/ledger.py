"""The central ledger: one record per card collection, per office, station and terminal,
plus each station's Z-report, and the daily reconciliation between them.

Records arrive on the kiosk "payments" stream (ordered, effectively-once through the
inbox). A collection id is the dedup key: the same record again changes nothing, a
later event (reversed, refunded) updates it, and a record that contradicts the stored
one (other amount or fee) is rejected for good and shows in the report, never merged.
Reconciliation compares three views of a station's day - the terminal's end-of-day
totals, the station's journal (both from its Z-report) and what this ledger holds - and
lists matched, missing and mismatched items. Nothing is ever corrected silently.

A payment a station could not settle from its terminal arrives as "unresolved" (with
its amount) and stays listed as `unresolved_at_station` - also when only the Z-report
names it - until a "paid" or "not_charged" record with the station's resolution (who
decided, on what evidence) replaces it; resolutions are kept in `ledger_resolutions`.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import fines, status_feed
from central.db import Base
from contract.errors import UrError

EVENTS = ("paid", "reversed", "refunded", "unresolved", "not_charged")
UNSETTLED_STATES = ("CREATED", "PENDING", "UNKNOWN")  # Z-report states that are unresolved
# A refund is a separate outflow: the payment stays in the terminal's batch totals.
COUNTS_AS_TAKEN = ("paid", "refunded")


class Collection(Base):
    __tablename__ = "ledger_collections"
    collection_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    station: Mapped[str] = mapped_column(String(64), index=True)
    office: Mapped[str] = mapped_column(String(64), default="")
    terminal_id: Mapped[str] = mapped_column(String(16), default="")
    business_date: Mapped[str] = mapped_column(String(10), index=True)
    fee_ref: Mapped[str] = mapped_column(String(96))
    kind: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int] = mapped_column(Integer)
    statutory: Mapped[int] = mapped_column(Integer)
    service: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12))
    trace: Mapped[int | None] = mapped_column(Integer, nullable=True)
    receipt_no: Mapped[int | None] = mapped_column(Integer, nullable=True)
    operator: Mapped[str] = mapped_column(String(64), default="")
    problem: Mapped[str] = mapped_column(String(256), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Resolution(Base):
    """How a station settled a payment it could not settle from the terminal at once."""

    __tablename__ = "ledger_resolutions"
    collection_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    station: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # paid | not_charged
    decided_by: Mapped[str] = mapped_column(String(64))  # supervisor id, or "terminal" / "batch totals"
    evidence: Mapped[str] = mapped_column(String(300), default="")
    decided_at: Mapped[str] = mapped_column(String(32), default="")


class ZReport(Base):
    __tablename__ = "ledger_z_reports"
    station: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_date: Mapped[str] = mapped_column(String(10), primary_key=True)
    office: Mapped[str] = mapped_column(String(64), default="")
    terminal_id: Mapped[str] = mapped_column(String(16), default="")
    body: Mapped[str] = mapped_column(Text)  # the whole report as the station sent it
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _int(p: dict[str, Any], key: str, lo: int = 0) -> int:
    v = p.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise UrError(f"payments record: {key} must be a whole number >= {lo}, got {v!r}")
    return v


def _str(p: dict[str, Any], key: str, n: int, required: bool = True) -> str:
    v = p.get(key)
    if v is None and not required:
        return ""
    if not isinstance(v, str) or (required and not v) or len(v) > n:
        raise UrError(f"payments record: {key} must be text of 1..{n} characters, got {v!r}")
    return v


def handle(session: Session, kiosk_id: str, _mid: str, payload: dict[str, Any]) -> None:
    """Stream handler for "payments": a collection event or a Z-report."""
    if payload.get("event") == "z_report":
        record_z_report(session, kiosk_id, payload)
        return
    record_collection(session, kiosk_id, payload)


def record_collection(session: Session, kiosk_id: str, p: dict[str, Any]) -> Collection:
    event = p.get("event")
    if event not in EVENTS:
        raise UrError(f"payments record: event must be one of {', '.join(EVENTS)}, got {event!r}")
    cid = _str(p, "collection_id", 36)
    amount, statutory, service = _int(p, "amount", 1), _int(p, "statutory"), _int(p, "service")
    if statutory + service != amount:
        raise UrError(f"payments record {cid}: statutory {statutory} + service {service} != amount {amount}")
    fee_ref = _str(p, "fee_ref", 96)
    date = _str(p, "business_date", 10)
    now = datetime.now(UTC)
    c = session.get(Collection, cid)
    if c is not None:
        if c.station != kiosk_id or c.amount != amount or c.fee_ref != fee_ref:
            raise UrError(f"collection {cid} already recorded from {c.station} for {c.fee_ref} {c.amount} IQD; "
                          f"this record says {kiosk_id} {fee_ref} {amount} IQD")
        if c.state == event or c.state in ("reversed", "refunded", "not_charged") or event == "unresolved":
            return c  # the same news again, or news older than what we hold
        c.state, c.updated_at = event, now
        if c.terminal_id == "" and isinstance(p.get("terminal_id"), str):
            c.terminal_id = p["terminal_id"][:16]
        if isinstance(p.get("trace"), int):
            c.trace = p["trace"]
        if isinstance(p.get("receipt_no"), int):
            c.receipt_no = p["receipt_no"]
    else:
        c = Collection(collection_id=cid, station=kiosk_id, office=_str(p, "office", 64, False),
                       terminal_id=_str(p, "terminal_id", 16, False), business_date=date, fee_ref=fee_ref,
                       kind=_str(p, "kind", 8), amount=amount, statutory=statutory, service=service, state=event,
                       trace=p.get("trace") if isinstance(p.get("trace"), int) else None,
                       receipt_no=p.get("receipt_no") if isinstance(p.get("receipt_no"), int) else None,
                       operator=_str(p, "operator", 64, False), problem="", updated_at=now)
        session.add(c)
    res = p.get("resolution")
    if isinstance(res, dict) and event in ("paid", "not_charged"):
        r = session.get(Resolution, cid) or Resolution(collection_id=cid, station=kiosk_id)
        r.outcome = event
        r.decided_by = str(res.get("by", ""))[:64]
        r.evidence = str(res.get("evidence", ""))[:300]
        r.decided_at = str(res.get("at", ""))[:32]
        session.add(r)
    if c.kind == "fine" and event in ("unresolved", "not_charged") and c.state == event:
        fines.mark_unpaid(session, fee_ref.partition(":")[2], cid)
    elif c.kind == "fine":
        fine_id = fee_ref.partition(":")[2]
        if event == "paid":
            c.problem = (fines.mark_paid(session, fine_id, cid, amount) or "")[:256]
        else:
            fines.mark_unpaid(session, fine_id, cid)
    session.flush()
    return c


def record_z_report(session: Session, kiosk_id: str, p: dict[str, Any]) -> ZReport:
    date = _str(p, "business_date", 10)
    for key in ("terminal", "journal"):
        part = p.get(key)
        if not isinstance(part, dict) or not all(isinstance(part.get(k), int) for k in ("count", "amount")):
            raise UrError(f"z-report {kiosk_id} {date}: {key} needs whole-number count and amount")
    items = p.get("items")
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("id"), str)
                                               and isinstance(i.get("amount"), int) for i in items):
        raise UrError(f"z-report {kiosk_id} {date}: items must be a list of {{id, amount, state}}")
    unresolved = p.get("unresolved", [])
    if not isinstance(unresolved, list) or not all(
            isinstance(u, dict) and isinstance(u.get("id"), str) and isinstance(u.get("amount", 0), int)
            for u in unresolved):
        raise UrError(f"z-report {kiosk_id} {date}: unresolved must be a list of {{id, amount, state}}")
    z = session.get(ZReport, (kiosk_id, date))
    if z is None:
        z = ZReport(station=kiosk_id, business_date=date, body="", received_at=datetime.now(UTC))
        session.add(z)
    z.office = str(p.get("office", ""))[:64]
    z.terminal_id = str(p.get("terminal_id", "") or "")[:16]
    z.body = json.dumps(p, sort_keys=True)
    z.received_at = datetime.now(UTC)
    session.flush()
    # Tell the station what central's ledger holds for its day (ordered stream: every
    # collection sent before this Z-report has been applied by now).
    day = next(d for d in reconcile(session, date) if d.station == kiosk_id)
    status_feed.push(session, kiosk_id, "ledger_check", {
        "business_date": date, "status": day.status, "central": [day.central_count, day.central_amount],
        "terminal": [day.terminal_count, day.terminal_amount], "journal": [day.journal_count, day.journal_amount],
        "problems": [i for i in day.items if i["status"] != "matched"][:50],
    })
    return z


# -- reconciliation ------------------------------------------------------------------------


@dataclass
class StationDay:
    station: str
    office: str
    terminal_id: str
    date: str
    terminal_count: int | None
    terminal_amount: int | None
    journal_count: int | None
    journal_amount: int | None
    central_count: int
    central_amount: int
    items: list[dict[str, Any]] = field(default_factory=list)
    resolutions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.terminal_count is None:
            return "NO_Z_REPORT"
        views = {(self.terminal_count, self.terminal_amount), (self.journal_count, self.journal_amount),
                 (self.central_count, self.central_amount)}
        bad = any(i["status"] != "matched" for i in self.items)
        return "MATCHED" if len(views) == 1 and not bad else "MISMATCH"


def reconcile(session: Session, date: str) -> list[StationDay]:
    """Pure comparison over the rows of one business day (per station and terminal)."""
    cols = list(session.scalars(select(Collection).where(Collection.business_date == date)))
    zs = {z.station: z for z in session.scalars(select(ZReport).where(ZReport.business_date == date))}
    stations = sorted({c.station for c in cols} | set(zs))
    out = []
    for st in stations:
        mine = {c.collection_id: c for c in cols if c.station == st}
        taken = [c for c in mine.values() if c.state in COUNTS_AS_TAKEN]
        z = zs.get(st)
        body = json.loads(z.body) if z else {}
        day = StationDay(
            st, (z.office if z else "") or next((c.office for c in mine.values()), ""),
            (z.terminal_id if z else "") or next((c.terminal_id for c in mine.values()), ""), date,
            body.get("terminal", {}).get("count"), body.get("terminal", {}).get("amount"),
            body.get("journal", {}).get("count"), body.get("journal", {}).get("amount"),
            len(taken), sum(c.amount for c in taken),
        )
        reported = {i["id"]: i for i in body.get("items", [])}
        listed = {u["id"]: u for u in body.get("unresolved", []) or []
                  if isinstance(u, dict) and isinstance(u.get("id"), str) and u.get("state") in UNSETTLED_STATES}
        for cid in sorted(set(listed) | {c.collection_id for c in mine.values() if c.state == "unresolved"}):
            c = mine.get(cid)
            if c is not None and c.state != "unresolved":
                continue  # settled since: the station's resolution record is here
            u = listed.get(cid, {})
            amount = c.amount if c is not None else u.get("amount", 0)
            fee = c.fee_ref if c is not None else u.get("fee_ref", "")
            day.items.append({"id": cid, "status": "unresolved_at_station", "amount": amount if isinstance(
                amount, int) else 0, "detail": f"{fee}: the station could not settle it from its terminal"
                + (f" ({u.get('at', '')})" if u.get("at") else "")})
        for cid, item in sorted(reported.items()):
            c = mine.get(cid)
            state = str(item.get("state", "paid"))
            if c is None:
                day.items.append({"id": cid, "status": "missing_at_central", "amount": item["amount"],
                                  "detail": f"station journal has it {state}, central has no record"})
            elif c.amount != item["amount"] or c.state != state:
                day.items.append({"id": cid, "status": "mismatched", "amount": item["amount"],
                                  "detail": f"station {state} {item['amount']} IQD, central {c.state} {c.amount} IQD"})
            else:
                day.items.append({"id": cid, "status": "matched", "amount": c.amount, "detail": ""})
        if z is not None:
            for cid, c in sorted(mine.items()):
                if cid not in reported:
                    day.items.append({"id": cid, "status": "missing_at_station", "amount": c.amount,
                                      "detail": f"central has it {c.state}, the station's Z-report does not"})
        for c in mine.values():
            if c.state == "unresolved" or c.collection_id in listed:
                continue
            if c.problem:
                day.items.append({"id": c.collection_id, "status": "mismatched", "amount": c.amount,
                                  "detail": c.problem})
        day.resolutions = [{"id": r.collection_id, "outcome": r.outcome, "by": r.decided_by,
                            "evidence": r.evidence, "at": r.decided_at}
                           for r in session.scalars(select(Resolution).where(
                               Resolution.collection_id.in_(list(mine)))).all()] if mine else []
        out.append(day)
    return out


def report_csv(days: list[StationDay]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["date", "office", "station", "terminal", "collection_id", "status", "amount", "detail"])
    for d in days:
        w.writerow([d.date, d.office, d.station, d.terminal_id, "", d.status,
                    d.central_amount, f"terminal {d.terminal_count}/{d.terminal_amount} journal "
                    f"{d.journal_count}/{d.journal_amount} central {d.central_count}/{d.central_amount}"])
        for i in d.items:
            w.writerow([d.date, d.office, d.station, d.terminal_id, i["id"], i["status"], i["amount"], i["detail"]])
        for r in d.resolutions:
            w.writerow([d.date, d.office, d.station, d.terminal_id, r["id"], f"resolved_{r['outcome']}", "",
                        f"by {r['by']} at {r['at']}: {r['evidence']}"])
    return buf.getvalue()
