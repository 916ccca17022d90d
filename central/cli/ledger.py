"""`ur-central ledger report | list` and `ur-central fines add | list | publish`."""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from central import fines, ledger
from central.cli import common
from central.receipt_verify import verify_receipt
from contract import cli_base
from contract.cli_base import arg, command
from contract.errors import UrError


def add_commands(sub: cli_base.Subparsers) -> None:
    g = cli_base.group(sub, "ledger", "card collections and daily reconciliation", dest="sub")
    command(g, "report", cmd_report, "reconcile a day: terminal totals vs station journal vs ledger",
            arg("--date", required=True, help="business date YYYY-MM-DD"),
            arg("--csv", help="also write the report with every item to this CSV file"))
    command(g, "list", cmd_list, "collections of a day", arg("--date", required=True))

    command(g, "verify-receipt", cmd_verify_receipt, "verify a payment receipt code against the ledger (exit 0 if VALID)",
            arg("code"))

    g = cli_base.group(sub, "fines", "vehicle fines handed down to kiosks", dest="sub")
    command(g, "add", cmd_fines_add, "add a fine and publish the fines list",
            arg("--plate", required=True),
            arg("--amount", required=True, type=int, help="whole dinars"),
            arg("--offence", default=""),
            arg("--id", dest="fine_id"))
    command(g, "list", cmd_fines_list, None)
    command(g, "publish", cmd_fines_publish, "publish the unpaid fines as the next dataset version")



def _date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise UrError(f"--date {text!r} is not a date (YYYY-MM-DD)") from None


def cmd_report(args: argparse.Namespace) -> int:
    with common.sessions(args)() as s:
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
    with common.sessions(args)() as s:
        rows = list(s.scalars(select(ledger.Collection).where(ledger.Collection.business_date == _date(args.date))))
        res = {r.collection_id: r for r in s.scalars(select(ledger.Resolution).where(
            ledger.Resolution.collection_id.in_([c.collection_id for c in rows])))} if rows else {}
    data: list[dict[str, Any]] = [{"id": c.collection_id, "station": c.station, "fee_ref": c.fee_ref, "amount": c.amount,
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
    with common.sessions(args).begin() as s:
        f = fines.add(s, args.plate, args.amount, args.offence, args.fine_id)
        ds = fines.publish(s)
        out = {"id": f.id, "plate": f.plate, "amount": f.amount, "dataset_version": ds.version}
    cli_base.emit(args, out, f"fine {out['id']} for {out['plate']}: {out['amount']} IQD "
                             f"(fines list v{out['dataset_version']})")
    return 0


def cmd_fines_list(args: argparse.Namespace) -> int:
    with common.sessions(args)() as s:
        data = [{"id": f.id, "plate": f.plate, "amount": f.amount, "status": f.status, "paid_by": f.paid_by}
                for f in s.scalars(select(fines.Fine).order_by(fines.Fine.id))]
    cli_base.emit(args, data, "\n".join(f"{d['id']} {d['plate']} {d['amount']} {d['status']}" for d in data))
    return 0


def cmd_fines_publish(args: argparse.Namespace) -> int:
    with common.sessions(args).begin() as s:
        ds = fines.publish(s)
        v = ds.version
    cli_base.emit(args, {"version": v}, f"fines list v{v}")
    return 0


def cmd_verify_receipt(args: argparse.Namespace) -> int:
    with common.sessions(args)() as s:
        v = verify_receipt(s, args.code.strip(), int(time.time()))
    cli_base.emit(args, {"status": v.status.value, "reason": v.reason, "document": v.document},
                  f"{v.status.value}: {v.reason}")
    return 0 if v.ok else 1
