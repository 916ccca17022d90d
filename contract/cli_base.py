"""The command-line shell both `ur-kiosk` and `ur-central` share.

Bad arguments and `UrError`s come out as one line on stderr with exit 2; no
command ever shows a traceback to a technician or clerk.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from contract.errors import UrError


class Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as one line and exit 2 (its usual code)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build(prog: str, description: str, modules: Sequence[str],
          globals_: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    p = Parser(prog=prog, description=description)
    globals_(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in modules:
        importlib.import_module(name).add_commands(sub)
    return p


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UrError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def emit(args: argparse.Namespace, data: Any, text: str | None = None) -> None:
    """Print `data` as JSON with --json, else `text` (or a plain rendering of data)."""
    if getattr(args, "json", False):
        print(json.dumps(data, ensure_ascii=False, sort_keys=True, default=str))
    elif text is not None:
        print(text)
    elif isinstance(data, dict):
        for k, v in data.items():
            print(f"{k}: {v}")
    else:
        print(data)
