"""`ur-central web [--listen 127.0.0.1:8080] [--workers N]`: serve the web pages with uvicorn."""

from __future__ import annotations

import argparse
import json
import os

from central import db
from contract.errors import UrError


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UrError(f"--listen {value!r} must look like 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def _web(args: argparse.Namespace) -> int:
    import uvicorn

    host, port = parse_listen(args.listen)
    url = db.resolve_url(args.db)
    # Create the schema once here, not in each worker at the same moment.
    engine = db.make_engine(url)
    db.init_schema(engine)
    engine.dispose()
    settings = {"db_url": url, "secret_file": args.secret_file, "secure_cookies": not args.insecure_cookies}
    os.environ["UR_WEB_SETTINGS"] = json.dumps(settings)
    print(f"serving on http://{host}:{port}/ (database {db.redacted_url(url)})", flush=True)
    uvicorn.run("central.web.app:app_from_env", factory=True, host=host, port=port, workers=args.workers,
                log_level=args.log_level, proxy_headers=False, server_header=False, access_log=False)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("web", help="serve the public pages and the staff console")
    p.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT (default 127.0.0.1:8080)")
    p.add_argument("--workers", type=int, default=1, help="server processes (they share only the database)")
    p.add_argument("--secret-file", help="file holding the cookie-signing key, made 0600 if missing "
                                         "(default var/web-secret next to the database)")
    p.add_argument("--insecure-cookies", action="store_true",
                   help="send the staff session cookie over plain http too (a test bench without TLS)")
    p.add_argument("--log-level", default="warning")
    p.set_defaults(func=_web)
