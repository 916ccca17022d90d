"""`ur-kiosk sync | run | queue`: the sync loop and what is waiting in it."""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime

from contract import cli_base, mqtt_conn
from contract.cli_base import arg, command
from contract.errors import UrError
from kiosk.context import open_enrolled, open_store, wire_sync_handlers
from kiosk.sync import cursor, downlink, outbox
from kiosk.sync.client import SyncClient, SyncConfig

CLOCK_SKEW_ALARM_MS = 5 * 60 * 1000  # as central flags kiosks (central/kiosks.py)


def add_commands(sub: cli_base.Subparsers) -> None:
    command(sub, "sync", cmd_sync, "exchange with central (until idle, or forever)",
            arg("--broker", help="override the enrolled broker URL"),
            arg("--until-idle", action="store_true", help="stop when nothing is left to send or fetch"),
            arg("--timeout", type=float, help="give up after this many seconds (exit 3)"),
            arg("--ack-timeout", type=float, default=10.0, help="resend when no ack after this"),
            arg("--window", type=int, default=500, help="most unacknowledged messages in flight"),
            arg("--resend-cap", type=float, default=outbox.RESEND_BACKOFF_CAP, help="longest jittered wait before a resend, in seconds, on top of the ack timeout"),
            arg("--heartbeat", type=float, default=60.0, help="seconds between heartbeats (0: none)"))

    p = sub.add_parser("run", help="run the kiosk: sync loop (the UI starts it too)")
    p.add_argument("--broker", help="override the enrolled broker URL")
    p.set_defaults(func=cmd_run, until_idle=False, timeout=None, ack_timeout=10.0, window=500, heartbeat=60.0,
                   resend_cap=outbox.RESEND_BACKOFF_CAP)

    command(sub, "queue", cmd_queue, "outbox: pending, in flight, delivered, oldest age, last sync, "
                                     "downlink messages dropped by reason, clock skew against central")


def cmd_sync(args: argparse.Namespace) -> int:
    if args.broker:
        mqtt_conn.parse_url(args.broker)
    if args.window < 1 or args.ack_timeout <= 0 or args.resend_cap < 0:
        raise UrError("--window must be >= 1, --ack-timeout > 0 and --resend-cap >= 0")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    store, ident = open_enrolled(args)
    wire_sync_handlers()
    client = SyncClient(store, ident, args.broker, SyncConfig(
        window=args.window, ack_timeout=args.ack_timeout, heartbeat_s=args.heartbeat,
        resend_cap=args.resend_cap))
    try:
        idle = client.run(until_idle=args.until_idle, timeout=args.timeout)
    finally:
        client.close()
    with store.session() as s:
        st = outbox.stats(s)
    cli_base.emit(args, {"idle": idle, "pending": st.pending, "delivered": st.delivered},
                  f"sync {'done' if idle else 'stopped'}: {st.pending} pending, {st.delivered} delivered")
    return 0 if idle or not args.until_idle else 3


def cmd_run(args: argparse.Namespace) -> int:
    settle_payments(args)
    return cmd_sync(args)


def settle_payments(args: argparse.Namespace) -> None:
    """Before anything else runs: card payments a crash left open are settled from the
    terminal of DATA/devices.toml (kiosk.payments.service; none configured: nothing to do). A
    failure is logged and leaves them blocking new charges; the sync loop still starts."""
    # Imported here, for `run` only: the station's services (devices, camera scanner,
    # payments) are 0.26 s of CPU of every `ur-kiosk sync` start-up (measured).
    from kiosk.services.kiosk_services import KioskServices

    store = open_store(args)
    try:
        for line in KioskServices(store).settle_payments_at_start():
            print(f"payment settled at start-up: {line}", flush=True)
    except UrError as e:
        logging.getLogger("kiosk.payments").warning("payments not settled at start-up: %s", e)


def cmd_queue(args: argparse.Namespace) -> int:
    store = open_store(args)
    with store.session() as s:
        st = outbox.stats(s)
        last = cursor.get_float(s, downlink.LAST_SYNC)
        dropped = downlink.dropped_counts(s)
        skew = downlink.clock_skew(s)

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")

    data = {"pending": st.pending, "in_flight": st.in_flight, "delivered": st.delivered,
            "rejected": st.rejected, "oldest_pending_age_s": st.oldest_pending_age_s,
            "last_successful_sync": iso(last) if last else None,
            # Unverifiable downlink (forged, another kiosk's, unsolicited ...), by reason.
            "downlink_dropped": dropped,
            # This kiosk's clock minus central's, from central's last signed answer:
            # shown to the technician, never used to decide anything.
            "clock_skew_s": round(skew[0] / 1000, 1) if skew else None,
            "clock_skew_seen_at": iso(skew[1]) if skew else None,
            "clock_skew_alarm": bool(skew and abs(skew[0]) > CLOCK_SKEW_ALARM_MS)}
    cli_base.emit(args, data)
    return 0
