"""`ur-kiosk pay | payments ... | fines PLATE`: card collection headless (support, tests)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from contract import cli_base
from contract.errors import UrError
from kiosk import fines
from kiosk.context import open_enrolled
from kiosk.devices.zvt_driver import ZvtDriver
from kiosk.payment_receipts import PaymentReceipts
from kiosk.payments import PaymentResult, PaymentRow, PaymentService, entry_of
from kiosk.print_journal import PrintJournal


def _terminal_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--terminal", help="terminal port (device, socket://, rfc2217://; default $UR_KIOSK_TERMINAL)")
    p.add_argument("--baud", type=int, default=9600)
    p.add_argument("--exponent", type=int, default=0, help="IQD exponent the terminal uses (0..3)")
    p.add_argument("--terminal-timeout", type=float, default=180.0)
    p.add_argument("--card-wait", type=float, default=60.0,
                   help="seconds to wait for the card before the payment is aborted at the terminal (0: no limit)")
    p.add_argument("--busy-wait", type=float, default=60.0,
                   help="seconds to wait out a busy terminal before settling a payment")
    p.add_argument("--printer", help="receipt printer port: print the receipt now (else it is only journaled)")
    p.add_argument("--printer-profile", default="epson_tm_t20ii_80mm", help="firmware_config printer profile")


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pay", help="collect fees by card: app:<tracking>, item:<service>, fine:<id> (several: "
                       "one card transaction each, in order, stopping at the first not paid)")
    p.add_argument("fee_ref", nargs="+")
    p.add_argument("--payment-id", help="collection UUID (resending the same id never charges twice)")
    _terminal_args(p)
    p.set_defaults(func=cmd_pay)

    p = sub.add_parser("payments", help="the payment journal: " + ", ".join(PAYMENTS_COMMANDS))
    ps = p.add_subparsers(dest="payments_cmd", required=True, parser_class=cli_base.Parser,
                          metavar="{" + ",".join(PAYMENTS_COMMANDS) + "}")
    q = ps.add_parser("list", help="payments of a day (default: all)")
    q.add_argument("--date")
    q.set_defaults(func=cmd_list)
    q = ps.add_parser("show", help="one payment: its history and, if open, the next step")
    q.add_argument("payment_id")
    q.set_defaults(func=cmd_show)
    q = ps.add_parser("recover", help="finish payments a crash or a lost link left open (asks the terminal)")
    _terminal_args(q)
    q.set_defaults(func=cmd_recover)
    q = ps.add_parser("resolve", help="a supervisor settles an unresolved payment from the terminal's printed "
                      "journal (PIN from $UR_SUPERVISOR_PIN)")
    q.add_argument("payment_id")
    q.add_argument("--as", dest="outcome", required=True, choices=["paid", "not-charged"])
    q.add_argument("--evidence", required=True, help="what was checked, e.g. 'terminal journal: receipt 0042 "
                   "approved 25000'")
    q.add_argument("--supervisor", required=True, help="supervisor user id")
    q.add_argument("--printer", help="receipt printer port (a receipt is printed when resolved as paid)")
    q.add_argument("--printer-profile", default="epson_tm_t20ii_80mm")
    q.set_defaults(func=cmd_resolve)
    q = ps.add_parser("reprint", help="print the citizen copy again, marked REPRINT")
    q.add_argument("payment_id")
    q.set_defaults(func=cmd_reprint)

    q = ps.add_parser("day", help="a closed day: the Z-report and central's ledger check of it (a table; "
                      "--json for data)")
    q.add_argument("date")
    q.set_defaults(func=cmd_day)
    q = ps.add_parser("verify", help="verify a receipt code offline (trust list + this station's journal)")
    q.add_argument("code")
    q.set_defaults(func=cmd_verify)

    p = sub.add_parser("fines", help="vehicle fines for a plate (from central's fines list)")
    p.add_argument("plate")
    p.set_defaults(func=cmd_fines)


PAYMENTS_COMMANDS = ("list", "show", "recover", "resolve", "reprint", "day", "verify")


def terminal_factory(args: argparse.Namespace) -> Callable[[], ZvtDriver]:
    port = getattr(args, "terminal", None) or os.environ.get("UR_KIOSK_TERMINAL")
    if not port:
        raise UrError("no card terminal: pass --terminal PORT or set UR_KIOSK_TERMINAL")
    return lambda: ZvtDriver(port, baudrate=args.baud, exponent=args.exponent, timeout=args.terminal_timeout)


def service(args: argparse.Namespace) -> PaymentService:
    store, ident = open_enrolled(args)
    spooler = None
    if getattr(args, "printer", None):
        from firmware_config.profiles import load_profile, profile_dict
        from kiosk.print_journal import make_spooler

        spooler = make_spooler(store, profile_dict(load_profile(args.printer_profile)), args.printer)
    receipts = PaymentReceipts(spooler, PrintJournal(store), ident)
    if not hasattr(args, "terminal"):  # `payments resolve`: no terminal is asked
        def no_terminal() -> ZvtDriver:
            raise UrError("this command does not use the card terminal")
        return PaymentService(store, ident, no_terminal, receipts=receipts)
    return PaymentService(store, ident, terminal_factory(args), receipts=receipts, exponent=args.exponent,
                          card_wait_s=args.card_wait or None, busy_wait_s=args.busy_wait)


def _progress(args: argparse.Namespace) -> Callable[[str, str], None]:
    def progress(event: str, message: str) -> None:
        if args.json:
            return
        if event == "card_wait":  # a countdown on one line
            print(f"\r... {message} s left to present the card ", end="", flush=True)
        else:
            print(f"... {message}", flush=True)
    return progress


def _show(args: argparse.Namespace, r: PaymentResult) -> int:
    cli_base.emit(args, r.as_dict(), f"{r.payment_id} {r.fee_ref} {r.amount} IQD: {r.state} - {r.message}")
    return 0 if r.state in ("PAID", "REVERSED", "REFUNDED") else 1


def cmd_pay(args: argparse.Namespace) -> int:
    if args.payment_id and len(args.fee_ref) > 1:
        raise UrError("--payment-id names one payment: pass one fee with it")
    svc = service(args)
    out = []
    for ref in args.fee_ref:  # e.g. all fines of a plate: one transaction each
        r = svc.pay(ref, _progress(args), payment_id=args.payment_id)
        if not args.json and args.card_wait:
            print()
        out.append(r)
        if not r.paid:
            break
    if len(args.fee_ref) == 1:
        return _show(args, out[0])
    cli_base.emit(args, [r.as_dict() for r in out],
                  "\n".join(f"{r.payment_id} {r.fee_ref} {r.amount} IQD: {r.state} - {r.message}" for r in out))
    return 0 if len(out) == len(args.fee_ref) and all(r.paid for r in out) else 1


def cmd_recover(args: argparse.Namespace) -> int:
    svc = service(args)
    out = svc.recover(_progress(args))
    left = svc.open_payments()
    cli_base.emit(args, [r.as_dict() for r in out],
                  "\n".join(f"{r.payment_id} {r.fee_ref} {r.amount} IQD: {r.state} - {r.message}" for r in out)
                  or "nothing open: every payment of this station is settled")
    return 0 if not left else 1


def cmd_resolve(args: argparse.Namespace) -> int:
    from kiosk.cashier import CashierStation, audit
    from kiosk.cashier_cli import _pin

    svc = service(args)
    sup = CashierStation(svc.store).supervisor(args.supervisor, _pin("UR_SUPERVISOR_PIN", args.supervisor))
    before = svc.get(args.payment_id)
    r = svc.resolve_manually(args.payment_id, args.outcome, sup.user_id, args.evidence)
    with svc.store.tx() as s:
        audit(s, sup.user_id, "payment_resolve", args.payment_id,
              {"as": args.outcome, "evidence": args.evidence, "was": before.state, "now": r.state,
               "amount": r.amount, "fee_ref": r.fee_ref})
    return _show(args, r)


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


def cmd_show(args: argparse.Namespace) -> int:
    store, _ident = open_enrolled(args)
    with store.session() as s:
        row = s.get(PaymentRow, args.payment_id)
        if row is None:
            raise UrError(f"no payment {args.payment_id}")
        cli_base.emit(args, _row_dict(row))
    return 0


def cmd_reprint(args: argparse.Namespace) -> int:
    store, ident = open_enrolled(args)
    with store.session() as s:
        row = s.get(PaymentRow, args.payment_id)
        if row is None:
            raise UrError(f"no payment {args.payment_id}")
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
    import time

    from kiosk.receipt_code import verify_at_station

    store, _ident = open_enrolled(args)
    v = verify_at_station(store, args.code.strip(), int(time.time()))
    cli_base.emit(args, {"status": v.status.value, "reason": v.reason, "document": v.document},
                  f"{v.status.value}: {v.reason}")
    return 0 if v.ok else 1


def cmd_day(args: argparse.Namespace) -> int:
    from kiosk import end_of_day

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
