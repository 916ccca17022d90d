"""central.bulk: COPY on PostgreSQL and the driver's executemany on SQLite store the same rows as a Core insert,
inside the session's transaction and savepoints, and a duplicate key is the
same IntegrityError either way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from central import bulk
from central.applications import Application
from central.inbox import HeldMessage, InboxEntry
from central.status_feed import KioskEvent

T = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)


def _apps(n: int, start: int = 0) -> list[dict]:
    return [{"tracking": f"T{start + i:07d}", "kiosk_id": "K1", "message_id": f"m-{start + i}",
             "service_id": "svc", "catalogue_version": 1, "fee_total": 10_000 + i,
             "fields": '{"name": "علي"}', "submitted_at": T, "received_at": T, "status": "received",
             "status_at": T} for i in range(n)]


@pytest.mark.parametrize("n", [3, 40])  # below and above the COPY threshold
def test_rows_and_scalar_defaults_are_stored(central_sessions, n: int) -> None:
    with central_sessions.begin() as s:
        bulk.insert_rows(s, Application.__table__, _apps(n))  # "routed" left out: its default (True)
        bulk.insert_rows(s, HeldMessage.__table__, [
            {"kiosk_id": "K1", "stream": "applications", "seq": i + 1, "message_id": f"m-{i}",
             "envelope": bytes(range(256)) + b"\\x00"} for i in range(n)])
        bulk.insert_rows(s, KioskEvent.__table__, [
            {"kiosk_id": "K1", "kind": "status", "payload": f'{{"i": {i}}}', "created_at": T} for i in range(n)])
    with central_sessions() as s:
        rows = s.execute(select(Application.tracking, Application.fee_total, Application.fields,
                                Application.submitted_at, Application.routed).order_by(Application.tracking)).all()
        assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
            (f"T{i:07d}", 10_000 + i, '{"name": "علي"}', True) for i in range(n)]
        assert all(r[3].replace(tzinfo=r[3].tzinfo or UTC) == T for r in rows)
        assert set(s.scalars(select(HeldMessage.envelope))) == {bytes(range(256)) + b"\\x00"}
        # Server-assigned ids follow the order given: the status feed's cursor relies on it.
        events = s.execute(select(KioskEvent.id, KioskEvent.payload).order_by(KioskEvent.id)).all()
        assert [p for _i, p in events] == [f'{{"i": {i}}}' for i in range(n)]


@pytest.mark.parametrize("n", [3, 40])
def test_a_duplicate_is_an_integrity_error_and_the_savepoint_keeps_the_rest(central_sessions, n: int) -> None:
    row = {"kiosk_id": "K1", "message_id": "dup", "stream": "applications", "seq": 1, "hlc": 1,
           "received_at": T, "outcome": "applied", "reason": ""}
    with central_sessions.begin() as s:
        bulk.insert_rows(s, InboxEntry.__table__, [row])
        sp = s.begin_nested()
        with pytest.raises(IntegrityError):
            bulk.insert_rows(s, InboxEntry.__table__, [
                {**row, "message_id": f"new-{i}", "seq": i + 2} for i in range(n)] + [row])
        sp.rollback()
        bulk.insert_rows(s, InboxEntry.__table__, [{**row, "message_id": "after", "seq": 99}])
    with central_sessions() as s:
        assert sorted(s.scalars(select(InboxEntry.message_id))) == ["after", "dup"]


def test_rows_with_different_columns_are_refused(central_sessions) -> None:
    rows = _apps(10)
    del rows[5]["status_at"]
    with central_sessions.begin() as s, pytest.raises(Exception, match="status_at|same columns|NOT NULL|null"):
        bulk.insert_rows(s, Application.__table__, rows)


def test_bulk_rows_are_stored_exactly_as_a_core_insert_stores_them(central_sessions) -> None:
    """Byte for byte, as the database holds them (text of timestamps, booleans,
    JSON): rows from the bulk path and from SQLAlchemy's own insert must not be
    told apart, or reads that compare or sort them would differ."""
    from sqlalchemy import insert, text

    with central_sessions.begin() as s:
        bulk.insert_rows(s, Application.__table__, _apps(20))  # the bulk path (COPY / driver executemany)
        s.execute(insert(Application.__table__), _apps(1, start=100))  # SQLAlchemy's own
    with central_sessions() as s:
        cols = "fee_total, fields, submitted_at, received_at, status, status_at, routed, kiosk_id, service_id"
        raw = s.execute(text(f"SELECT tracking, {cols} FROM applications ORDER BY tracking")).all()
    assert raw[-1][0] == "T0000100"
    core = tuple(raw[-1][2:])
    assert [r[1] for r in raw] == [10_000 + i for i in range(20)] + [10_000]
    assert [tuple(r[2:]) for r in raw[:-1]] == [core] * 20


@pytest.mark.parametrize("wanted", [[], ["T0000003"], ["T0000001", "nope", "T0000007", "O'Brien", "علي"]])
def test_among_selects_what_in_selects(central_sessions, wanted: list[str]) -> None:
    with central_sessions.begin() as s:
        bulk.insert_rows(s, Application.__table__, _apps(10))
    with central_sessions() as s:
        got = set(s.scalars(select(Application.tracking).where(bulk.among(s, Application.tracking, wanted))))
        assert got == set(s.scalars(select(Application.tracking).where(Application.tracking.in_(wanted))))
        assert got == {w for w in wanted if w.startswith("T")}
