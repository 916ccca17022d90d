"""The command-line shell both `ur-kiosk` and `ur-central` share.

Bad arguments and `UrError`s come out as one line on stderr with exit 2; no
command ever shows a traceback to a technician or clerk.
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, Protocol, TypeAlias

from contract.errors import UrError


class Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as one line and exit 2 (its usual code)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


class _BadArguments(Exception):
    pass


class _Silent(argparse.ArgumentParser):
    """A parser that only looks: bad arguments raise instead of printing."""

    def error(self, message: str) -> NoReturn:
        raise _BadArguments(message)


# One add_argument call as data: its flags and options (see `arg` and `command`).
Arg: TypeAlias = tuple[tuple[str, ...], dict[str, Any]]
# A set of options several commands share (e.g. the card terminal's): adds them to a parser.
OptionSet: TypeAlias = Callable[[argparse.ArgumentParser], None]
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler: TypeAlias = Callable[[argparse.Namespace], int]


def arg(*flags: str, **options: Any) -> Arg:
    """`arg("--date", help=...)`: what `parser.add_argument` takes, for `command`."""
    return flags, options


def group(sub: Subparsers, name: str, help: str, dest: str | None = None,
          **options: Any) -> Subparsers:
    """A command group (`ur-kiosk payments list`): its parser, and the sub-parsers its
    commands go into. `dest` names the missing command in the usage error."""
    p = sub.add_parser(name, help=help)
    return p.add_subparsers(dest=dest or f"{name.replace('-', '_')}_cmd", required=True,
                            parser_class=Parser, **options)


def command(sub: Subparsers, name: str, func: Handler, help: str | None,
            *args: Arg | OptionSet) -> argparse.ArgumentParser:
    """One command: its options (each an `arg(...)` or a shared option set) and its handler.
    Returns the parser for anything unusual (mutually exclusive groups ...). Without a
    help text the command is left out of its group's list (argparse's way to hide one)."""
    p = sub.add_parser(name, help=help) if help is not None else sub.add_parser(name)
    for a in args:
        if callable(a):
            a(p)
        else:
            p.add_argument(*a[0], **a[1])
    p.set_defaults(func=func)
    return p


def read_secret(env: str, prompt: str) -> str:
    """A PIN, password or one-time code: from $`env`, else the first line of a pipe, else
    asked without echo. Never an argument: argv shows in the process list."""
    value = os.environ.get(env)
    if value is not None:
        return value
    if not sys.stdin.isatty():
        return sys.stdin.readline().strip()
    return getpass.getpass(prompt)


class Main(Protocol):
    def __call__(self, argv: Sequence[str] | None = None) -> int: ...


def program(prog: str, description: str, modules: Sequence[str], globals_: OptionSet,
            commands: Mapping[str, str] | None = None) -> tuple[Callable[[], argparse.ArgumentParser], Main]:
    """`build_parser` and `main` of a program whose command groups live in `modules`
    (each exposes `add_commands(subparsers)`).

    `commands` (top-level command -> the module in `modules` that adds it) lets `main`
    import only that module: every module with its imports is most of a start-up (a
    kiosk's ~0.9 s of CPU; `ur-kiosk letters` alone ~0.3 s). A command not in it, or
    no command (`--help`, a typo), builds the whole parser as before."""

    def build_parser() -> argparse.ArgumentParser:
        return build(prog, description, modules, globals_)

    def main(argv: Sequence[str] | None = None) -> int:
        argv = list(sys.argv[1:] if argv is None else argv)
        module = (commands or {}).get(command_named(argv, globals_) or "", "")
        parser = build(prog, description, [module] if module in modules else modules, globals_)
        return run(parser, argv)

    return build_parser, main


def command_named(argv: Sequence[str], globals_: OptionSet) -> str | None:
    """The top-level command in `argv` (the first word after the global options), read
    the way the full parser reads it; None when there is none or the options are bad."""
    pre = _Silent(add_help=False)
    globals_(pre)
    pre.add_argument("--json", action="store_true")
    pre.add_argument("command", nargs="?")
    try:
        known, _rest = pre.parse_known_args(argv)
    except _BadArguments:  # the full parser says what is wrong
        return None
    return known.command if isinstance(known.command, str) else None


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
