"""`ur-central web [--listen 127.0.0.1:8080] [--workers N]`: serve the web pages with uvicorn."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any

import pyotp
from sqlalchemy import select

from central import db
from central.cli import common
from contract import cli_base
from contract.cli_base import arg, command
from contract.errors import UrError


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UrError(f"--listen {value!r} must look like 127.0.0.1:8080")
    return host.strip("[]"), int(port)


# uvicorn (0.10-0.19 s) and central.web (FastAPI and the app, ~2.5 s on this machine, both
# measured with `python -X importtime`) are imported inside the commands that serve or
# change web accounts: every other `ur-central` command would pay for them.
def _web(args: argparse.Namespace) -> int:
    import uvicorn

    host, port = parse_listen(args.listen)
    url = db.resolve_url(args.db)
    # Create the schema once here, not in each worker at the same moment.
    engine = db.make_engine(url)
    db.init_schema(engine)
    engine.dispose()
    if args.offline_after < 1:
        raise UrError("--offline-after must be at least 1 second")
    if args.rate_limit < 1:
        raise UrError("--rate-limit must be at least 1 request a minute")
    settings = {"db_url": url, "secret_file": args.secret_file, "secure_cookies": not args.insecure_cookies,
                "offline_after": args.offline_after, "public_per_minute": args.rate_limit}
    from central.web import app as web_app
    from central.web import staff

    staff.load_secret(staff.secret_path(web_app.Settings(**settings)))  # made once, before any worker
    os.environ["UR_WEB_SETTINGS"] = json.dumps(settings)
    print(f"serving on http://{host}:{port}/ (database {db.redacted_url(url)})", flush=True)
    from central.web.service_notify import WebNotifier, health_url

    notify = WebNotifier(health_url(host, port), f"serving on {host}:{port}")
    notify.start()  # READY=1 once /health answers; WATCHDOG=1 while it does (systemd only)

    def _stopped(signum: int, frame: object) -> None:
        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the
        # handler it found: this one, so the process ends with STOPPING=1 and status 0.
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, _stopped)
    try:
        uvicorn.run("central.web.app:app_from_env", factory=True, host=host, port=port, workers=args.workers,
                    log_level=args.log_level, proxy_headers=False, server_header=False, access_log=False,
                    loop="uvloop", http="httptools")  # pinned deps; named so a missing one fails loudly
    finally:
        notify.stop()
    return 0



def _password(args: argparse.Namespace) -> str:
    """From --password-file or stdin's first line: never argv (visible in ps)."""
    if args.password_file:
        with open(args.password_file, encoding="utf-8") as f:
            return f.readline().rstrip("\r\n")
    return sys.stdin.readline().rstrip("\r\n")


def _users_add(args: argparse.Namespace) -> int:
    from central.web import accounts

    with common.transaction(args) as s:
        u = accounts.add(s, args.username, args.name or args.username, args.agency, args.role, _password(args))
        out = {"username": u.username, "agency": u.agency, "role": u.role}
        if u.totp_secret:
            # Shown once, to the operator's terminal, for the person's authenticator app.
            out["totp_uri"] = pyotp.TOTP(u.totp_secret).provisioning_uri(name=u.username, issuer_name="Ur central")
    cli_base.emit(args, out)
    return 0


def _users_list(args: argparse.Namespace) -> int:
    from central.web import accounts

    with common.transaction(args) as s:
        rows: list[dict[str, Any]] = [{"username": u.username, "name": u.display_name, "agency": u.agency, "role": u.role,
                 "disabled": u.disabled, "failed_logins": u.failed_logins}
                for u in s.scalars(select(accounts.StaffUser).order_by(accounts.StaffUser.username))]
    lines = ["\t".join([r["username"], r["agency"], r["role"], *(["DISABLED"] if r["disabled"] else [])])
             for r in rows]
    cli_base.emit(args, rows, "\n".join(lines) or "no users")
    return 0


def _users_disable(args: argparse.Namespace) -> int:
    from central.web import accounts

    with common.transaction(args) as s:
        accounts.set_disabled(s, args.username, not args.enable)
    cli_base.emit(args, {"username": args.username, "disabled": not args.enable})
    return 0


def _users_reset(args: argparse.Namespace) -> int:
    from central.web import accounts

    with common.transaction(args) as s:
        accounts.reset_password(s, args.username, _password(args))
    cli_base.emit(args, {"username": args.username, "password": "reset"})
    return 0


def add_commands(sub: cli_base.Subparsers) -> None:
    command(sub, "web", _web, "serve the public pages and the staff console",
            arg("--listen", default="127.0.0.1:8080", help="HOST:PORT (default 127.0.0.1:8080)"),
            arg("--workers", type=int, default=1, help="server processes (they share only the database)"),
            arg("--secret-file", help="file holding the cookie-signing key, made 0600 if missing "
                                      "(default var/web-secret next to the database)"),
            arg("--insecure-cookies", action="store_true", help="send the staff session cookie over plain http too (a test bench without TLS)"),
            arg("--offline-after", type=int, default=180, help="seconds without a message before the fleet page shows a kiosk offline (default 180: "
                                                               "three heartbeats at the kiosk's default)"),
            arg("--rate-limit", type=int, default=120, metavar="N", help="public requests a minute per client address and route group, per serving process "
                                                                         "(default 120; behind a proxy every client has the proxy's address: raise it there)"),
            arg("--log-level", default="warning"))

    u = cli_base.group(sub, "users", "staff accounts of the web console")
    command(u, "add", _users_add, "add a person (password from --password-file or stdin)",
            arg("username"),
            arg("--name", help="full name, shown in the audit trail"),
            arg("--agency", required=True),
            arg("--role", required=True, help="clerk, registrar, letters_officer, supervisor, auditor or admin"),
            arg("--password-file"))
    command(u, "list", _users_list, "every account")
    command(u, "disable", _users_disable, "stop an account from logging in (at once, in every process)",
            arg("username"),
            arg("--enable", action="store_true", help="enable it again"))
    command(u, "reset-password", _users_reset, "new password from --password-file or stdin; clears a lock-out",
            arg("username"),
            arg("--password-file"))
