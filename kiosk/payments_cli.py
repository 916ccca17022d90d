"""`ur-kiosk pay | payments ... | fines PLATE`: card collection headless (support, tests)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

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
    p.add_argument("--printer", help="receipt printer port: print the receipt now (else it is only journaled)")
    p.add_argument("--printer-profile", default="epson_tm_t20ii_80mm", help="firmware_config printer profile")


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("pay", help="collect a fee by card: app:<tracking>, item:<service>, fine:<id>")
    p.add_argument("fee_ref")
    p.add_argument("--payment-id", help="collection UUID (resending the same id never charges twice)")
    _terminal_args(p)
    p.set_defaults(func=cmd_pay)

    p = sub.add_parser("payments", help="the payment journal: list, show, resolve, recover, reprint")
    ps = p.add_subparsers(dest="payments_cmd", required=True, parser_class=cli_base.Parser)
    q = ps.add_parser("list", help="payments of a day (default: all)")
    q.add_argument("--date")
    q.set_defaults(func=cmd_list)
    q = ps.add_parser("show")
    q.add_argument("payment_id")
    q.set_defaults(func=cmd_show)
    q = ps.add_parser("recover", help="finish payments a crash or a lost link left open")
    _terminal_args(q)
    q.set_defaults(func=cmd_recover)
    q = ps.add_parser("reprint", help="print the citizen copy again, marked REPRINT")
    q.add_argument("payment_id")
    q.set_defaults(func=cmd_reprint)

    q = ps.add_parser("day", help="a closed day: the Z-report and central's ledger check of it")
    q.add_argument("date")
    q.set_defaults(func=cmd_day)
    q = ps.add_parser("verify", help="verify a receipt code offline (trust list + this station's journal)")
    q.add_argument("code")
    q.set_defaults(func=cmd_verify)

    p = sub.add_parser("fines", help="vehicle fines for a plate (from central's fines list)")
    p.add_argument("plate")
    p.set_defaults(func=cmd_fines)


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
    return PaymentService(store, ident, terminal_factory(args), receipts=receipts, exponent=args.exponent)


def _show(args: argparse.Namespace, r: PaymentResult) -> int:
    cli_base.emit(args, r.as_dict(), f"{r.payment_id} {r.fee_ref} {r.amount} IQD: {r.state} - {r.message}")
    return 0 if r.state in ("PAID", "REVERSED", "REFUNDED") else 1


def cmd_pay(args: argparse.Namespace) -> int:
    svc = service(args)
    def progress(_event: str, message: str) -> None:
        if not args.json:
            print(f"... {message}", flush=True)
    return _show(args, svc.pay(args.fee_ref, progress, payment_id=args.payment_id))


def cmd_recover(args: argparse.Namespace) -> int:
    svc = service(args)
    out = svc.recover()
    cli_base.emit(args, [r.as_dict() for r in out],
                  "\n".join(f"{r.payment_id} {r.fee_ref}: {r.state} - {r.message}" for r in out) or "nothing open")
    return 0 if not svc.open_payments() else 1


def _row_dict(r: PaymentRow) -> dict[str, object]:
    e = entry_of(r)
    return {"payment_id": r.payment_id, "fee_ref": r.fee_ref, "state": r.state, "amount": r.dinars,
            "statutory": r.statutory, "service": r.service, "date": r.business_date,
            "terminal_id": e.terminal_id, "trace": e.trace, "receipt_no": e.receipt_no,
            "refund_due": r.refund_due, "history": [list(h) for h in e.history]}


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
    text = [f"{args.date}: station {z['status']}, terminal {z['terminal']}, journal {z['journal']}",
            f"central: {check['status']}, holds {check['central'][0]} / {check['central'][1]} IQD"
            if check else "central: no answer yet (sync, then ask again)"]
    if check:
        text += [f"  {p['status']}: {p['id']} {p['amount']} IQD {p['detail']}" for p in check["problems"]]
    cli_base.emit(args, {"z_report": z, "central": check}, "\n".join(text))
    return 0 if z["status"] == "MATCHED" and check and check["status"] == "MATCHED" else 1
