"""End of day at a station: terminal totals vs the local journal vs what central has
acknowledged, a Z-report that prints and syncs, and the rule that a day with
unresolved payments does not close without a supervisor.

The terminal's batch runs from its previous end-of-day to now, so the journal side is
"payments approved (and not reversed) since the last batch boundary": our own
close, or an automatic end-of-day the terminal announced (04 FF 0F) - those payments
are listed apart because no totals of ours cover them. Any difference is shown in the
report, synced to central and never corrected (a silent correction would hide a lost charge).
Collection ids are UUIDv7 (time-ordered), so a boundary is simply an id.

Before the terminal closes its batch, payments whose outcome is unknown are settled
from its totals where they single one out (`PaymentService.settle_from_totals`): the
batch is the last place that still holds the answer. What stays unresolved is listed on
the Z-report with amount, time and fee (printed and synced), never hidden in a count.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from contract import envelope, ids
from contract.errors import UrError
from kiosk.devices.zvt_driver import TerminalError, ZvtDriver
from kiosk.identity import Identity
from kiosk.payments import batches
from kiosk.payments.service import STREAM, PaymentRow, PaymentService, entry_of, open_rows
from kiosk.store import Base, KioskStore
from kiosk.sync import outbox


class DayNotClosable(UrError):
    """Unresolved payments, a failed terminal end-of-day, or the day is already closed."""


class ZReportRow(Base):
    __tablename__ = "z_reports"
    business_date: Mapped[str] = mapped_column(String(10), primary_key=True)
    body: Mapped[str] = mapped_column(Text)


class CentralCheck(Base):
    """Central's reconciliation of a closed day, as it came back over the status feed."""

    __tablename__ = "ledger_checks"
    business_date: Mapped[str] = mapped_column(String(10), primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)


def apply_ledger_check(session: Session, event_id: int, payload: dict[str, Any]) -> None:
    """Feed event "ledger_check" (registered with kiosk.sync.downlink by kiosk.context.wire_sync_handlers); the newest wins."""
    date = str(payload.get("business_date", ""))
    if len(date) != 10 or payload.get("status") not in ("MATCHED", "MISMATCH", "NO_Z_REPORT"):
        raise UrError(f"ledger check event {event_id} lacks a business date or status")
    row = session.get(CentralCheck, date)
    if row is None:
        session.add(CentralCheck(business_date=date, event_id=event_id, body=json.dumps(payload)))
    elif event_id > row.event_id:
        row.event_id, row.body = event_id, json.dumps(payload)


def apply_ledger_checks(session: Session, events: list[tuple[int, dict[str, Any]]]) -> list[str]:
    """A page of "ledger_check" feed events; returns what was wrong with skipped ones."""
    problems = []
    for eid, payload in events:
        try:
            apply_ledger_check(session, eid, payload)
        except UrError as e:
            problems.append(str(e))
    return problems


def central_check(store: KioskStore, business_date: str) -> dict[str, Any] | None:
    with store.session() as s:
        row = s.get(CentralCheck, business_date)
        return json.loads(row.body) if row else None


def unresolved_item(r: PaymentRow) -> dict[str, Any]:
    """An unresolved payment as the Z-report lists it: with amount, time and fee."""
    e = entry_of(r)
    when = e.sent_at or e.created_at or r.updated_at
    return {"id": r.payment_id, "fee_ref": r.fee_ref, "state": r.state, "amount": r.dinars,
            "at": when.isoformat(timespec="seconds") if when else "",
            "why": r.refund_due or r.reversal_due or e.flagged or ""}


def _charged(r: PaymentRow) -> bool:
    """In the terminal's batch totals: approved (a receipt number) or settled PAID."""
    return r.state != "REVERSED" and (entry_of(r).receipt_no is not None or r.state in ("PAID", "REFUNDED"))


@dataclass
class EndOfDayReport:
    business_date: str
    station: str
    office: str
    terminal_id: str
    status: str  # MATCHED | MISMATCH
    terminal: dict[str, int]
    journal: dict[str, int]
    refunds: dict[str, int]
    central: dict[str, int]  # acknowledged / pending collection records
    differences: list[str]
    unresolved: list[dict[str, Any]]
    supervisor: str
    auto_closed: dict[str, int]
    groups: dict[str, list[int]]
    terminal_lines: list[str]
    items: list[dict[str, Any]] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        return {"event": "z_report", **asdict(self)}


def _central_acks(s: Session, ident: Identity) -> dict[str, int]:
    """How many of this station's collection records central has acknowledged."""
    out = {"acknowledged": 0, "pending": 0, "rejected": 0}
    for row in s.scalars(select(outbox.OutboxRow).where(outbox.OutboxRow.stream == STREAM)):
        env, _body, _sig = envelope.open_unverified(outbox.wire_bytes(row, ident))
        if env.payload.get("event") not in ("paid", "reversed", "refunded"):
            continue  # Z-reports, unresolved / not-charged notices: not collections
        key = {outbox.DELIVERED: "acknowledged", outbox.REJECTED: "rejected"}.get(row.state, "pending")
        out[key] += 1
    return out


def preview(store: KioskStore, ident: Identity, exponent: int = 0) -> dict[str, Any]:
    """What the journal and central hold now (no terminal call): for screens and checks."""
    with store.session() as s:
        start, autos = batches.boundaries(s)
        rows = [r for r in s.scalars(select(PaymentRow).where(PaymentRow.payment_id > start)) if _charged(r)]
        return {"journal": {"count": len(rows), "amount": sum(r.dinars for r in rows)},
                "central": _central_acks(s, ident), "unresolved": len(open_rows(s))}


def close_day(store: KioskStore, ident: Identity, terminal: Callable[[], ZvtDriver],
              business_date: str | None = None, supervisor: str = "", exponent: int = 0,
              receipts: Any | None = None) -> EndOfDayReport:
    """Run the terminal's end-of-day and write the Z-report (prints, syncs).

    `supervisor` (already authenticated by the caller) is the explicit path for closing
    with unresolved payments; they are listed in the report, not hidden."""
    date = business_date or dt.date.today().isoformat()
    with store.session() as s:
        if s.get(ZReportRow, date) is not None:
            raise DayNotClosable(f"day {date} is already closed")
        pending = bool(open_rows(s))
    if pending:
        settle_open(store, ident, terminal, exponent, receipts)
    with store.session() as s:
        unresolved = [unresolved_item(r) for r in open_rows(s)]
    if unresolved and not supervisor:
        listing = "; ".join(f"{u['id']} {u['fee_ref']} {u['amount']} IQD {u['state']}" for u in unresolved)
        raise DayNotClosable(f"{len(unresolved)} unresolved payment(s): {listing}. Next: a supervisor resolves "
                             "each (ur-kiosk payments resolve ID --as paid|not-charged --evidence TEXT), or "
                             "closes the day with them listed (--supervisor)")
    boundary = ids.new_id()  # every payment after this is in the next batch
    with terminal() as t:
        totals = t.end_of_day()
    if not totals.ok:
        raise DayNotClosable(f"terminal end-of-day failed: {totals.message} (code {totals.result_code:02X}); "
                             "nothing was recorded, try again")
    scale = 10 ** exponent
    with store.session() as s:
        start, autos = batches.boundaries(s)
        last_auto = max((b.from_id for b in autos), default="")
        rows = list(s.scalars(select(PaymentRow).where(PaymentRow.payment_id > start,
                                                       PaymentRow.payment_id < boundary)))
        approved = [r for r in rows if entry_of(r).receipt_no is not None or r.state in ("PAID", "REFUNDED")]
        in_batch = [r for r in approved if r.state != "REVERSED" and r.payment_id >= last_auto]
        auto = [r for r in approved if r.state != "REVERSED" and r.payment_id < last_auto]
        refunds = [r for r in approved if r.state == "REFUNDED"]
        central = _central_acks(s, ident)
        tid = next((entry_of(r).terminal_id for r in approved if entry_of(r).terminal_id), "") or ""
    t_count, t_amount = totals.count, (totals.amount or 0)
    j_count, j_amount = len(in_batch), sum(entry_of(r).amount for r in in_batch)
    diffs = []
    if t_count != j_count:
        diffs.append(f"count: terminal {t_count}, journal {j_count}")
    if t_amount != j_amount:
        diffs.append(f"amount: terminal {t_amount / scale:g} IQD, journal {j_amount / scale:g} IQD")
    report = EndOfDayReport(
        business_date=date, station=ident.kiosk_id, office=ident.office, terminal_id=tid,
        status="MISMATCH" if diffs else "MATCHED",
        terminal={"count": t_count, "amount": t_amount // scale},
        journal={"count": j_count + len(auto), "amount": (j_amount + sum(entry_of(r).amount for r in auto)) // scale},
        refunds={"count": len(refunds), "amount": sum(r.dinars for r in refunds)},
        central=central, differences=diffs, unresolved=unresolved, supervisor=supervisor,
        auto_closed={"count": len(auto), "amount": sum(r.dinars for r in auto)},
        groups={k: [g.count, g.amount] for k, g in totals.groups.items()},
        terminal_lines=list(totals.receipt_lines),
        items=[{"id": r.payment_id, "amount": r.dinars, "state": r.state.lower()} for r in approved],
    )
    if auto:
        # The terminal's own totals do not cover the auto-closed batch: central compares the whole.
        report.terminal = {"count": t_count + len(auto), "amount": (t_amount + sum(entry_of(r).amount
                                                                                  for r in auto)) // scale}
    with store.tx() as s:
        s.add(ZReportRow(business_date=date, body=json.dumps(asdict(report), sort_keys=True)))
        batches.note_end_of_day(s, boundary)
        outbox.enqueue(s, ident, STREAM, report.payload())
    if receipts is not None:
        receipts.journal.submit(f"z_report:{date}", "z_report", z_lines(report))
    return report


def settle_open(store: KioskStore, ident: Identity, terminal: Callable[[], ZvtDriver], exponent: int = 0,
                receipts: Any | None = None) -> None:
    """Before the batch closes: recover what the terminal can settle, then let its totals
    decide the UNKNOWN payments of this batch (only when no auto end-of-day or terminal
    change since our last close means the totals cover exactly our journal)."""
    svc = PaymentService(store, ident, terminal, receipts=receipts, exponent=exponent)
    try:
        svc.recover()
    except TerminalError:
        pass
    with store.session() as s:
        start, autos = batches.boundaries(s)
        unknown = [r.payment_id for r in open_rows(s) if r.state == "UNKNOWN" and r.payment_id > start]
        if not unknown or autos:
            return
        batch = [r for r in s.scalars(select(PaymentRow).where(PaymentRow.payment_id > start)) if _charged(r)]
        journal = (len(batch), sum(entry_of(r).amount for r in batch))
        devices = {entry_of(r).serial_before for r in batch} | {entry_of(s.get_one(PaymentRow, u)).serial_before
                                                                 for u in unknown}
    try:
        with terminal() as t:
            tot = t.totals()
    except TerminalError:
        return  # the day cannot close without the terminal anyway
    # Only a batch every payment of which went to this very device says what they charged.
    if tot.ok and devices <= {tot.serial}:
        svc.settle_from_totals(unknown, journal, (tot.count, tot.amount or 0))


def z_lines(r: EndOfDayReport) -> dict[str, Any]:
    """Receipt data for the printed Z-report (kiosk/devices/receipt_templates/z_report.toml)."""
    return {
        "date": r.business_date, "station": r.station, "office": r.office or "-", "terminal": r.terminal_id or "-",
        "status": r.status, "t_count": r.terminal["count"], "t_amount": r.terminal["amount"],
        "j_count": r.journal["count"], "j_amount": r.journal["amount"],
        "refunds": f"{r.refunds['count']} / {r.refunds['amount']}",
        "central": f"{r.central['acknowledged']} acknowledged, {r.central['pending']} pending",
        "differences": "; ".join(r.differences),
        "unresolved": (f"{len(r.unresolved)}, {sum(int(u.get('amount', 0)) for u in r.unresolved)} IQD: " + "; ".join(
            f"{u['id'][-12:]} {u['fee_ref']} {u.get('amount', '?')} IQD {str(u.get('at', ''))[11:16]}"
            for u in r.unresolved)) if r.unresolved else "",
        "supervisor": r.supervisor,
    }


def z_report(store: KioskStore, business_date: str) -> dict[str, Any]:
    with store.session() as s:
        row = s.get(ZReportRow, business_date)
        if row is None:
            raise UrError(f"day {business_date} is not closed")
        return json.loads(row.body)
