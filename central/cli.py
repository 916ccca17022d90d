"""`ur-central`: clerk, supervisor and administrator work on the central module.

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
    "central.setup_cli",
    "central.catalogue_cli",
    "central.casework_cli",
    "central.registry_cli",
    "central.letters_cli",
    "central.ledger_cli",
    "central.web.cli",
]


def _globals(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="database URL (default $UR_CENTRAL_DB or sqlite:///var/central.db); "
                                "a URL with a password belongs in $UR_CENTRAL_DB: argv is visible in ps")


def build_parser() -> argparse.ArgumentParser:
    return cli_base.build("ur-central", "Ur Kiosk central module", COMMAND_MODULES, _globals)


def main(argv: Sequence[str] | None = None) -> int:
    return cli_base.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
