"""`ur-central`: clerk, supervisor and administrator work on the central module.

One module per command group (central/cli/<group>.py), each exposing
`add_commands(subparsers)`; handlers take the parsed args and return an exit code
(see contract.cli_base for the shared set-up and error handling, and
central/cli/common.py for opening the database).
"""

from __future__ import annotations

import argparse

from contract import cli_base

# Modules that add subcommands; one line per concept keeps merges trivial.
COMMAND_MODULES: list[str] = [
    "central.cli.setup",
    "central.cli.catalogue",
    "central.cli.casework",
    "central.cli.registry",
    "central.cli.letters",
    "central.cli.ledger",
    "central.cli.web",
    "central.cli.queue_cli",
    "central.cli.retention",
]

# The module that adds each top-level command, so `ur-central apps ...` imports only
# central.cli.casework (contract.cli_base.program; measured: every module 0.75 s of
# CPU). A command missing here still works, with every module imported;
# tests/test_cli_commands.py says when one is missing.
COMMANDS: dict[str, str] = {
    "init": "central.cli.setup", "serve": "central.cli.setup", "route": "central.cli.setup",
    "kiosks": "central.cli.setup", "broker-tls": "central.cli.setup", "stats": "central.cli.setup",
    "catalogue": "central.cli.catalogue",
    "apps": "central.cli.casework", "audit": "central.cli.casework",
    "docs": "central.cli.registry", "keys": "central.cli.registry", "trust": "central.cli.registry",
    "letters": "central.cli.letters",
    "ledger": "central.cli.ledger", "fines": "central.cli.ledger",
    "web": "central.cli.web", "users": "central.cli.web",
    "queue": "central.cli.queue_cli",
    "retention": "central.cli.retention",
}


def _globals(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="database URL (default $UR_CENTRAL_DB or sqlite:///var/central.db); "
                                "a URL with a password belongs in $UR_CENTRAL_DB: argv is visible in ps")


build_parser, main = cli_base.program("ur-central", "Ur Kiosk central module", COMMAND_MODULES, _globals, COMMANDS)
