"""Tables that stay fast (issue 18): ingest and the clerk's reads with the inbox and
the audit trail already full, partitioned by time (central/time_partitions.py)
against the same tables unpartitioned, in one run on one PostgreSQL.

Two fresh schemas: "partitioned" is made by the migrations (daily inbox
partitions by HLC, monthly audit partitions); "unpartitioned" by create_all from
the same models (plain tables, same keys and indexes). Each gets `--rows` inbox
rows and `--rows` audit entries generated in the database by generate_series
(5,000 kiosks, chains of 10 entries, spread over `--days` days), and 100,000
open cases in 20 agencies. Then, alternating between the schemas:

- ingest: real signed application envelopes from 40 kiosks through
  `ingest.process_batch` (the worker's apply path: verify, dedupe against the
  full inbox, apply, audit, inbox rows), messages per second;
- a replay of the same messages (every one a dedupe hit);
- the clerk's worklist (`casework.inbox`, a page of 50) and a case's audit trail
  (`audit.trail`, what the case page reads), p50/p95;
- retention: dropping one day of inbox rows (DROP TABLE of a partition, against
  DELETE of the same rows from the plain table).

    python -m bench.bench_tables [--rows 500000] [--days 60] [--messages 4000]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.table import print_table
from central import audit, casework, db, ingest, kiosks, time_partitions, workflows
from contract import envelope, hlc, ids, topics, tracking

PG = os.environ.get("UR_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
KIOSKS = 5000
CASES = 100_000
AGENCIES = 20
CHUNK = 2_000_000


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * p / 100))]


def _state_json(now: datetime) -> str:
    step = workflows.Step("review", "A0", "clerk", 72.0, "A0-sup", ("approve", "reject", "request_info"))
    case = workflows.Case("N", "service", "wf", (step,), 0, workflows.IN_REVIEW, "A0", "clerk", now,
                          now + timedelta(hours=72))
    return case.to_json().replace("'", "''")


def _fill(engine: sa.Engine, rows: int, days: int, now: datetime) -> float:
    """Inbox, audit and cases rows generated in the database; seconds taken."""
    t0 = time.perf_counter()
    start = now - timedelta(days=days)
    start_ms = int(start.timestamp() * 1000)
    step_ms = max(1, days * 86_400_000 // max(rows, 1))
    subjects = max(1, rows // 10)
    for lo in range(0, rows, CHUNK):
        hi = min(rows, lo + CHUNK) - 1
        with engine.begin() as c:
            c.exec_driver_sql("SET LOCAL synchronous_commit = off")
            c.exec_driver_sql(
                "INSERT INTO inbox (kiosk_id, message_id, stream, seq, hlc, received_at, outcome, reason) "
                f"SELECT 'K' || (g %% {KIOSKS}), lpad(to_hex(g), 36, '0'), 'applications', g / {KIOSKS} + 1, "
                f"({start_ms}::bigint + g::bigint * {step_ms}) << 16, "
                f"to_timestamp(({start_ms}::bigint + g::bigint * {step_ms}) / 1000.0), 'applied', '' "
                f"FROM generate_series({lo}, {hi}) g")
            c.exec_driver_sql(
                "INSERT INTO audit_log (subject, seq, at, actor, origin, action, data, prev_hash, hash) "
                f"SELECT 'S' || (g %% {subjects}), g / {subjects} + 1, "
                f"to_char(to_timestamp(({start_ms}::bigint + g::bigint * {step_ms}) / 1000.0) AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00', 'clerk 17', 'Office 3', 'approve', '{}', "
                "lpad(to_hex(g), 64, '0'), lpad(to_hex(g + 1), 64, '0') "
                f"FROM generate_series({lo}, {hi}) g")
    state = _state_json(now)
    with engine.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO cases (number, subject, service_id, workflow, status, agency, role, sla_due, escalated, "
            "state, updated_at) "
            f"SELECT 'C' || g, 'S' || g, 'svc', 'wf', '{workflows.IN_REVIEW}', 'A' || (g %% {AGENCIES}), 'clerk', "
            f"now() + (g %% 500 - 50) * interval '1 hour', false, '{state}', now() "
            f"FROM generate_series(1, {CASES}) g")
        for t in ("inbox", "audit_log", "cases"):
            c.exec_driver_sql(f"ANALYZE {t}")
    return time.perf_counter() - t0


class Fleet:
    """40 enrolled kiosks signing real application envelopes (no network)."""

    def __init__(self, sessions: db.sessionmaker, tag: str, n: int = 40) -> None:
        self.keys = {f"KB{tag}{i}": Ed25519PrivateKey.generate() for i in range(n)}
        self.codes: dict[str, int] = {}
        with sessions.begin() as s:
            for k, key in self.keys.items():
                self.codes[k] = kiosks.register(s, k, envelope.raw_public_hex(key), "", datetime.now(UTC)).kiosk_code
        self.seq = dict.fromkeys(self.keys, 0)

    def batches(self, per_kiosk: int, batch: int) -> list[list[tuple[str, bytes]]]:
        items: list[tuple[str, bytes]] = []
        for _ in range(per_kiosk):
            for k, key in self.keys.items():
                self.seq[k] += 1
                n = self.seq[k]
                ts = hlc.pack(int(time.time() * 1000), 0)
                env = envelope.Envelope(k, ids.new_id(), "applications", n, ts, {
                    "tracking": tracking.make(self.codes[k], n), "service_id": "svc", "catalogue_version": 1,
                    "fee_total": 5000, "fields": {"n": str(n)}, "submitted_at": datetime.now(UTC).isoformat()})
                items.append((topics.up(k, "applications"), envelope.seal(env, key)))
        return [items[i:i + batch] for i in range(0, len(items), batch)]


def _ingest(sessions: dict[str, db.sessionmaker], batches: dict[str, list[list[tuple[str, bytes]]]],
            want: str) -> dict[str, float]:
    """Messages per second per schema; batch by batch in turn, so machine load hits both
    alike; each schema's first batch is a warm-up (connections, key cache) and not counted."""
    spent = dict.fromkeys(sessions, 0.0)
    count = dict.fromkeys(sessions, 0)
    for i in range(len(next(iter(batches.values())))):
        for name, S in sessions.items():
            b = batches[name][i]
            t0 = time.perf_counter()
            out = ingest.process_batch(S, b)
            if i:
                spent[name] += time.perf_counter() - t0
                count[name] += len(b)
            assert all(o.result == want for o in out), {o.result for o in out}
    return {name: count[name] / spent[name] for name in sessions}


def _reads(sessions: dict[str, db.sessionmaker], rounds: int, subjects: int,
           seed: int) -> dict[str, tuple[list[float], list[float]]]:
    """Worklist pages and audit trails, the same random agencies and subjects on both schemas, in turn."""
    rng = random.Random(seed)
    out: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in sessions}
    opened = {name: S() for name, S in sessions.items()}
    try:
        for r in range(rounds + 20):
            agency, subject = f"A{rng.randrange(AGENCIES)}", f"S{rng.randrange(subjects)}"
            for name, s in opened.items():
                t0 = time.perf_counter()
                page = casework.inbox(s, agency, limit=50)
                t1 = time.perf_counter()
                tr = audit.trail(s, subject)
                t2 = time.perf_counter()
                assert len(page) == 50 and tr
                s.rollback()
                if r >= 20:  # the first 20 warm caches and connections
                    out[name][0].append((t1 - t0) * 1e3)
                    out[name][1].append((t2 - t1) * 1e3)
    finally:
        for s in opened.values():
            s.close()
    return out


def _drop_one_day(engine: sa.Engine, partitioned: bool, day: datetime) -> tuple[float, int]:
    lo = hlc.pack(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000), 0)
    hi = hlc.pack(int((datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)).timestamp() * 1000), 0)
    t0 = time.perf_counter()
    with engine.begin() as c:
        n = c.exec_driver_sql(f"SELECT count(*) FROM inbox WHERE hlc >= {lo} AND hlc < {hi}").scalar() or 0
        t0 = time.perf_counter()
        if partitioned:
            c.exec_driver_sql(f'DROP TABLE "{time_partitions.partition_name(time_partitions.INBOX, day.date())}"')
        else:
            c.exec_driver_sql(f"DELETE FROM inbox WHERE hlc >= {lo} AND hlc < {hi}")
    return time.perf_counter() - t0, n


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="bench_tables", description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=500_000, help="inbox rows and audit entries each (default 500k: make bench)")
    ap.add_argument("--days", type=int, default=60, help="days the generated rows span (default 60)")
    ap.add_argument("--messages", type=int, default=4000, help="messages ingested per schema (default 4000)")
    a = ap.parse_args(argv or [])
    dsn = PG.replace("postgresql+psycopg://", "postgresql://")
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except Exception as err:  # noqa: BLE001 - report, do not fail the other benches
        print_table("bench_tables", [("tables", "n/a", "", "", f"PostgreSQL unavailable: {err}")])
        return
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:8]
    schemas = {"partitioned": f"bench_part_{tag}", "unpartitioned": f"bench_flat_{tag}"}
    engines: dict[str, sa.Engine] = {}
    rows: list[tuple[object, ...]] = []
    try:
        with psycopg.connect(dsn, autocommit=True) as c:
            for sch in schemas.values():
                c.execute(f'CREATE SCHEMA "{sch}"')
        for name, sch in schemas.items():
            e = engines[name] = db.make_engine(f"{PG}{'&' if '?' in PG else '?'}options=-csearch_path%3D{sch}")
            if name == "partitioned":
                db.init_schema(e)
                with e.begin() as c:
                    time_partitions.ensure_ahead(c, now.date(), time_partitions.DEFAULT_AHEAD_DAYS,
                                                 time_partitions.Report(), since=(now - timedelta(days=a.days + 1)).date())
            else:
                db.load_models()
                db.Base.metadata.create_all(e)
        fill = {name: _fill(e, a.rows, a.days, now) for name, e in engines.items()}
        for name in engines:
            rows.append((f"fill {a.rows:,} inbox + {a.rows:,} audit rows, {name}", fill[name], "s", "-",
                         "generate_series in the database, indexes in place"))
        sessions = {name: db.sessions(e) for name, e in engines.items()}
        fleets = {name: Fleet(sessions[name], str(i)) for i, name in enumerate(engines)}
        per_kiosk = max(1, a.messages // 40)
        batches = {name: f.batches(per_kiosk, 200) for name, f in fleets.items()}
        rate = _ingest(sessions, batches, "applied")
        again = _ingest(sessions, batches, "duplicate")
        reads = _reads(sessions, 300, max(1, a.rows // 10), 7)
        size = {}
        for name, e in engines.items():
            with e.connect() as c:
                size[name] = c.exec_driver_sql(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    f"WHERE c.relnamespace = '{schemas[name]}'::regnamespace AND c.relkind = 'r'").scalar() or 0
        drop_day = now - timedelta(days=a.days // 2)
        drop = {name: _drop_one_day(e, name == "partitioned", drop_day) for name, e in engines.items()}
        load = os.getloadavg()
        for name in engines:
            rows.append((f"ingest through process_batch, {name}", rate[name], "msg/s", "-",
                         f"{per_kiosk * 40:,} signed applications (first batch of 200 a warm-up), 40 kiosks"))
        for name in engines:
            rows.append((f"replay (all duplicates), {name}", again[name], "msg/s", "-", "dedupe against the full inbox"))
        for name in engines:
            ib, tr = reads[name]
            rows.append((f"clerk worklist page p50/p95, {name}", f"{statistics.median(ib):.2f}/{_pct(ib, 95):.2f}",
                         "ms", "-", f"casework.inbox limit 50, {CASES:,} open cases, 300 rounds in turn"))
            rows.append((f"case audit trail p50/p95, {name}", f"{statistics.median(tr):.2f}/{_pct(tr, 95):.2f}",
                         "ms", "-", "audit.trail of a random subject (10 entries)"))
        for name in engines:
            t, n = drop[name]
            rows.append((f"retention: remove one day ({n:,} inbox rows), {name}", t * 1e3, "ms", "-",
                         "DROP TABLE of the partition" if name == "partitioned" else "DELETE of the rows"))
        for name in engines:
            rows.append((f"schema size, {name}", round(size[name] / 2**30, 3), "GiB", "-", "tables + indexes + TOAST"))
        rows.append(("machine load average (1 min)", f"{load[0]:.1f}", "", "-",
                     f"{os.cpu_count()} cores shared with other work"))
    finally:
        for e in engines.values():
            e.dispose()
        with psycopg.connect(dsn, autocommit=True) as c:
            for sch in schemas.values():
                c.execute(f'DROP SCHEMA IF EXISTS "{sch}" CASCADE')
    print_table(f"bench_tables: {a.rows:,} rows in inbox and audit each, over {a.days} days", rows)


if __name__ == "__main__":
    main(sys.argv[1:])
