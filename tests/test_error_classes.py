"""Errors classified by what they are, not by their text.

- retry decisions by SQLSTATE, from real PostgreSQL errors (a real deadlock
  between two connections, a real serialization failure); SQLite's busy lock by
  its error code;
- ingest's bulk path logs why it falls back, and does not fall back when the
  database itself fails (a real statement timeout);
- ValidationError carries (field, code, message) problems, str() stays readable;
- the HLC does not go back after 65,536 events with the clock behind.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from central import applications, db, ingest
from contract import hlc, sqlite_pragmas
from contract.errors import Problem, UrError, ValidationError
from tests.test_ingest import FakeKioskSigner


@pytest.fixture
def pg(pg_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as c:
        c.execute(sa.text("CREATE TABLE t (id int PRIMARY KEY, v int)"))
        c.execute(sa.text("INSERT INTO t VALUES (1, 0), (2, 0)"))
    try:
        yield engine
    finally:
        engine.dispose()


def test_serialization_failure_is_retryable_and_a_duplicate_is_not(pg: sa.Engine) -> None:
    with pg.connect() as a, pg.connect() as b:
        a.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        a.execute(sa.text("SELECT v FROM t WHERE id = 1")).scalar()  # a's snapshot
        b.execute(sa.text("UPDATE t SET v = 1 WHERE id = 1"))
        b.commit()
        with pytest.raises(OperationalError) as e:
            a.execute(sa.text("UPDATE t SET v = 2 WHERE id = 1"))
        a.rollback()
    assert db.sqlstate(e.value) == "40001" and db.is_retryable(e.value)
    with pg.connect() as c, pytest.raises(IntegrityError) as dup:
        c.execute(sa.text("INSERT INTO t VALUES (1, 0)"))
    assert db.sqlstate(dup.value) == "23505" and not db.is_retryable(dup.value)
    assert not db.is_retryable(UrError("deadlock detected"))  # the text alone means nothing


def test_deadlock_between_two_connections_is_retryable(pg: sa.Engine) -> None:
    errors: list[BaseException] = []

    def locker(conn: sa.Connection, first: int, second: int, locked: threading.Event,
               other_locked: threading.Event) -> None:
        try:
            conn.execute(sa.text("SET deadlock_timeout = '100ms'"))
            conn.execute(sa.text("UPDATE t SET v = v + 1 WHERE id = :i"), {"i": first})
            locked.set()
            other_locked.wait(10)
            conn.execute(sa.text("UPDATE t SET v = v + 1 WHERE id = :i"), {"i": second})
            conn.commit()
        except DBAPIError as e:
            errors.append(e)
            conn.rollback()

    with pg.connect() as a, pg.connect() as b:
        la, lb = threading.Event(), threading.Event()
        ta = threading.Thread(target=locker, args=(a, 1, 2, la, lb))
        tb = threading.Thread(target=locker, args=(b, 2, 1, lb, la))
        ta.start()
        tb.start()
        ta.join(30)
        tb.join(30)
    assert len(errors) == 1, errors  # PostgreSQL picked one victim, the other committed
    assert db.sqlstate(errors[0]) == "40P01" and db.is_retryable(errors[0])


def test_sqlite_busy_is_read_from_the_error_code(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (v)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    with pytest.raises(sqlite3.OperationalError) as e:
        other.execute("BEGIN IMMEDIATE")
    assert sqlite_pragmas.is_busy(e.value)
    with pytest.raises(sqlite3.OperationalError) as missing:
        other.execute("SELECT * FROM no_such_table")
    assert not sqlite_pragmas.is_busy(missing.value)
    holder.execute("ROLLBACK")
    holder.close()
    other.close()


@pytest.fixture
def batch_hook() -> Iterator[list]:
    """A submission hook the test sets (the workflow engine's place), removed after."""
    hooks: list = []

    def hook(session: object, numbers: list[str]) -> None:
        for h in hooks:
            h(session, numbers)

    applications.SUBMISSION_HOOKS.append(hook)
    try:
        yield hooks
    finally:
        applications.SUBMISSION_HOOKS.remove(hook)


def test_bulk_fallback_says_why_and_applies_one_at_a_time(central_sessions, batch_hook, caplog) -> None:
    def refuse_batches(_s: object, numbers: list[str]) -> None:
        if len(numbers) > 1:
            raise UrError("hook refuses batches")

    batch_hook.append(refuse_batches)
    k = FakeKioskSigner(central_sessions)
    with caplog.at_level(logging.WARNING, logger="ur.central.ingest"):
        out = ingest.process_batch(central_sessions, [k.app(1), k.app(2), k.app(3)])
    assert [o.result for o in out] == ["applied"] * 3
    warned = [r.getMessage() for r in caplog.records if "one at a time" in r.getMessage()]
    assert len(warned) == 1 and "UrError: hook refuses batches" in warned[0] and "K1" in warned[0]


@pytest.mark.postgres
def test_bulk_does_not_fall_back_when_the_database_fails(pg_url: str, batch_hook, caplog) -> None:
    engine = db.make_engine(pg_url)
    db.init_schema(engine)
    sessions = db.sessions(engine)

    def time_out(s: sa.orm.Session, numbers: list[str]) -> None:
        s.execute(sa.text("SET LOCAL statement_timeout = '1ms'"))
        s.execute(sa.text("SELECT pg_sleep(0.5)"))  # real 57014 query_canceled

    batch_hook.append(time_out)
    k = FakeKioskSigner(sessions)
    with caplog.at_level(logging.WARNING, logger="ur.central.ingest"), pytest.raises(OperationalError) as e:
        ingest.process_batch(sessions, [k.app(1), k.app(2)])
    assert db.sqlstate(e.value) == "57014" and not db.is_retryable(e.value)
    assert not [r for r in caplog.records if "one at a time" in r.getMessage()]
    with sessions() as s:
        assert applications.count(s) == 0  # nothing stored, nothing acked: the kiosk resends
    engine.dispose()


def test_validation_error_carries_structured_problems() -> None:
    e = ValidationError("application for svc rejected", [
        ("name", "required", "field 'name' is required"),
        Problem("note", "too_long", "field 'note' is longer than 10 characters"),
        "unknown field 'x'"])
    assert [(p.field, p.code, p.message) for p in e.problems] == [
        ("name", "required", "field 'name' is required"),
        ("note", "too_long", "field 'note' is longer than 10 characters"),
        ("", "invalid", "unknown field 'x'")]
    assert str(e) == ("application for svc rejected: field 'name' is required; "
                      "field 'note' is longer than 10 characters; unknown field 'x'")
    assert [p.code for p in e.fields()["note"]] == ["too_long"]
    single = ValidationError("bad letter number")
    assert str(single) == "bad letter number" and single.problems[0].code == "invalid"


def test_hlc_does_not_go_back_after_65536_events_with_the_clock_behind() -> None:
    clock = hlc.HLC()
    start = clock.now(10_000)
    stamps = [clock.now(9_000) for _ in range(3 * 65_536)]  # the wall clock stuck behind
    assert all(b > a for a, b in zip([start, *stamps], stamps, strict=False))
    assert stamps[-1] == hlc.pack(10_003, 0)  # carried into the physical part, 1 ms per 65,536
    assert clock.now(20_000) == hlc.pack(20_000, 0)  # the clock catching up takes over again
    assert hlc.physical_ms(hlc.pack(1_700_000_000_000, 7)) == 1_700_000_000_000  # old values read the same


def test_device_kind_without_its_module_is_reported_not_installed_by_type(monkeypatch: pytest.MonkeyPatch) -> None:
    from kiosk import device_health

    monkeypatch.setitem(device_health.KIND_MODULES, "printer", "kiosk.devices.no_such_module")
    with pytest.raises(device_health.NotInstalled, match="printer support not installed"):
        device_health.device_module("printer")
    with pytest.raises(UrError) as e:
        device_health.device_module("toaster")
    assert not isinstance(e.value, device_health.NotInstalled)
