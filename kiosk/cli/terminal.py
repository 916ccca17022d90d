"""What the card-paying commands share (`pay`, `payments`, `cashier`): the card
terminal's and receipt printer's options, the terminal they open, the progress line
and how a payment's result is printed."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from contract import cli_base
from contract.errors import UrError
from kiosk.devices.zvt_driver import ZvtDriver
from kiosk.payments.service import PaymentResult


def terminal_options(p: argparse.ArgumentParser) -> None:
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


def terminal_factory(args: argparse.Namespace) -> Callable[[], ZvtDriver]:
    port = getattr(args, "terminal", None) or os.environ.get("UR_KIOSK_TERMINAL")
    if not port:
        raise UrError("no card terminal: pass --terminal PORT or set UR_KIOSK_TERMINAL")
    return lambda: ZvtDriver(port, baudrate=args.baud, exponent=args.exponent, timeout=args.terminal_timeout)


def progress(args: argparse.Namespace) -> Callable[[str, str], None]:
    def progress(event: str, message: str) -> None:
        if args.json:
            return
        if event == "card_wait":  # a countdown on one line
            print(f"\r... {message} s left to present the card ", end="", flush=True)
        else:
            print(f"... {message}", flush=True)
    return progress


def show_result(args: argparse.Namespace, r: PaymentResult) -> int:
    cli_base.emit(args, r.as_dict(), f"{r.payment_id} {r.fee_ref} {r.amount} IQD: {r.state} - {r.message}")
    return 0 if r.state in ("PAID", "REVERSED", "REFUNDED") else 1
