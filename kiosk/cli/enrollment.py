"""`ur-kiosk enroll-request`: the kiosk's half of CSR-style enrollment.

The technician runs it with the kiosk id and the one-time code central issued
(`ur-central kiosks enroll K`); the kiosk makes its own keys and writes a
request for `ur-central kiosks sign`. The code is read from a file or typed
(stdin), never taken from the command line: argv is visible to every local
user in `ps`. Then `ur-kiosk init --bundle` installs central's answer.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from contract import cli_base, enrollment, private_files
from contract.cli_base import arg, command
from contract.errors import UrError
from kiosk import identity
from kiosk.context import open_store


def add_commands(sub: cli_base.Subparsers) -> None:
    command(sub, "enroll-request", cmd_request, "make this kiosk's keys and an enrollment request for central",
            arg("--kiosk", required=True, help="the kiosk id central issued the code for"),
            arg("--out", required=True, help="request file to hand to `ur-central kiosks sign`"),
            arg("--code-file", help="file holding the one-time code (default: read it from stdin)"))


def _read_code(args: argparse.Namespace) -> str:
    if args.code_file:
        try:
            return Path(args.code_file).read_text()[:200]
        except OSError as e:
            raise UrError(f"cannot read code file {args.code_file}: {e.strerror}") from None
    if sys.stdin.isatty():
        return getpass.getpass("enrollment code: ")
    return sys.stdin.readline()[:200]


def cmd_request(args: argparse.Namespace) -> int:
    code = _read_code(args)
    store = open_store(args)
    req = identity.make_request(store, args.kiosk, code)
    out = Path(args.out)
    try:
        private_files.write_private(out, json.dumps(req, indent=1))
    except OSError as e:
        raise UrError(f"cannot write request {out}: {e.strerror}") from None
    fp = enrollment.key_fingerprint(str(req["envelope_public_key"]))
    cli_base.emit(args, {"kiosk_id": args.kiosk, "request": str(out), "key_fingerprint": fp},
                  f"enrollment request for kiosk {args.kiosk} written to {out} (key {fp}); "
                  f"central: ur-central kiosks sign {out} --out BUNDLE; then: ur-kiosk init --bundle BUNDLE")
    return 0
