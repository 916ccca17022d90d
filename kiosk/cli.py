"""`ur-kiosk`: everything a screen can do, headless (support, scripting, tests).

Each module listed here exposes `add_commands(subparsers)`; handlers take the
parsed args and return an exit code (see contract.cli_base for error handling).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from contract import cli_base

# Modules that add subcommands; one line per concept keeps merges trivial.
COMMAND_MODULES: list[str] = [
    "kiosk.applications_cli",
    "kiosk.enrollment_cli",
    "kiosk.sync_cli",
    "kiosk.payments_cli",
    "kiosk.cashier_cli",
    "kiosk.devices_cli",
    "kiosk.catalogue_cli",
    "kiosk.documents_cli",
    "kiosk.letters_cli",
    "kiosk.ui_cli",
]


def _globals(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="kiosk data directory (default $UR_KIOSK_DATA or ./var/kiosk)")


def build_parser() -> argparse.ArgumentParser:
    return cli_base.build("ur-kiosk", "Ur Kiosk edge appliance", COMMAND_MODULES, _globals)


def main(argv: Sequence[str] | None = None) -> int:
    return cli_base.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
