"""Time partitions of the inbox and the audit trail (central/time_partitions.py).

On PostgreSQL (a fresh schema per test): the tables are partitioned, a replayed
message is applied once even when its row moved from the default partition into a
range made after it arrived, retention drops whole expired inbox partitions and
never the audit trail. On SQLite the same replay holds and retention does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central import applications, audit, db, ingest, kiosks, time_partitions
from central.inbox import InboxEntry
from contract import envelope, hlc, ids, topics, tracking
from tests import support


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else support.sqlite_url(tmp_path / "c.db")
    e = db.make_engine(url)
    db.init_schema(e)
    try:
        yield e
    finally:
        e.dispose()


def _hlc_at(day: date, ms_into: int = 0) -> int:
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    return hlc.pack(start + ms_into, 0)


class Kiosk:
    """Signs application envelopes as a kiosk does, with the HLC a test chooses."""

    def __init__(self, sessions: db.sessionmaker, kiosk_id: str = "K1") -> None:
        self.key = Ed25519PrivateKey.generate()
        with sessions.begin() as s:
            self.code = kiosks.register(s, kiosk_id, envelope.raw_public_hex(self.key), "", datetime.now(UTC)).kiosk_code
        self.kiosk_id = kiosk_id

    def app(self, seq: int, ts: int) -> tuple[str, bytes]:
        env = envelope.Envelope(self.kiosk_id, ids.new_id(), "applications", seq, ts, {
            "tracking": tracking.make(self.code, seq), "service_id": "svc", "catalogue_version": 1,
            "fee_total": 5000, "fields": {"n": str(seq)}, "submitted_at": datetime.now(UTC).isoformat()})
        return topics.up(self.kiosk_id, "applications"), envelope.seal(env, self.key)


def _where(engine: sa.Engine) -> list[tuple[str, str]]:
    """(message id, partition holding its inbox row), or "inbox" on SQLite."""
    with engine.connect() as c:
        if engine.dialect.name != "postgresql":
            return [(m, "inbox") for (m,) in c.execute(sa.select(InboxEntry.message_id))]
        return [(m, t) for m, t in c.execute(sa.text("SELECT message_id, tableoid::regclass::text FROM inbox"))]


def test_replay_across_a_partition_boundary_is_applied_once(engine: sa.Engine) -> None:
    S = db.sessions(engine)
    k = Kiosk(S)
    today = datetime.now(UTC).date()
    later = today + timedelta(days=time_partitions.DEFAULT_AHEAD_DAYS + 30)  # beyond every range made so far
    # The last millisecond of one day and the first of the next: two partitions once both exist.
    m1 = k.app(1, _hlc_at(later, 86_400_000 - 1))
    m2, m3 = k.app(2, _hlc_at(later + timedelta(days=1))), k.app(3, _hlc_at(later + timedelta(days=1), 5))
    assert [o.result for o in ingest.process_batch(S, [m1, m2, m3])] == ["applied"] * 3
    pg = engine.dialect.name == "postgresql"
    if pg:
        assert {t for _m, t in _where(engine)} == {"inbox__default"}
        with engine.begin() as c:
            r = time_partitions.Report()
            time_partitions.ensure_ahead(c, today, (later - today).days + 1, r)
        assert r.moved_from_default == 3
        assert sorted(t for _m, t in _where(engine)) == [
            time_partitions.partition_name(time_partitions.INBOX, later),
            time_partitions.partition_name(time_partitions.INBOX, later + timedelta(days=1)),
            time_partitions.partition_name(time_partitions.INBOX, later + timedelta(days=1))]
    # Replays, one at a time (the per-message path) and as a batch (the bulk path).
    assert [o.result for o in ingest.process_batch(S, [m1])] == ["duplicate"]
    assert [o.result for o in ingest.process_batch(S, [m3, m2, m1, m1])] == ["duplicate"] * 4
    with S() as s:
        assert applications.count(s) == 3
        assert s.scalar(sa.select(sa.func.count()).select_from(InboxEntry)) == 3
    # A new message in a range that exists is applied (and lands in its day's partition).
    assert [o.result for o in ingest.process_batch(S, [k.app(4, _hlc_at(today, 1000))])] == ["applied"]
    if pg:
        assert time_partitions.partition_name(time_partitions.INBOX, today) in {t for _m, t in _where(engine)}


@pytest.mark.postgres
def test_tables_are_partitioned_on_postgres(pg_url: str) -> None:
    e = db.make_engine(pg_url)
    try:
        db.init_schema(e)
        today = datetime.now(UTC).date()
        with e.connect() as c:
            assert time_partitions.is_partitioned(c, "inbox") and time_partitions.is_partitioned(c, "audit_log")
            names = set(time_partitions.partitions(c, time_partitions.INBOX))
            for d in range(time_partitions.DEFAULT_AHEAD_DAYS + 1):
                assert time_partitions.partition_name(time_partitions.INBOX, today + timedelta(days=d)) in names
            assert "inbox__default" in names
            assert time_partitions.partition_name(time_partitions.AUDIT, today) in set(
                time_partitions.partitions(c, time_partitions.AUDIT))
    finally:
        e.dispose()


def test_retention_drops_expired_inbox_partitions_and_keeps_the_audit(engine: sa.Engine) -> None:
    S = db.sessions(engine)
    now = datetime.now(UTC)
    old = now.date() - timedelta(days=200)
    with S.begin() as s:
        audit.append(s, "T-OLD", "clerk", "office", "note", at=now - timedelta(days=200))
        audit.append(s, "T-OLD", "clerk", "office", "note")
    if engine.dialect.name != "postgresql":
        with engine.begin() as c:
            r = time_partitions.maintain(c, now)
        assert r.note and not r.dropped
        code, out = support.run_cli_in_process(["ur-central", "--db", str(engine.url), "retention"])
        assert code == 0 and "SQLite keeps plain tables" in out, out
        return
    with engine.begin() as c:
        r = time_partitions.Report()
        time_partitions.create_partition(c, time_partitions.INBOX, old, r)
        time_partitions.create_partition(c, time_partitions.AUDIT, old.replace(day=1), r)
        row = {"kiosk_id": "K1", "stream": "applications", "seq": 1, "outcome": "applied", "reason": ""}
        c.execute(sa.insert(InboxEntry), [
            {**row, "message_id": "old", "hlc": _hlc_at(old, 10), "received_at": now - timedelta(days=200)},
            # in the default partition (a clock years behind), received long ago and just now
            {**row, "message_id": "stray-old", "hlc": 1, "received_at": now - timedelta(days=120)},
            {**row, "message_id": "stray-new", "hlc": 2, "received_at": now},
            {**row, "message_id": "new", "hlc": _hlc_at(now.date(), 10), "received_at": now}])
    url = engine.url.render_as_string(hide_password=False)
    code, out = support.run_cli_in_process(["ur-central", "--db", url, "retention", "--keep-days", "5"])
    assert code == 2 and "below 30" in out, out
    code, out = support.run_cli_in_process(["ur-central", "--db", url, "--json", "retention", "--keep-days", "90"])
    assert code == 0, out
    assert time_partitions.partition_name(time_partitions.INBOX, old) in out
    with engine.connect() as c:
        assert sorted(m for (m,) in c.execute(sa.select(InboxEntry.message_id))) == ["new", "stray-new"]
        assert time_partitions.partition_name(time_partitions.AUDIT, old.replace(day=1)) in set(
            time_partitions.partitions(c, time_partitions.AUDIT))
    with S() as s:
        assert [e["seq"] for e in audit.trail(s, "T-OLD")] == [1, 2]
        assert audit.verify(s)[1] == []
