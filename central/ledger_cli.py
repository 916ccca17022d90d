"""`ur-central ledger report | list` and `ur-central fines add | list | publish`."""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy import select

from central import db, fines, ledger
from contract import cli_base
from contract.errors import UrError


def add_commands(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("ledger", help="card collections and daily reconciliation").add_subparsers(
        dest="sub", required=True, parser_class=cli_base.Parser)
    p = g.add_parser("report", help="reconcile a day: terminal totals vs station journal vs ledger")
    p.add_argument("--date", required=True, help="business date YYYY-MM-DD")
    p.add_argument("--csv", help="also write the report with every item to this CSV file")
    p.set_defaults(func=cmd_report)
    p = g.add_parser("list", help="collections of a day")
    p.add_argument("--date", required=True)
    p.set_defaults(func=cmd_list)

    p = g.add_parser("verify-receipt", help="verify a payment receipt code against the ledger (exit 0 if VALID)")
    p.add_argument("code")
    p.set_defaults(func=cmd_verify_receipt)

    g = sub.add_parser("fines", help="vehicle fines handed down to kiosks").add_subparsers(
        dest="sub", required=True, parser_class=cli_base.Parser)
    p = g.add_parser("add", help="add a fine and publish the fines list")
    p.add_argument("--plate", required=True)
    p.add_argument("--amount", required=True, type=int, help="whole dinars")
    p.add_argument("--offence", default="")
    p.add_argument("--id", dest="fine_id")
    p.set_defaults(func=cmd_fines_add)
    p = g.add_parser("list")
    p.set_defaults(func=cmd_fines_list)
    p = g.add_parser("publish", help="publish the unpaid fines as the next dataset version")
    p.set_defaults(func=cmd_fines_publish)


def _session(args: argparse.Namespace):
    engine = db.make_engine(getattr(args, "db", None))
    db.init_schema(engine)
    return db.sessions(engine)


def _date(text: str) -> str:
    from datetime import date

    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise UrError(f"--date {text!r} is not a date (YYYY-MM-DD)") from None


def cmd_report(args: argparse.Namespace) -> int:
    with _session(args)() as s:
        days = ledger.reconcile(s, _date(args.date))
    if args.csv:
        Path(args.csv).write_text(ledger.report_csv(days), encoding="utf-8")
    data = [{"station": d.station, "office": d.office, "terminal_id": d.terminal_id, "status": d.status,
             "terminal": [d.terminal_count, d.terminal_amount], "journal": [d.journal_count, d.journal_amount],
             "central": [d.central_count, d.central_amount],
             "items": {k: sum(1 for i in d.items if i["status"] == k)
                       for k in ("matched", "missing_at_central", "missing_at_station", "mismatched",
                                 "unresolved_at_station")},
             "unresolved_amount": sum(i["amount"] for i in d.items if i["status"] == "unresolved_at_station"),
             "problems": [i for i in d.items if i["status"] != "matched"],
             "resolutions": d.resolutions} for d in days]
    lines = [f"{'station':<14}{'terminal':<10}{'status':<12}{'terminal n/IQD':>18}{'journal n/IQD':>18}"
             f"{'central n/IQD':>18}  matched missing mismatched unresolved"]
    for d, row in zip(days, data, strict=True):
        it = row["items"]
        lines.append(f"{d.station:<14}{d.terminal_id:<10}{d.status:<12}"
                     f"{f'{d.terminal_count}/{d.terminal_amount}':>18}{f'{d.journal_count}/{d.journal_amount}':>18}"
                     f"{f'{d.central_count}/{d.central_amount}':>18}  {it['matched']:>7} "
                     f"{it['missing_at_central'] + it['missing_at_station']:>7} {it['mismatched']:>10} "
                     f"{it['unresolved_at_station']:>10}")
        lines += [f"  {p['status']}: {p['id']} {p['amount']} IQD {p['detail']}" for p in row["problems"]]
        lines += [f"  resolved {r['outcome']}: {r['id']} by {r['by']} at {r['at']}: {r['evidence']}"
                  for r in row["resolutions"]]
    cli_base.emit(args, data, "\n".join(lines) if days else f"no collections on {args.date}")
    return 0 if all(d.status == "MATCHED" for d in days) else 1


def cmd_list(args: argparse.Namespace) -> int:
    with _session(args)() as s:
        rows = list(s.scalars(select(ledger.Collection).where(ledger.Collection.business_date == _date(args.date))))
        res = {r.collection_id: r for r in s.scalars(select(ledger.Resolution).where(
            ledger.Resolution.collection_id.in_([c.collection_id for c in rows])))} if rows else {}
    data = [{"id": c.collection_id, "station": c.station, "fee_ref": c.fee_ref, "amount": c.amount,
             "state": c.state, "resolution": {"outcome": res[c.collection_id].outcome,
                                              "by": res[c.collection_id].decided_by,
                                              "evidence": res[c.collection_id].evidence}
             if c.collection_id in res else None} for c in rows]
    cli_base.emit(args, data, "\n".join(
        f"{d['id']} {d['station']} {d['fee_ref']} {d['amount']} {d['state']}"
        + (f" (resolved by {d['resolution']['by']}: {d['resolution']['evidence']})" if d["resolution"] else "")
        for d in data))
    return 0


def cmd_fines_add(args: argparse.Namespace) -> int:
    with _session(args).begin() as s:
        f = fines.add(s, args.plate, args.amount, args.offence, args.fine_id)
        ds = fines.publish(s)
        out = {"id": f.id, "plate": f.plate, "amount": f.amount, "dataset_version": ds.version}
    cli_base.emit(args, out, f"fine {out['id']} for {out['plate']}: {out['amount']} IQD "
                             f"(fines list v{out['dataset_version']})")
    return 0


def cmd_fines_list(args: argparse.Namespace) -> int:
    with _session(args)() as s:
        data = [{"id": f.id, "plate": f.plate, "amount": f.amount, "status": f.status, "paid_by": f.paid_by}
                for f in s.scalars(select(fines.Fine).order_by(fines.Fine.id))]
    cli_base.emit(args, data, "\n".join(f"{d['id']} {d['plate']} {d['amount']} {d['status']}" for d in data))
    return 0


def cmd_fines_publish(args: argparse.Namespace) -> int:
    with _session(args).begin() as s:
        ds = fines.publish(s)
        v = ds.version
    cli_base.emit(args, {"version": v}, f"fines list v{v}")
    return 0


def cmd_verify_receipt(args: argparse.Namespace) -> int:
    import time

    from central.receipt_verify import verify_receipt

    with _session(args)() as s:
        v = verify_receipt(s, args.code.strip(), int(time.time()))
    cli_base.emit(args, {"status": v.status.value, "reason": v.reason, "document": v.document},
                  f"{v.status.value}: {v.reason}")
    return 0 if v.ok else 1
