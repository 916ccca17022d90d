"""`ur-central init | serve | kiosks ... | stats`: setting up central and running workers."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from central import (
    applications,
    catalogue,
    datasets,
    db,
    key_migration,
    keys,
    kiosks,
    pki,
    registry,
    router,
)
from central.cli import common
from central.cli import enrollment as enrollment_cli
from central.inbox import InboxEntry, RejectCount
from central.router import WorkerNotes
from central.worker import QUIET_S, Worker
from contract import cli_base, mqtt_conn, private_files
from contract.cli_base import arg, command
from contract.errors import UrError

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"


def add_commands(sub: cli_base.Subparsers) -> None:
    command(sub, "init", cmd_init, "create the schema and load the seed catalogue")

    command(sub, "serve", cmd_serve, "run an ingest worker (several may run at once)",
            arg("--broker", default=DEFAULT_BROKER, help="mqtt://HOST:PORT or mqtts://..."),
            arg("--worker-id", help="client id and lease owner, fixed across restarts (default: central-HOSTNAME)"),
            arg("--no-router", action="store_true", help="route new applications (start workflows) inside the worker instead of a child process"))

    command(sub, "route", cmd_route, "run an application router (serve starts one by itself)",
            arg("--from-worker", action="store_true", help=argparse.SUPPRESS))

    k = cli_base.group(sub, "kiosks", "enroll, revoke and list kiosks", dest="sub")
    enrollment_cli.add_kiosk_commands(k)  # enroll | sign | revoke (CSR-style, central/cli/enrollment.py)
    command(k, "list", cmd_kiosks_list, "kiosks with last seen, clock skew and heartbeat")

    command(sub, "broker-tls", cmd_broker_tls, "write CA, server and worker certificates, ACL, CRL and a TLS listener config",
            arg("--out", required=True, help="directory for the files"),
            arg("--port", type=int, default=8883),
            arg("--workers", type=int, default=4, help="worker identities to issue (central, central-2, ...): one per `serve` process"))

    command(sub, "stats", cmd_stats, "applications held, inbox entries, rejected uplink by reason")



def cmd_init(args: argparse.Namespace) -> int:
    engine = db.make_engine(args.db)
    moved = key_migration.migrate(engine)  # an older database's raw keys go into the token
    db.init_schema(engine)
    with db.sessions(engine).begin() as s:
        version = catalogue.publish(s, catalogue.load_seed())
        # Document keys and the signed lists exist from day one, so kiosks can verify.
        now = int(time.time())
        keys.ensure(s, now)
        if datasets.latest(s, "status_list") is None:
            registry.publish_status(s, now)
    shown = db.redacted_url(db.resolve_url(args.db))  # never print the password
    note = f"; moved private keys into the token: {', '.join(moved)}" if moved else ""
    cli_base.emit(args, {"database": shown, "catalogue_version": version, "keys_moved_into_token": moved},
                  f"central ready at {shown} (catalogue v{version}){note}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    mqtt_conn.parse_url(args.broker)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    common.engine(args).dispose()
    router = None
    # SQLite has one writer at a time: a router process would only fight the worker
    # for the lock, so on SQLite the worker routes between its batches itself.
    if not args.no_router and not db.resolve_url(args.db).startswith("sqlite"):
        # Workflow starts run beside the worker (central/router.py): acks never wait for them.
        # The URL (password included) goes by environment, not argv: argv is world-readable in ps.
        router = subprocess.Popen([sys.executable, "-m", "central.cli", "route", "--from-worker"],
                                  stdin=subprocess.PIPE, env={**os.environ, "UR_CENTRAL_DB": db.resolve_url(args.db)})
    try:
        notes = WorkerNotes(router.stdin, QUIET_S / 2) if router is not None and router.stdin else None
        Worker(args.db, args.broker, args.worker_id, route_inline=router is None, router_notes=notes).run()
    finally:
        if router is not None:
            router.terminate()
            router.wait(10)
    return 0


def cmd_route(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    common.engine(args).dispose()
    router.run(args.db, sys.stdin.buffer if args.from_worker else None)
    return 0


def cmd_broker_tls(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise UrError(f"--port {args.port} is not a TCP port")
    out = Path(args.out)
    users = pki.worker_users(args.workers)
    with db.sessions(common.engine(args)).begin() as s:
        try:
            files = pki.broker_files(s, out, args.port, workers=args.workers)
            urls = []
            for user in users:
                cert, key = pki.issue(s, user)
                (out / f"{user}.crt").write_text(cert)
                private_files.write_private(out / f"{user}.key", key)
                urls.append(f"mqtts://127.0.0.1:{args.port}?ca={files['ca']}&cert={out / f'{user}.crt'}"
                            f"&key={out / f'{user}.key'}")
        except OSError as e:
            raise UrError(f"cannot write broker files in {out}: {e.strerror}") from None
    url = urls[0]
    cli_base.emit(args, {"listener_config": str(files["conf"]), "worker_broker_url": url,
                         "worker_broker_urls": urls, "crl": str(files["crl"])},
                  f"include {files['conf']} in mosquitto.conf (and no plain listener, allow_anonymous false); "
                  f"the first worker uses --broker '{url}', each further one its own of: "
                  + " ".join(urls[1:]) + f"; `ur-central kiosks revoke K` rewrites {files['crl']}, "
                                         "which Mosquitto reads again on SIGHUP (kill -HUP <mosquitto pid>)")
    return 0


def cmd_kiosks_list(args: argparse.Namespace) -> int:
    with db.sessions(common.engine(args))() as s:
        rows = [{"kiosk_id": k.kiosk_id, "code": k.kiosk_code, "office": k.office,
                 "last_seen": k.last_seen.isoformat() if k.last_seen else None,
                 "clock_skew_s": round(k.clock_skew_ms / 1000, 1),
                 "skew_alarm": abs(k.clock_skew_ms) > kiosks.SKEW_ALARM_MS,
                 "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                 "heartbeat": json.loads(k.heartbeat or "{}")}
                for k in s.scalars(select(kiosks.Kiosk).order_by(kiosks.Kiosk.kiosk_id))]
    if args.json:
        cli_base.emit(args, rows)
    else:
        for r in rows:
            flag = ("  CLOCK SKEW" if r["skew_alarm"] else "") + ("  REVOKED" if r["revoked_at"] else "")
            print(f"{r['kiosk_id']}  code {r['code']}  last seen {r['last_seen']}  skew {r['clock_skew_s']}s{flag}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    with db.sessions(common.engine(args))() as s:
        data = {
            "applications": applications.count(s),
            "inbox": int(s.scalar(select(func.count()).select_from(InboxEntry)) or 0),
            "rejected": {r.code: r.count for r in s.scalars(select(RejectCount))},
        }
    cli_base.emit(args, data)
    return 0
