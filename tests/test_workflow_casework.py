"""Casework at central on a real database: the submission hook starts the
workflow, clerk actions push status events, SLAs escalate, the audit chain
catches edits and deletions."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text

from central import applications, audit, casework, complaints, db, status_feed, workflows
from central import catalogue as central_catalogue
from contract import catalogue as cat
from contract import tracking
from contract.errors import UrError
from tests import support


@pytest.fixture
def S(central_sessions):
    """The same casework on SQLite and on PostgreSQL (skipped when it does not answer),
    with the seed catalogue published."""
    with central_sessions.begin() as s:
        central_catalogue.publish(s, central_catalogue.load_seed())
    return central_sessions


_FIELDS = {"full_name": "x", "national_id": "199001234567", "mobile": "07701234567"}


def _submit(S, serial: int, service: str, fee: int, fields: dict | None = None, kiosk: str = "K1") -> str:
    number = tracking.make(7, serial)
    with S.begin() as s:
        applications.handle_submission(s, kiosk, f"m-{serial}", {
            "tracking": number, "service_id": service, "catalogue_version": 1, "fee_total": fee,
            "fields": fields or _FIELDS, "submitted_at": datetime.now(UTC).isoformat()})
    return number


def _events(S, kiosk: str = "K1") -> list[dict]:
    with S() as s:
        return [e["payload"] for e in status_feed.since(s, kiosk, 0)]


def test_submission_starts_the_workflow_and_clerks_move_it(S) -> None:
    n = _submit(S, 1, "non-conviction-certificate", 10000)
    with S() as s:
        assert casework.inbox(s, "moi-criminal-evidence")[0]["number"] == n
        assert casework.inbox(s, "moj-notary") == []
    with S.begin() as s:
        casework.act(s, n, "approve", "clerk-ali", "baghdad-evidence")
    with S.begin() as s:
        with pytest.raises(UrError, match="cannot issue"):
            casework.act(s, n, "issue", "clerk-ali", "baghdad-evidence")
    with S.begin() as s:
        casework.act(s, n, "visit_done", "counter-1", "baghdad-evidence")
        casework.act(s, n, "issue", "counter-1", "baghdad-evidence")
    ev = [e for e in _events(S) if e["tracking"] == n]
    assert [e["status"] for e in ev] == ["received", "received", "visit_requested", "in_review", "completed"]
    start = ev[1]
    assert start["step"] == "review" and start["agency"] == "moi-criminal-evidence" and start["sla_due"]
    assert ev[2]["step"] == "visit" and ev[2]["action"] == "approve"
    with S() as s:
        trail = audit.trail(s, n)
        assert [t["action"] for t in trail] == ["submit", "start", "approve", "visit_done", "issue"]
        assert trail[2]["actor"] == "clerk-ali" and trail[2]["origin"] == "baghdad-evidence"
        assert trail[0]["origin"] == "K1"
        assert applications.count(s) == 1


def test_participatory_file_moves_between_agencies(S) -> None:
    n = _submit(S, 2, "subscriber-name-change", 5000, {**_FIELDS, "water_account": "1", "electricity_account": "2",
                                                       "reason": "purchase"})
    with S.begin() as s:
        casework.act(s, n, "approve", "c1", "karkh-water")
    with S() as s:
        assert [r["number"] for r in casework.inbox(s, "moe")] == [n]
    with S.begin() as s:
        with pytest.raises(UrError, match="unknown agency"):
            casework.act(s, n, "forward", "c2", "moe", to="mars")
    with S.begin() as s:
        casework.act(s, n, "forward", "c2", "baghdad-electricity", to="mof-tax")
        casework.act(s, n, "approve", "c3", "baghdad-tax")
        case = casework.act(s, n, "issue", "c1", "karkh-water")
    assert case.status == workflows.COMPLETED and case.visits == 0
    agencies = [e.get("agency") for e in _events(S)][1:]
    assert agencies == ["amanat-baghdad", "moe", "mof-tax", "amanat-baghdad", "amanat-baghdad"]


def test_wrong_fee_or_informational_is_refused_with_reason(S) -> None:
    a = _submit(S, 3, "ordinary-passport", 25000)
    b = _submit(S, 4, "vehicle-fines-info", 0)
    ev = {e["tracking"]: e for e in _events(S)}
    assert ev[a]["status"] == "rejected" and "not the fee of catalogue v1 (91000 IQD)" in ev[a]["note"]
    assert ev[b]["status"] == "rejected" and "informational" in ev[b]["note"]
    with S() as s:
        assert s.get(casework.CaseRow, a) is None


def test_sla_breach_escalates_to_supervisor(S) -> None:
    n = _submit(S, 5, "tax-clearance", 5000)
    later = datetime.now(UTC) + timedelta(hours=73)
    with S.begin() as s:
        assert casework.escalate_due(s, datetime.now(UTC)) == []
        assert casework.escalate_due(s, later) == [n]
        assert casework.escalate_due(s, later + timedelta(hours=1)) == []
    with S() as s:
        row = casework.inbox(s, "mof-tax", later)[0]
        assert row["overdue"] and row["escalated"] and row["role"] == "supervisor"
    last = _events(S)[-1]
    assert last["escalated"] is True and last["action"] == "escalate" and last["status"] == "in_review"


def test_audit_verify_finds_edits_and_deletions(S) -> None:
    a = _submit(S, 6, "non-conviction-certificate", 10000)
    b = _submit(S, 7, "non-conviction-certificate", 10000)
    c = _submit(S, 8, "non-conviction-certificate", 10000)
    with S.begin() as s:
        for n in (a, b, c):
            casework.act(s, n, "reject", "clerk", "office", note="incomplete")
    with S() as s:
        checked, problems = audit.verify(s)
        assert checked == 9 and problems == []
    with S.begin() as s:
        s.execute(text("UPDATE audit_log SET actor='someone-else' WHERE subject=:n AND seq=3"), {"n": a})
        s.execute(text("DELETE FROM audit_log WHERE subject=:n AND seq=2"), {"n": b})
        s.execute(text("DELETE FROM audit_log WHERE subject=:n AND seq=3"), {"n": c})
    with S() as s:
        _, problems = audit.verify(s)
    assert f"{a}: entry 3 (reject by someone-else) was edited" in problems
    assert f"{b}: entry 2 is missing (next is 3)" in problems
    assert f"{c}: chain ends at entry 2 but 3 were written (tail deleted)" in problems
    assert len(problems) == 4  # b's gap also breaks the link


def test_complaint_gets_its_own_workflow_and_status(S) -> None:
    app = _submit(S, 9, "non-conviction-certificate", 10000)
    number = tracking.make(7, 999999)
    with S.begin() as s:
        complaints.handle(s, "K1", "mc-1", {"tracking": number, "category": "delay", "text": "تأخير",
                                              "application": app, "filed_at": datetime.now(UTC).isoformat()})
    with S() as s:
        row = s.get(complaints.Complaint, number)
        assert row.institution == "moi-criminal-evidence" and row.name is None
        assert [r["number"] for r in casework.inbox(s, "helpline-5599")] == [number]
    with S.begin() as s:
        casework.act(s, number, "approve", "op", "5599")
    with S() as s:
        assert [r["number"] for r in casework.inbox(s, "moi-criminal-evidence")] == [app, number]
    ev = [e for e in _events(S) if e["tracking"] == number]
    assert [e["status"] for e in ev] == ["received", "in_review"] and ev[0]["subject"] == "complaint"
    for bad, msg in [({"tracking": number}, "already used"), ({"text": ""}, "1..4000"),
                     ({"category": "weather"}, "not one of"), ({"tracking": "1"}, "11 digits"),
                     ({"filed_at": None}, "invalid")]:
        payload = {"tracking": tracking.make(7, 999990), "category": "other", "text": "x",
                   "filed_at": datetime.now(UTC).isoformat(), **bad}
        with S.begin() as s, pytest.raises(UrError, match=msg):
            complaints.handle(s, "K1", "mc-x", payload)


def test_office_maps_complaint_to_institution(S) -> None:
    n = tracking.make(7, 999998)
    with S.begin() as s:
        complaints.handle(s, "K1", "mc-2", {"tracking": n, "text": "rude", "category": "conduct",
                                              "office": "karkh-notary", "name": "علي", "filed_at": "2026-01-01T00:00:00+00:00"})
        row = s.get(complaints.Complaint, n)
        assert row.institution == "moj-notary" and row.name == "علي"
        assert s.scalars(select(casework.CaseRow.workflow).where(casework.CaseRow.number == n)).one() == "complaint"
        steps = json.loads(s.get(casework.CaseRow, n).state)["steps"]
        assert [x["agency"] for x in steps] == ["helpline-5599", "moj-notary", "helpline-5599"]


def test_corrections_only_from_the_same_kiosk_and_only_when_returned(S) -> None:
    n = _submit(S, 10, "tax-clearance", 5000)
    ok = {"tracking": n, "fields": {**_FIELDS, "full_name": "y"}, "at": datetime.now(UTC).isoformat()}
    for kiosk, payload, msg in [("K1", ok, "is in_review, not returned"),
                                ("K2", ok, "no such application from this kiosk"),
                                ("K1", {"tracking": n}, "payload invalid"),
                                ("K1", {**ok, "fields": [1]}, "fields must be a map")]:
        with S.begin() as s, pytest.raises(UrError, match=msg):
            casework.handle_correction(s, kiosk, "c", payload)
    with S.begin() as s:
        casework.act(s, n, "return", "clerk", "baghdad-tax", note="name misspelt")
        casework.handle_correction(s, "K1", "c", ok)
    with S() as s:
        assert json.loads(s.get(applications.Application, n).fields)["full_name"] == "y"
        trail = audit.trail(s, n)
        assert trail[-1]["action"] == "resubmit" and trail[-1]["actor"] == "citizen" and trail[-1]["origin"] == "K1"


# --- workflow start in bulk --------------------------------------------------------

T = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

# (serial, kiosk, service, catalogue version, fee): started, refused and skipped side by side.
_MIX = [
    (101, "K1", "non-conviction-certificate", 1, 10000),   # procedural
    (102, "K1", "non-conviction-certificate", 2, 11000),   # the same service at v2's fee
    (103, "K2", "subscriber-name-change", 1, 5000),        # participatory, two agencies
    (104, "K2", "local-company-registration", 2, 260000),  # participatory, three agencies
    (105, "K1", "birth-registration", 1, 0),               # a named workflow
    (106, "K2", "tax-clearance", 1, 5000),                 # interactive; its chain has an entry already
    (107, "K1", "ordinary-passport", 1, 25000),            # wrong fee
    (108, "K2", "non-conviction-certificate", 2, 10000),   # v1's fee under v2: wrong
    (109, "K1", "vehicle-fines-info", 1, 0),               # informational
    (110, "K2", "non-conviction-certificate", 99, 10000),  # catalogue never published
    (111, "K1", "no-such-service", 1, 0),                  # unknown service
    (112, "K1", "tax-clearance", 1, 5000),                 # routed before: has its case
]


def _dearer_certificate() -> cat.Catalogue:
    """Catalogue v2: the non-conviction certificate costs 1000 IQD more."""
    c = central_catalogue.load_seed()
    svcs = list(c.services)
    s0 = next(s for s in svcs if s.id == "non-conviction-certificate")
    svcs[svcs.index(s0)] = s0.model_copy(update={"fees": cat.Fees(statutory=s0.fees.statutory + 1000,
                                                                   service=s0.fees.service)})
    return c.model_copy(update={"services": svcs})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two(request, tmp_path: Path):
    """Two fresh central databases of one kind (catalogue v1 and v2 published), to run
    the bulk and the one-by-one workflow start side by side on the same input."""
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            reason = support.postgres_available()
            if reason:
                pytest.skip(reason)
            urls = [stack.enter_context(support.postgres_schema()) for _ in range(2)]
        else:
            urls = [support.sqlite_url(tmp_path / f"c{i}.db") for i in range(2)]
        out = []
        for url in urls:
            engine = db.make_engine(url)
            stack.callback(engine.dispose)
            db.init_schema(engine)
            sessions = db.sessions(engine)
            with sessions.begin() as s:
                assert central_catalogue.publish(s, central_catalogue.load_seed()) == 1
                assert central_catalogue.publish(s, _dearer_certificate()) == 2
            out.append(sessions)
        yield out


def _store_mix(S) -> tuple[list[str], int]:
    """Store _MIX unrouted, give 106 an audit entry and 112 its case; returns the
    numbers to route (plus one never stored) and the last feed id before routing."""
    token = applications.DEFER_ROUTING.set(True)
    try:
        with S.begin() as s:
            for serial, kiosk, service, version, fee in _MIX:
                applications.handle_many(s, kiosk, [(f"m-{serial}", {
                    "tracking": tracking.make(7, serial), "service_id": service, "catalogue_version": version,
                    "fee_total": fee, "fields": _FIELDS, "submitted_at": T.isoformat()})])
    finally:
        applications.DEFER_ROUTING.reset(token)
    with S.begin() as s:
        mark = s.scalar(select(func.max(status_feed.KioskEvent.id)))
        audit.append(s, tracking.make(7, 106), "clerk-ali", "baghdad-tax", "note", {"text": "called back"},
                     at=T - timedelta(minutes=5))
        casework.start_application(s, tracking.make(7, 112), now=T - timedelta(minutes=1))
    return [tracking.make(7, serial) for serial, *_ in _MIX] + [tracking.make(7, 199)], mark


def _snapshot(S, mark: int) -> dict[str, list[tuple]]:
    """Everything workflow start writes, but auto ids and the feed's write clock."""
    C, E, H = casework.CaseRow, audit.AuditEntry, audit.AuditHead
    K, A = status_feed.KioskEvent, applications.Application
    with S() as s:
        def rows(*cols, where=True, order) -> list[tuple]:
            return [tuple(r) for r in s.execute(select(*cols).where(where).order_by(order))]
        return {
            "cases": rows(C.number, C.subject, C.service_id, C.workflow, C.status, C.agency, C.role, C.sla_due,
                          C.escalated, C.state, C.updated_at, order=C.number),
            "audit": rows(E.subject, E.seq, E.at, E.actor, E.origin, E.action, E.data, E.prev_hash, E.hash,
                          order=E.id),
            "heads": rows(H.subject, H.seq, H.hash, order=H.subject),
            "feed": rows(K.kiosk_id, K.kind, K.payload, where=K.id > mark, order=K.id),
            "applications": rows(A.tracking, A.status, A.status_at, order=A.tracking),
        }


def test_bulk_start_writes_what_one_by_one_writes(two) -> None:
    bulk, single = two
    numbers, mark = _store_mix(bulk)
    assert _store_mix(single) == (numbers, mark)
    with bulk.begin() as s:
        casework.start_applications(s, [*numbers, numbers[0]], now=T)  # a repeat is routed once
    for n in numbers:
        with single.begin() as s:
            casework.start_application(s, n, now=T)
    got, want = _snapshot(bulk, mark), _snapshot(single, mark)
    for part in want:
        assert got[part] == want[part], part
    for S in two:
        with S() as s:
            assert audit.verify(s)[1] == []

    n = {serial: tracking.make(7, serial) for serial, *_ in _MIX}
    assert [c[0] for c in got["cases"]] == [n[i] for i in (101, 102, 103, 104, 105, 106, 112)]
    with bulk() as s:
        assert [t["action"] for t in audit.trail(s, n[106])] == ["note", "submit", "start"]
        assert [t["action"] for t in audit.trail(s, n[112])] == ["submit", "start"]
        assert [t["action"] for t in audit.trail(s, n[107])] == ["refuse"]
        assert audit.trail(s, tracking.make(7, 199)) == []
        assert s.get(casework.CaseRow, n[104]).agency == "mot-companies"
    feed = [json.loads(p) for _k, _kind, p in got["feed"]]
    assert [e["tracking"] for e in feed] == [n[112]] + [n[i] for i in range(101, 112)]  # in routing order
    why = {e["tracking"]: e.get("note", "") for e in feed if e["status"] == workflows.REJECTED}
    assert "not the fee of catalogue v1 (91000 IQD)" in why[n[107]]
    assert "not the fee of catalogue v2 (11000 IQD)" in why[n[108]]
    assert "informational" in why[n[109]]
    assert "catalogue version 99 was never published" in why[n[110]]
    assert "unknown service 'no-such-service'" in why[n[111]]
    assert len(why) == 5 and all(e["action"] == "refuse" for e in feed if e["status"] == workflows.REJECTED)
    assert {e["status"] for e in feed} == {"received", workflows.REJECTED}


def _statements_to_route(S, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """(statements, applications) of one route_pending slice, counted at the cursor
    (COPY, which central.bulk uses on PostgreSQL, bypasses SQLAlchemy: counted at psycopg)."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_rest) -> None:
        seen.append(statement)

    import psycopg

    copy = psycopg.Cursor.copy

    def counted_copy(self, statement, *a, **kw):
        seen.append(str(statement))
        return copy(self, statement, *a, **kw)

    monkeypatch.setattr(psycopg.Cursor, "copy", counted_copy)
    engine = S.kw["bind"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        with S.begin() as s:
            routed = applications.route_pending(s, 100)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen), routed


def test_routing_a_slice_takes_the_same_statements_for_4_or_40(S, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set-based: no statement per application, so a slice costs Python, not round trips."""
    counts = []
    for base, size in ((400, 4), (500, 40)):
        token = applications.DEFER_ROUTING.set(True)
        try:
            with S.begin() as s:
                applications.handle_many(s, "K1", [(f"m-{base + i}", {
                    "tracking": tracking.make(7, base + i), "catalogue_version": 1, "fields": _FIELDS,
                    "service_id": "non-conviction-certificate" if i % 2 else "ordinary-passport",
                    "fee_total": 10000, "submitted_at": T.isoformat()}) for i in range(size)])
        finally:
            applications.DEFER_ROUTING.reset(token)
        statements, routed = _statements_to_route(S, monkeypatch)
        assert routed == size
        counts.append(statements)
    with S() as s:
        assert s.scalar(select(func.count()).select_from(casework.CaseRow)) == 22  # the odd ones
        assert audit.verify(s) == (22 * 2 + 22, [])
    # BEGIN (SQLite), a dozen statements of routing and four of the office queue's tickets
    # (applications, tickets already made, kiosks' offices, one insert: central/queue.py)
    assert counts[0] == counts[1] <= 17, counts
