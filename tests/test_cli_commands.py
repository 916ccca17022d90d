"""Each CLI imports only the module of the command it runs (contract.cli_base.program):
the COMMANDS maps of `ur-kiosk` and `ur-central` name, for every top-level command,
the module that adds it, and a command started that way parses and runs as with the
whole parser."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from types import ModuleType

import pytest

from central import cli as central_cli
from contract import cli_base
from kiosk import cli as kiosk_cli
from tests.support import REPO


def registered(module: str) -> list[str]:
    """The top-level commands `module` adds."""
    p = cli_base.Parser(prog="x")
    sub = p.add_subparsers(dest="command", parser_class=cli_base.Parser)
    importlib.import_module(module).add_commands(sub)
    return list(sub.choices)


@pytest.mark.parametrize("entry", [kiosk_cli, central_cli], ids=["ur-kiosk", "ur-central"])
def test_every_command_maps_to_the_module_that_adds_it(entry: ModuleType) -> None:
    actual = {name: module for module in entry.COMMAND_MODULES for name in registered(module)}
    assert entry.COMMANDS == actual, "COMMANDS in " + entry.__name__ + " must read: " + repr(actual)


def test_the_command_word_is_found_after_the_global_options() -> None:
    def globals_(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data")

    assert cli_base.command_named(["--data", "pay", "payments", "list"], globals_) == "payments"
    assert cli_base.command_named(["--data=x", "--json", "pay", "fine:F-1"], globals_) == "pay"
    assert cli_base.command_named(["letters", "--data", "x"], globals_) == "letters"
    assert cli_base.command_named(["--help"], globals_) is None
    assert cli_base.command_named(["--data"], globals_) is None  # bad: the full parser says so
    assert cli_base.command_named([], globals_) is None


def test_a_command_imports_only_its_module_and_help_still_lists_all() -> None:
    code = ("import sys\nfrom kiosk.cli import main\n"
            "try:\n    main(['letters', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('kiosk.cli.')))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "['kiosk.cli.letters']", r.stdout
    out = subprocess.run([sys.executable, "-m", "kiosk.cli", "--help"], cwd=REPO, capture_output=True,
                         text=True, timeout=60).stdout
    assert all(name in out for name in kiosk_cli.COMMANDS), out
    bad = subprocess.run([sys.executable, "-m", "central.cli", "nonsense"], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "invalid choice" in bad.stderr, bad.stderr
    assert "'apps'" in bad.stderr  # the whole parser's choices
