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


def _globals(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="kiosk data directory (default $UR_KIOSK_DATA or ./var/kiosk)")


build_parser, main = cli_base.program("ur-kiosk", "Ur Kiosk edge appliance", COMMAND_MODULES, _globals)
