"""`ur-kiosk cashier user-add | login | shift-open | shift-close | collect | void | refund |
close-day | z-report | audit`. Every command authenticates with the user's PIN (read
from $UR_CASHIER_PIN / $UR_SUPERVISOR_PIN or prompted, never an argument, so it does not
show in the process list)."""

from __future__ import annotations

import argparse

from contract import cli_base
from contract.cli_base import arg, command
from contract.errors import UrError
from kiosk.cli.terminal import show_result, terminal_factory, terminal_options
from kiosk.context import open_enrolled
from kiosk.payments import end_of_day
from kiosk.payments.cashier import CashierStation, Operator, audit, verify_audit
from kiosk.payments.print_journal import PrintJournal
from kiosk.payments.receipts import PaymentReceipts
from kiosk.payments.service import PaymentService


def add_commands(sub: cli_base.Subparsers) -> None:
    cs = cli_base.group(sub, "cashier", "cashier station: PIN login, shifts, collect, void, refund, close day")
    user = arg("--user", required=True)
    supervisor = arg("--supervisor", required=True, help="supervisor user id (PIN from $UR_SUPERVISOR_PIN)")
    payment = (arg("payment_id"), arg("--reason", required=True))
    command(cs, "user-add", cmd_user_add, "add a user (the first must be a supervisor; later ones need one)",
            user, arg("--new-user", required=True), arg("--name", default=""),
            arg("--role", choices=["cashier", "supervisor"], default="cashier"),
            arg("--supervisor", help="approving supervisor (not needed for the first user)"))
    command(cs, "login", cmd_login, "check a PIN (counts towards the lockout)", user)
    command(cs, "shift-open", cmd_shift_open, "open your shift", user)
    command(cs, "shift-close", cmd_shift_close, "close your shift (summary)", user)
    command(cs, "collect", cmd_collect, "collect a fee by card", user, terminal_options,
            arg("fee_ref"), arg("--payment-id"))
    command(cs, "void", cmd_void, "void (reverse) a payment; supervisor PIN",
            user, supervisor, terminal_options, *payment)
    command(cs, "refund", cmd_refund, "refund a payment; supervisor PIN",
            user, supervisor, terminal_options, *payment)
    command(cs, "close-day", cmd_close_day, "terminal end-of-day, reconcile, Z-report", user, terminal_options,
            arg("--date"), arg("--supervisor", help="close despite unresolved payments (supervisor PIN)"))
    command(cs, "audit", cmd_audit, "verify the audit trail's hash chain")


def _station(args: argparse.Namespace, with_terminal: bool = False) -> CashierStation:
    store, ident = open_enrolled(args)
    svc = None
    if with_terminal:
        receipts = PaymentReceipts(None, PrintJournal(store), ident, merchant_copy=True)
        svc = PaymentService(store, ident, terminal_factory(args), receipts=receipts, exponent=args.exponent,
                             card_wait_s=args.card_wait or None, busy_wait_s=args.busy_wait)
    return CashierStation(store, svc)


def _login(st: CashierStation, args: argparse.Namespace) -> Operator:
    return st.login(args.user, cli_base.read_secret("UR_CASHIER_PIN", f"PIN for {args.user}: "))


def _sup(args: argparse.Namespace) -> tuple[str, str]:
    return args.supervisor, cli_base.read_secret("UR_SUPERVISOR_PIN", f"PIN for {args.supervisor}: ")


def cmd_user_add(args: argparse.Namespace) -> int:
    st = _station(args)
    new_pin = cli_base.read_secret("UR_NEW_PIN", f"PIN for {args.new_user}: ")
    st.add_user(args.new_user, args.name or args.new_user, args.role, new_pin,
                approved_by=_sup(args) if args.supervisor else None)
    cli_base.emit(args, {"user": args.new_user, "role": args.role}, f"user {args.new_user} ({args.role}) added")
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    op = _login(_station(args), args)
    cli_base.emit(args, {"user": op.user_id, "role": op.role}, f"{op.user_id} ({op.role}) ok")
    return 0


def cmd_shift_open(args: argparse.Namespace) -> int:
    st = _station(args)
    sid = st.open_shift(_login(st, args))
    cli_base.emit(args, {"shift_id": sid}, f"shift {sid} open")
    return 0


def cmd_shift_close(args: argparse.Namespace) -> int:
    st = _station(args)
    cli_base.emit(args, st.close_shift(_login(st, args)))
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    st = _station(args, with_terminal=True)
    op = _login(st, args)
    def progress(_e: str, m: str) -> None:
        if not args.json:
            print(f"... {m}", flush=True)
    return show_result(args, st.collect(op, args.fee_ref, progress, payment_id=args.payment_id))


def cmd_void(args: argparse.Namespace) -> int:
    st = _station(args, with_terminal=True)
    return show_result(args, st.void(_login(st, args), args.payment_id, _sup(args), args.reason))


def cmd_refund(args: argparse.Namespace) -> int:
    st = _station(args, with_terminal=True)
    return show_result(args, st.refund(_login(st, args), args.payment_id, _sup(args), args.reason))


def cmd_close_day(args: argparse.Namespace) -> int:
    st = _station(args)
    op = _login(st, args)
    sup = ""
    if args.supervisor:
        sup = st.supervisor(*_sup(args)).user_id
    store, ident = open_enrolled(args)
    try:
        rep = end_of_day.close_day(store, ident, terminal_factory(args), args.date, sup, args.exponent,
                                   receipts=PaymentReceipts(None, PrintJournal(store), ident))
    except UrError as e:
        with store.tx() as s:
            audit(s, op.user_id, "close_day_refused", args.date or "", {"why": str(e)})
        raise
    with store.tx() as s:
        audit(s, op.user_id, "close_day", rep.business_date,
              {"status": rep.status, "supervisor": sup, "unresolved": len(rep.unresolved)})
    text = [f"Z-report {rep.business_date} {rep.station}: {rep.status}",
            f"  terminal {rep.terminal['count']} / {rep.terminal['amount']} IQD",
            f"  journal  {rep.journal['count']} / {rep.journal['amount']} IQD",
            f"  refunds  {rep.refunds['count']} / {rep.refunds['amount']} IQD",
            f"  central  {rep.central['acknowledged']} acknowledged, {rep.central['pending']} pending sync"]
    text += [f"  DIFFERENCE {d}" for d in rep.differences]
    text += [f"  UNRESOLVED {u['id']} {u['fee_ref']} {u['amount']} IQD {u['at']} {u['state']}: {u['why']}"
             for u in rep.unresolved]
    cli_base.emit(args, rep.payload(), "\n".join(text))
    return 0 if rep.status == "MATCHED" else 1


def cmd_audit(args: argparse.Namespace) -> int:
    store, _ident = open_enrolled(args)
    with store.session() as s:
        n = verify_audit(s)
    cli_base.emit(args, {"entries": n, "chain": "ok"}, f"audit trail ok, {n} entries")
    return 0
