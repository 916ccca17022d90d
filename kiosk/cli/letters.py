"""`ur-kiosk letters status --number N --date D`: where is my letter (from the synced copy)."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from contract import cli_base
from contract.cli_base import arg, command
from kiosk.applications import letters
from kiosk.store import KioskStore, data_dir


def _age(seconds: int) -> str:
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _status(args: argparse.Namespace) -> int:
    store = KioskStore(data_dir(args.data))
    try:
        with store.tx() as s:
            out = letters.inquire(s, args.number, args.date, int(time.time()))
    finally:
        store.close()
    lines = []
    for d in out["letters"]:
        when = datetime.fromtimestamp(d["updated_at"], UTC).strftime("%Y-%m-%d %H:%M")
        lines.append(f"letter {d['number']} of {d['date']} from {d['from']}: {d['status']} at {d['holder']} since {when}")
    if not out["found"]:
        lines.append(f"no letter {out['number']} of {out['date']} in the copy")
    lines.append(f"information as of {out['as_of']} ({_age(out['age_seconds'])} old)")
    cli_base.emit(args, out, "\n".join(lines))
    return 0 if out["found"] else 1


def add_commands(sub: cli_base.Subparsers) -> None:
    lt = cli_base.group(sub, "letters", "official letter inquiry")
    command(lt, "status", _status, "status of a letter by number and date (offline copy, with its age)",
            arg("--number", required=True),
            arg("--date", required=True, help="YYYY-MM-DD"))
