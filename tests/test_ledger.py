"""Central ledger: dedup by collection id, contradicting records refused, reconciliation
(matched / missing / mismatched, CSV), fines marked paid; payload and fines-list parsers
reject bad input with a clear message (fuzzed). SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from central import db, fines, ledger
from contract import fines as fines_codec
from contract.errors import UrError
from tests import support


@pytest.fixture
def session(tmp_path: Path):
    engine = db.make_engine(support.sqlite_url(tmp_path / "c.db"))
    db.init_schema(engine)
    with db.sessions(engine).begin() as s:
        yield s
    engine.dispose()


def rec(cid: str, amount: int = 25000, event: str = "paid", fee_ref: str | None = None, **kw: Any) -> dict[str, Any]:
    kind = (fee_ref or "item").split(":")[0]
    return {"collection_id": cid, "event": event, "fee_ref": fee_ref or f"item:svc:{cid}", "kind": kind,
            "amount": amount, "statutory": amount, "service": 0, "office": "BGD", "terminal_id": "52500123",
            "business_date": "2026-11-22", "trace": 1, "receipt_no": 1, **kw}


def z(items: list[tuple[str, int, str]], t: tuple[int, int], j: tuple[int, int]) -> dict[str, Any]:
    return {"event": "z_report", "business_date": "2026-11-22", "office": "BGD", "terminal_id": "52500123",
            "terminal": {"count": t[0], "amount": t[1]}, "journal": {"count": j[0], "amount": j[1]},
            "items": [{"id": i, "amount": a, "state": s} for i, a, s in items]}


def test_dedup_update_and_conflict(session: Session) -> None:
    fines.add(session, "12B0001", 25000, fine_id="c1")
    ledger.handle(session, "K1", "m1", rec("c1", fee_ref="fine:c1"))
    ledger.handle(session, "K1", "m2", rec("c1", fee_ref="fine:c1"))  # the same record again: nothing changes
    assert session.get(fines.Fine, "c1").status == "paid"
    with pytest.raises(UrError, match="already recorded from K1 for fine:c1 25000 IQD"):
        ledger.handle(session, "K1", "m3", rec("c1", amount=30000, fee_ref="fine:c1"))
    with pytest.raises(UrError, match="already recorded"):
        ledger.handle(session, "K2", "m3", rec("c1", fee_ref="fine:c1"))
    ledger.handle(session, "K1", "m4", rec("c1", event="reversed", fee_ref="fine:c1"))
    ledger.handle(session, "K1", "m5", rec("c1", event="paid", fee_ref="fine:c1"))  # older news than what we hold
    c = session.get(ledger.Collection, "c1")
    assert c.state == "reversed" and session.get(fines.Fine, "c1").status == "unpaid"


def test_report_matched_missing_mismatched_and_csv(session: Session) -> None:
    for cid in ("a", "b", "c"):
        ledger.handle(session, "K1", cid, rec(cid, 1000))
    ledger.handle(session, "K1", "z", z([("a", 1000, "paid"), ("b", 1000, "paid"), ("c", 1000, "paid")],
                                        (3, 3000), (3, 3000)))
    ledger.handle(session, "K2", "d", rec("d", 2000))
    ledger.handle(session, "K2", "e", rec("e", 5000))
    ledger.handle(session, "K2", "z", z([("d", 2000, "paid"), ("e", 5000, "reversed"), ("f", 700, "paid")],
                                        (3, 3700), (2, 2700)))
    days = {d.station: d for d in ledger.reconcile(session, "2026-11-22")}
    assert days["K1"].status == "MATCHED"
    k2 = days["K2"]
    assert k2.status == "MISMATCH" and (k2.central_count, k2.central_amount) == (2, 7000)
    statuses = {i["id"]: i["status"] for i in k2.items}
    assert statuses == {"d": "matched", "e": "mismatched", "f": "missing_at_central"}
    rows = list(csv.reader(io.StringIO(ledger.report_csv(list(days.values())))))
    assert rows[0][:6] == ["date", "office", "station", "terminal", "collection_id", "status"]
    assert ["2026-11-22", "BGD", "K2", "52500123", "f", "missing_at_central"] == rows[-1][:6]
    # A collection central holds that the station's Z-report does not list.
    ledger.handle(session, "K1", "g", rec("g", 100))
    k1 = {d.station: d for d in ledger.reconcile(session, "2026-11-22")}["K1"]
    assert k1.status == "MISMATCH" and any(i["status"] == "missing_at_station" for i in k1.items)


def test_unresolved_payments_are_listed_with_amounts_until_a_resolution_arrives(session: Session) -> None:
    fines.add(session, "12B0001", 25000, fine_id="F-1")
    fines.add(session, "12B0002", 30000, fine_id="F-2")
    ledger.handle(session, "K1", "m1", rec("u1", fee_ref="fine:F-1", event="unresolved", trace=None, receipt_no=None))
    ledger.handle(session, "K1", "m2", rec("u1", fee_ref="fine:F-1", event="unresolved"))  # again: nothing new
    assert session.get(fines.Fine, "F-1").status == "unpaid"
    body = z([], (0, 0), (0, 0))
    body["unresolved"] = [{"id": "u1", "fee_ref": "fine:F-1", "amount": 25000, "state": "UNKNOWN",
                           "at": "2026-11-22T10:00:00"},
                          {"id": "u2", "fee_ref": "fine:F-2", "amount": 30000, "state": "UNKNOWN",
                           "at": "2026-11-22T11:00:00"},  # only the Z-report names it
                          {"id": "r1", "fee_ref": "fine:F-3", "amount": 7000, "state": "PAID"}]  # refund due
    ledger.handle(session, "K1", "z", body)
    day = ledger.reconcile(session, "2026-11-22")[0]
    unresolved = {i["id"]: i["amount"] for i in day.items if i["status"] == "unresolved_at_station"}
    assert unresolved == {"u1": 25000, "u2": 30000} and day.status == "MISMATCH"
    rows = [r for r in csv.reader(io.StringIO(ledger.report_csv([day]))) if r[5] == "unresolved_at_station"]
    assert sorted((r[4], r[6]) for r in rows) == [("u1", "25000"), ("u2", "30000")]
    # The station's supervisor settles u1 as paid, the batch totals settle u2 as not charged.
    ledger.handle(session, "K1", "m3", rec("u1", fee_ref="fine:F-1", resolution={
        "outcome": "paid", "by": "sup", "evidence": "terminal journal receipt 0042", "at": "2026-11-22T12:00"}))
    ledger.handle(session, "K1", "m4", rec("u2", 30000, fee_ref="fine:F-2", event="not_charged", resolution={
        "outcome": "not_charged", "by": "batch totals", "evidence": "batch equals journal", "at": "x"}))
    ledger.handle(session, "K1", "m5", rec("u1", fee_ref="fine:F-1", event="unresolved"))  # stale: ignored
    assert session.get(fines.Fine, "F-1").status == "paid" and session.get(fines.Fine, "F-2").status == "unpaid"
    day = ledger.reconcile(session, "2026-11-22")[0]
    assert not [i for i in day.items if i["status"] == "unresolved_at_station"]
    assert {(r["id"], r["outcome"], r["by"]) for r in day.resolutions} == {
        ("u1", "paid", "sup"), ("u2", "not_charged", "batch totals")}
    assert any(r[5] == "resolved_paid" and "terminal journal receipt 0042" in r[7]
               for r in csv.reader(io.StringIO(ledger.report_csv([day]))))


def test_fine_paid_twice_is_flagged_not_merged(session: Session) -> None:
    fines.add(session, "12B0001", 25000, fine_id="F-1")
    ledger.handle(session, "K1", "m1", rec("c1", fee_ref="fine:F-1"))
    ledger.handle(session, "K2", "m2", rec("c2", fee_ref="fine:F-1"))
    assert "already paid by collection c1" in session.get(ledger.Collection, "c2").problem
    days = {d.station: d for d in ledger.reconcile(session, "2026-11-22")}
    assert any(i["status"] == "mismatched" and "already paid" in i["detail"] for i in days["K2"].items)


@pytest.mark.parametrize("bad,msg", [
    ({"event": "stolen"}, "event must be one of"),
    (rec("x", amount=0), "amount must be a whole number >= 1"),
    (rec("x", statutory=1), "statutory 1 \\+ service 0 != amount"),
    ({**rec("x"), "collection_id": ""}, "collection_id must be text"),
    ({**rec("x"), "amount": "25000"}, "amount must be a whole number"),
    ({"event": "z_report", "business_date": "2026-11-22", "terminal": {}}, "terminal needs whole-number"),
    ({**z([], (0, 0), (0, 0)), "items": [{"id": 1}]}, "items must be a list"),
    ({**z([], (0, 0), (0, 0)), "unresolved": 5}, "unresolved must be a list"),
])
def test_bad_payloads_rejected_with_reason(session: Session, bad: dict[str, Any], msg: str) -> None:
    with pytest.raises(UrError, match=msg):
        ledger.handle(session, "K1", "m", bad)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.dictionaries(st.sampled_from(["event", "collection_id", "amount", "statutory", "service", "fee_ref",
                                        "business_date", "kind", "items", "terminal", "journal",
                                        "unresolved", "resolution"]),
                       st.one_of(st.none(), st.integers(-5, 10**9), st.text(max_size=40),
                                 st.sampled_from(["paid", "reversed", "z_report", "unresolved", "not_charged"]),
                                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3),
                                                                                      st.integers(), max_size=2))))
def test_fuzzed_payloads_never_crash(session: Session, payload: dict[str, Any]) -> None:
    try:
        with session.begin_nested():
            ledger.handle(session, "K1", "m", payload)
    except UrError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.builds(lambda v: json.dumps(v).encode(), st.recursive(
    st.none() | st.integers() | st.text(max_size=8), lambda c: st.lists(c, max_size=3) | st.dictionaries(
        st.sampled_from(["fines", "id", "plate", "amount"]), c, max_size=4), max_leaves=10)))
def test_fines_list_parser_rejects_junk_cleanly(body: bytes) -> None:
    try:
        fines_codec.parse(body)
    except UrError as e:
        assert str(e)


def test_ledger_on_postgres(pg_url: str) -> None:
    engine = db.make_engine(pg_url)
    db.init_schema(engine)
    try:
        with db.sessions(engine).begin() as s:
            ledger.handle(s, "K1", "m1", rec("pg-1"))
            ledger.handle(s, "K1", "m2", rec("pg-1"))
            ledger.handle(s, "K1", "z", z([("pg-1", 25000, "paid")], (1, 25000), (1, 25000)))
            assert [d.status for d in ledger.reconcile(s, "2026-11-22")] == ["MATCHED"]
    finally:
        engine.dispose()
