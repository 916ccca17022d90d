"""`ur-central retention`: time partitions ahead, expired inbox partitions dropped
(central/time_partitions.py). Run daily by ur-central-retention.timer
(docs/systemd); the audit trail is never dropped. On SQLite it says so and does nothing.

  retention [--keep-days 90] [--ahead-days 14]
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from central import time_partitions
from central.cli import common
from contract import cli_base
from contract.cli_base import arg, command, emit
from contract.errors import UrError


def _retention(args: argparse.Namespace) -> int:
    if args.keep_days < time_partitions.MIN_KEEP_DAYS:
        raise UrError(f"--keep-days {args.keep_days} is below {time_partitions.MIN_KEEP_DAYS}: a kiosk offline "
                      "that long could have a resent message applied twice")
    if args.ahead_days < 1:
        raise UrError("--ahead-days must be at least 1 (tomorrow's partition must exist before midnight)")
    with common.engine(args).begin() as conn:
        r = time_partitions.maintain(conn, datetime.now(UTC), args.keep_days, args.ahead_days)
    data = {"created": r.created, "dropped": r.dropped, "moved_from_default": r.moved_from_default,
            "deleted_from_default": r.deleted_from_default, "note": r.note}
    emit(args, data, r.note or (
        f"created {len(r.created)} partitions, dropped {len(r.dropped)} "
        f"({', '.join(r.dropped) or 'none'}); rows moved out of the default partitions: {r.moved_from_default}, "
        f"expired rows deleted from them: {r.deleted_from_default}; the audit trail is kept"))
    return 0


def add_commands(sub: cli_base.Subparsers) -> None:
    command(sub, "retention", _retention,
            "create time partitions ahead and drop inbox partitions past retention (never the audit trail)",
            arg("--keep-days", type=int, default=time_partitions.DEFAULT_KEEP_DAYS,
                help="inbox rows kept this many days (default %(default)s; at least "
                     f"{time_partitions.MIN_KEEP_DAYS})"),
            arg("--ahead-days", type=int, default=time_partitions.DEFAULT_AHEAD_DAYS,
                help="partitions made this many days ahead (default %(default)s)"))
