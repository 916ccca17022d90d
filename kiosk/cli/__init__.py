"""`ur-kiosk`: everything a screen can do, headless (support, scripting, tests).

One module per command group (kiosk/cli/<group>.py), each exposing
`add_commands(subparsers)`; handlers take the parsed args and return an exit code
(see contract.cli_base for the shared set-up and error handling).
"""

from __future__ import annotations

import argparse

from contract import cli_base

# Modules that add subcommands; one line per concept keeps merges trivial.
COMMAND_MODULES: list[str] = [
    "kiosk.cli.applications",
    "kiosk.cli.enrollment",
    "kiosk.cli.sync",
    "kiosk.cli.payments",
    "kiosk.cli.cashier",
    "kiosk.cli.devices",
    "kiosk.cli.catalogue",
    "kiosk.cli.documents",
    "kiosk.cli.letters",
    "kiosk.cli.ui",
]

# The module that adds each top-level command, so `ur-kiosk pay ...` imports only
# kiosk.cli.payments (contract.cli_base.program; measured: `--help` with every module
# 0.85 s of CPU, `letters` alone 0.3 s). A command missing here still works, with
# every module imported; tests/test_cli_commands.py says when one is missing.
COMMANDS: dict[str, str] = {
    "init": "kiosk.cli.applications", "apply": "kiosk.cli.applications", "status": "kiosk.cli.applications",
    "enroll-request": "kiosk.cli.enrollment",
    "sync": "kiosk.cli.sync", "run": "kiosk.cli.sync", "queue": "kiosk.cli.sync",
    "pay": "kiosk.cli.payments", "payments": "kiosk.cli.payments", "fines": "kiosk.cli.payments",
    "cashier": "kiosk.cli.cashier",
    "devices": "kiosk.cli.devices", "emulate": "kiosk.cli.devices", "config": "kiosk.cli.devices",
    "catalogue": "kiosk.cli.catalogue", "complaint": "kiosk.cli.catalogue", "resubmit": "kiosk.cli.catalogue",
    "docs": "kiosk.cli.documents",
    "letters": "kiosk.cli.letters",
    "ui": "kiosk.cli.ui", "ui-demo": "kiosk.cli.ui",
}


def _globals(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="kiosk data directory (default $UR_KIOSK_DATA or ./var/kiosk)")


build_parser, main = cli_base.program("ur-kiosk", "Ur Kiosk edge appliance", COMMAND_MODULES, _globals, COMMANDS)
