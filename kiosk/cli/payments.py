"""`ur-kiosk pay | payments ... | fines PLATE`: card collection headless (support, tests)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from sqlalchemy import select

from contract import cli_base
from contract.cli_base import arg, command
from contract.errors import UrError
from firmware_config.profiles import load_profile, profile_dict
from kiosk.applications import fines
from kiosk.cli.terminal import progress, show_result, terminal_factory, terminal_options
from kiosk.context import open_enrolled
from kiosk.devices.zvt_driver import ZvtDriver
from kiosk.payments import end_of_day
from kiosk.payments.cashier import CashierStation, audit
from kiosk.payments.print_journal import PrintJournal, make_spooler
from kiosk.payments.receipts import PaymentReceipts, verify_at_station
from kiosk.payments.service import PaymentRow, PaymentService, entry_of
from kiosk.store import KioskStore


def add_commands(sub: cli_base.Subparsers) -> None:
    command(sub, "pay", cmd_pay, "collect fees by card: app:<tracking>, item:<service>, fine:<id> (several: "
                                 "one card transaction each, in order, stopping at the first not paid)",
            arg("fee_ref", nargs="+"),
            arg("--payment-id", help="collection UUID (resending the same id never charges twice)"),
            terminal_options)
    ps = cli_base.group(sub, "payments", "the payment journal: " + ", ".join(PAYMENTS_COMMANDS),
                        metavar="{" + ",".join(PAYMENTS_COMMANDS) + "}")
    payment_id = arg("payment_id")
    command(ps, "list", cmd_list, "payments of a day (default: all)", arg("--date"))
    command(ps, "show", cmd_show, "one payment: its history and, if open, the next step", payment_id)
    command(ps, "recover", cmd_recover, "finish payments a crash or a lost link left open (asks the terminal)",
            terminal_options)
    command(ps, "resolve", cmd_resolve, "a supervisor settles an unresolved payment from the terminal's printed "
                                        "journal (PIN from $UR_SUPERVISOR_PIN)",
            payment_id,
            arg("--as", dest="outcome", required=True, choices=["paid", "not-charged"]),
            arg("--evidence", required=True, help="what was checked, e.g. 'terminal journal: receipt 0042 "
                                                  "approved 25000'"),
            arg("--supervisor", required=True, help="supervisor user id"),
            arg("--printer", help="receipt printer port (a receipt is printed when resolved as paid)"),
            arg("--printer-profile", default="epson_tm_t20ii_80mm"))
    command(ps, "reprint", cmd_reprint, "print the citizen copy again, marked REPRINT", payment_id)
    command(ps, "day", cmd_day, "a closed day: the Z-report and central's ledger check of it (a table; "
                                "--json for data)", arg("date"))
    command(ps, "verify", cmd_verify, "verify a receipt code offline (trust list + this station's journal)",
            arg("code"))
    command(sub, "fines", cmd_fines, "vehicle fines for a plate (from central's fines list)", arg("plate"))


PAYMENTS_COMMANDS = ("list", "show", "recover", "resolve", "reprint", "day", "verify")


def service(args: argparse.Namespace) -> PaymentService:
    store, ident = open_enrolled(args)
    spooler = None
    if getattr(args, "printer", None):
        spooler = make_spooler(store, profile_dict(load_profile(args.printer_profile)), args.printer)
    receipts = PaymentReceipts(spooler, PrintJournal(store), ident)
    if not hasattr(args, "terminal"):  # `payments resolve`: no terminal is asked
        def no_terminal() -> ZvtDriver:
            raise UrError("this command does not use the card terminal")
        return PaymentService(store, ident, no_terminal, receipts=receipts)
    return PaymentService(store, ident, terminal_factory(args), receipts=receipts, exponent=args.exponent,
                          card_wait_s=args.card_wait or None, busy_wait_s=args.busy_wait)


def cmd_pay(args: argparse.Namespace) -> int:
    if args.payment_id and len(args.fee_ref) > 1:
        raise UrError("--payment-id names one payment: pass one fee with it")
    svc = service(args)
    out = []
    for ref in args.fee_ref:  # e.g. all fines of a plate: one transaction each
        r = svc.pay(ref, progress(args), payment_id=args.payment_id)
        if not args.json and args.card_wait:
            print()
        out.append(r)
        if not r.paid:
            break
    if len(args.fee_ref) == 1:
        return show_result(args, out[0])
    cli_base.emit(args, [r.as_dict() for r in out],
                  "\n".join(f"{r.payment_id} {r.fee_ref} {r.amount} IQD: {r.state} - {r.message}" for r in out))
    return 0 if len(out) == len(args.fee_ref) and all(r.paid for r in out) else 1


def cmd_recover(args: argparse.Namespace) -> int:
    svc = service(args)
    out = svc.recover(progress(args))
    left = svc.open_payments()
    cli_base.emit(args, [r.as_dict() for r in out],
                  "\n".join(f"{r.payment_id} {r.fee_ref} {r.amount} IQD: {r.state} - {r.message}" for r in out)
                  or "nothing open: every payment of this station is settled")
    return 0 if not left else 1


def cmd_resolve(args: argparse.Namespace) -> int:
    svc = service(args)
    pin = cli_base.read_secret("UR_SUPERVISOR_PIN", f"PIN for {args.supervisor}: ")
    sup = CashierStation(svc.store).supervisor(args.supervisor, pin)
    before = svc.get(args.payment_id)
    r = svc.resolve_manually(args.payment_id, args.outcome, sup.user_id, args.evidence)
    with svc.store.tx() as s:
        audit(s, sup.user_id, "payment_resolve", args.payment_id,
              {"as": args.outcome, "evidence": args.evidence, "was": before.state, "now": r.state,
               "amount": r.amount, "fee_ref": r.fee_ref})
    return show_result(args, r)


def _row_dict(r: PaymentRow) -> dict[str, object]:
    e = entry_of(r)
    return {"payment_id": r.payment_id, "fee_ref": r.fee_ref, "state": r.state, "amount": r.dinars,
            "statutory": r.statutory, "service": r.service, "date": r.business_date,
            "terminal_id": e.terminal_id, "trace": e.trace, "receipt_no": e.receipt_no,
            "refund_due": r.refund_due, "flagged": e.flagged, "resolved_by": e.resolved_by,
            "evidence": e.evidence, "history": [list(h) for h in e.history]}


def cmd_list(args: argparse.Namespace) -> int:
    store, _ident = open_enrolled(args)
    with store.session() as s:
        q = select(PaymentRow).order_by(PaymentRow.updated_at)
        if args.date:
            q = q.where(PaymentRow.business_date == args.date)
        rows = [_row_dict(r) for r in s.scalars(q)]
    cli_base.emit(args, rows, "\n".join(
        f"{r['payment_id']} {r['date']} {r['fee_ref']:<20} {r['amount']:>10} {r['state']}" for r in rows))
    return 0


def _payment(store: KioskStore, payment_id: str) -> PaymentRow:
    with store.session() as s:
        row = s.get(PaymentRow, payment_id)
    if row is None:
        raise UrError(f"no payment {payment_id}")
    return row


def cmd_show(args: argparse.Namespace) -> int:
    store, _ident = open_enrolled(args)
    cli_base.emit(args, _row_dict(_payment(store, args.payment_id)))
    return 0


def cmd_reprint(args: argparse.Namespace) -> int:
    store, ident = open_enrolled(args)
    row = _payment(store, args.payment_id)
    job = PaymentReceipts(None, PrintJournal(store), ident).reprint(row)
    cli_base.emit(args, {"job": job}, f"reprint queued as print job {job}")
    return 0


def cmd_fines(args: argparse.Namespace) -> int:
    store, _ident = open_enrolled(args)
    with store.session() as s:
        found = fines.by_plate(s, args.plate)
        taken = {r.fee_ref: r.state for r in s.scalars(select(PaymentRow).where(
            PaymentRow.fee_ref.in_([f"fine:{f.id}" for f in found]),
            PaymentRow.state.in_(["PENDING", "UNKNOWN", "APPROVED", "PAID"])))}
    # Paid (or being paid) here already: shown as such until central's next fines list drops it.
    rows = [{"fee_ref": f"fine:{f.id}", **f.__dict__, "here": taken.get(f"fine:{f.id}")} for f in found]
    found = [f for f in found if f"fine:{f.id}" not in taken]
    cli_base.emit(args, rows, "\n".join(f"fine:{f.id}  {f.amount} IQD  {f.offence}  {f.issued}" for f in found)
                  or f"no unpaid fines for {fines.normalize_plate(args.plate)}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    store, _ident = open_enrolled(args)
    v = verify_at_station(store, args.code.strip(), int(time.time()))
    cli_base.emit(args, {"status": v.status.value, "reason": v.reason, "document": v.document},
                  f"{v.status.value}: {v.reason}")
    return 0 if v.ok else 1


def cmd_day(args: argparse.Namespace) -> int:
    store, _ident = open_enrolled(args)
    z = end_of_day.z_report(store, args.date)
    check = end_of_day.central_check(store, args.date)
    cli_base.emit(args, {"z_report": z, "central": check}, day_table(args.date, z, check))
    return 0 if z["status"] == "MATCHED" and check and check["status"] == "MATCHED" else 1


def day_table(date: str, z: dict[str, Any], check: dict[str, Any] | None) -> str:
    """`payments day` for people: one row per view of the day, then what differs."""
    def cell(v: object) -> tuple[str, str]:
        if isinstance(v, dict):
            return str(v.get("count", "")), str(v.get("amount", ""))
        if isinstance(v, list | tuple) and len(v) == 2:
            return str(v[0]), str(v[1])
        return "-", "-"
    rows = [("terminal", *cell(z.get("terminal")), str(z.get("status", ""))),
            ("journal", *cell(z.get("journal")), ""),
            ("central", *(cell(check.get("central")) if check else ("-", "-")),
             str(check.get("status")) if check else "no answer yet: sync, then ask again")]
    out = [f"Day {date}  station {z.get('station', '')}  terminal {z.get('terminal_id', '') or '-'}",
           f"{'view':<10}{'payments':>10}{'IQD':>14}  status", "-" * 50]
    out += [f"{v:<10}{c:>10}{a:>14}  {st}" for v, c, a, st in rows]
    for d in z.get("differences", []) or []:
        out.append(f"difference: {d}")
    for u in z.get("unresolved", []) or []:
        out.append(f"UNRESOLVED {u['id']} {u['fee_ref']} {u.get('amount', '?')} IQD {u.get('at', '')} "
                   f"{u['state']}: {u.get('why', '')}")
    if check:
        for p in check.get("problems", []) or []:
            out.append(f"central {p['status']}: {p['id']} {p['amount']} IQD {p['detail']}")
    return "\n".join(out)
