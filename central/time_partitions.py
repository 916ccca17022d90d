"""Time partitions of central's append-heavy tables on PostgreSQL, and retention.

Why: with 5,000 kiosks the uplink inbox and the audit trail grow by millions of
rows a week. Partitioned by time, old inbox rows go by dropping a whole partition
(no DELETE, no bloat, no vacuum debt), each partition's indexes stay small, and
the audit trail's old months are never written again (frozen once by vacuum).
SQLite keeps plain tables: everything here does nothing there.

- `inbox` is partitioned by RANGE(hlc), one partition per UTC day of the
  kiosk's hybrid clock (milliseconds << 16). The HLC is signed into the
  envelope with the message id when the kiosk enqueues it, so a message and
  every replay of it carry the same HLC: they land in the same partition, and
  the exactly-once key `UNIQUE(kiosk_id, message_id, hlc)`, which must include
  the partition key, still refuses the replay, whenever it arrives (see
  docs/scaling.md, "Time partitions"). Inbox rows are droppable after
  `keep_days` (default 90): a replay of a message older than that would be
  applied again, so keep_days must exceed the longest a kiosk can go without
  hearing its ack (the kiosk resends until acked).
- `audit_log` is partitioned by RANGE(at) (ISO text, UTC), one partition per
  month, and never dropped: retention skips it by design.
- Each table has a DEFAULT partition for rows outside every range (a kiosk
  whose clock is years off, an old message from a kiosk offline for months).
  Creating a range moves the default partition's rows of that range into it
  first, so a straggler never blocks the next day's partition. Inbox rows in
  the default partition are deleted by `received_at` with the same retention.

`maintain` (the `ur-central partitions maintain` command, run daily by
ur-central-partitions.timer) creates the partitions `ahead_days` ahead and
drops the inbox partitions wholly older than `keep_days`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, text

from contract import hlc

DEFAULT_KEEP_DAYS = 90
DEFAULT_AHEAD_DAYS = 14
MIN_KEEP_DAYS = 30  # below this a kiosk offline for a month could have a replay applied twice


@dataclass(frozen=True)
class Spec:
    """How one table is partitioned: its key column, daily or monthly ranges, and
    whether old partitions may be dropped (never for the audit trail)."""
    table: str
    key: str
    monthly: bool
    droppable: bool


INBOX = Spec("inbox", "hlc", monthly=False, droppable=True)
AUDIT = Spec("audit_log", "at", monthly=True, droppable=False)
SPECS = (INBOX, AUDIT)


def period_start(spec: Spec, day: date) -> date:
    return day.replace(day=1) if spec.monthly else day


def next_period(spec: Spec, start: date) -> date:
    if not spec.monthly:
        return start + timedelta(days=1)
    return date(start.year + (start.month == 12), start.month % 12 + 1, 1)


def partition_name(spec: Spec, start: date) -> str:
    return f"{spec.table}__p{start:%Y%m}" if spec.monthly else f"{spec.table}__p{start:%Y%m%d}"


def default_name(spec: Spec) -> str:
    return f"{spec.table}__default"


def parse_start(spec: Spec, name: str) -> date | None:
    """The first day a partition of `spec` named `name` holds (None: not one of ours)."""
    prefix = f"{spec.table}__p"
    digits = name[len(prefix):]
    if not name.startswith(prefix) or not digits.isdigit() or len(digits) != (6 if spec.monthly else 8):
        return None
    try:
        return datetime.strptime(digits + ("01" if spec.monthly else ""), "%Y%m%d").date()
    except ValueError:
        return None


def bound(spec: Spec, day: date) -> str:
    """The key value where `day` begins, as an SQL literal."""
    if spec.key == "hlc":
        ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        return str(hlc.pack(ms, 0))
    return f"'{day.isoformat()}T00:00:00'"


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    moved_from_default: int = 0
    deleted_from_default: int = 0
    note: str = ""


def is_partitioned(conn: Connection, table: str) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    return bool(conn.execute(text(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "WHERE c.relname = :t AND c.relnamespace = current_schema()::regnamespace"), {"t": table}).first())


def partitions(conn: Connection, spec: Spec) -> list[str]:
    """Names of `spec.table`'s partitions in the current schema, default included."""
    rows = conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE p.relname = :t AND p.relnamespace = current_schema()::regnamespace ORDER BY c.relname"),
        {"t": spec.table})
    return [r[0] for r in rows]


def create_partition(conn: Connection, spec: Spec, start: date, report: Report) -> None:
    """Add the range beginning `start`, taking over the default partition's rows of
    that range (a plain CREATE ... PARTITION OF would fail while any are there)."""
    name, lo, hi = partition_name(spec, start), bound(spec, start), bound(spec, next_period(spec, start))
    t, k = spec.table, spec.key
    conn.execute(text(f'CREATE TABLE "{name}" (LIKE "{t}" INCLUDING DEFAULTS)'))
    moved = conn.execute(text(
        f'WITH moved AS (DELETE FROM "{default_name(spec)}" WHERE "{k}" >= {lo} AND "{k}" < {hi} RETURNING *) '
        f'INSERT INTO "{name}" SELECT * FROM moved'))
    report.moved_from_default += moved.rowcount or 0
    conn.execute(text(f'ALTER TABLE "{t}" ATTACH PARTITION "{name}" FOR VALUES FROM ({lo}) TO ({hi})'))
    report.created.append(name)


def ensure_ahead(conn: Connection, today: date, ahead_days: int, report: Report,
                 since: date | None = None) -> None:
    """Every period from `since` (default: today's) to `ahead_days` after today has its partition."""
    for spec in SPECS:
        if not is_partitioned(conn, spec.table):
            continue
        have = set(partitions(conn, spec))
        if default_name(spec) not in have:
            conn.execute(text(f'CREATE TABLE "{default_name(spec)}" PARTITION OF "{spec.table}" DEFAULT'))
        start = period_start(spec, since or today)
        last = today + timedelta(days=ahead_days)
        while start <= last:
            if partition_name(spec, start) not in have:
                create_partition(conn, spec, start, report)
            start = next_period(spec, start)


def drop_expired(conn: Connection, today: date, keep_days: int, report: Report) -> None:
    """Drop droppable partitions wholly older than `keep_days`, and delete the default
    partition's rows received before then. Never touches the audit trail."""
    cutoff = today - timedelta(days=keep_days)
    for spec in SPECS:
        if not spec.droppable or not is_partitioned(conn, spec.table):
            continue
        for name in partitions(conn, spec):
            start = parse_start(spec, name)
            if start is not None and next_period(spec, start) <= cutoff:
                conn.execute(text(f'DROP TABLE "{name}"'))
                report.dropped.append(name)
        gone = conn.execute(text(f'DELETE FROM "{default_name(spec)}" WHERE received_at < :c'),
                            {"c": datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC)})
        report.deleted_from_default += gone.rowcount or 0


def maintain(conn: Connection, now: datetime, keep_days: int = DEFAULT_KEEP_DAYS,
             ahead_days: int = DEFAULT_AHEAD_DAYS) -> Report:
    """Create partitions ahead and drop expired ones, in the caller's transaction."""
    report = Report()
    if conn.dialect.name != "postgresql":
        report.note = "SQLite keeps plain tables: nothing to partition or drop"
        return report
    today = now.astimezone(UTC).date()
    ensure_ahead(conn, today, ahead_days, report)
    drop_expired(conn, today, keep_days, report)
    return report
