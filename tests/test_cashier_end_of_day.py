"""Cashier station (PINs, lockout, shifts, supervisor void/refund, audit chain) and end of
day against the ZVT emulator on a real pty."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from kiosk import end_of_day
from kiosk.cashier import AuditEntry, AuthError, CashierStation, verify_audit
from kiosk.devices.zvt_emulator import Knobs
from kiosk.payments import PaymentService
from tests.payment_fixtures import enrolled_store, terminal


def station(tmp_path: Path, factory) -> tuple:  # type: ignore[no-untyped-def]
    store, ident = enrolled_store(tmp_path / "c", kiosk_id="cashier-1")
    st = CashierStation(store, PaymentService(store, ident, factory))
    st.add_user("sup", "Supervisor", "supervisor", "9999")
    st.add_user("ali", "Ali", "cashier", "1234", approved_by=("sup", "9999"))
    return store, ident, st


def test_pin_rules_lockout_and_audit_chain(tmp_path: Path) -> None:
    store, _ident = enrolled_store(tmp_path / "c")
    st = CashierStation(store)
    with pytest.raises(pj_err(), match="first cashier user must be a supervisor"):
        st.add_user("ali", "Ali", "cashier", "1234")
    st.add_user("sup", "S", "supervisor", "9999")
    with pytest.raises(pj_err(), match="needs a supervisor"):
        st.add_user("ali", "Ali", "cashier", "1234")
    with pytest.raises(AuthError):
        st.add_user("ali", "Ali", "cashier", "1234", approved_by=("sup", "0000"))
    st.add_user("ali", "Ali", "cashier", "1234", approved_by=("sup", "9999"))
    with pytest.raises(pj_err(), match="4 to 8 digits"):
        st.add_user("bob", "Bob", "cashier", "12", approved_by=("sup", "9999"))
    assert st.login("ali", "1234").role == "cashier"
    for _ in range(5):
        with pytest.raises(AuthError, match="wrong user or PIN"):
            st.login("ali", "0000")
    with pytest.raises(AuthError, match="locked"):
        st.login("ali", "1234")  # even the right PIN, until the lockout ends
    assert st.login("ali", "1234", now=10**10).user_id == "ali"
    with pytest.raises(AuthError, match="not a supervisor"):
        st.supervisor("ali", "1234")
    with store.session() as s:
        assert verify_audit(s) >= 10
    with store.tx() as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == 3).values(actor="mallory"))
    with store.session() as s, pytest.raises(pj_err(), match="audit trail broken at entry 3"):
        verify_audit(s)


def pj_err():  # type: ignore[no-untyped-def]
    from contract.errors import UrError

    return UrError


def test_shift_collect_void_refund_close_day(tmp_path: Path) -> None:
    with terminal(Knobs(reverse_last_only=True, card_delay_s=0)) as (h, factory):
        store, ident, st = station(tmp_path, factory)
        ali = st.login("ali", "1234")
        with pytest.raises(pj_err(), match="no open shift"):
            st.collect(ali, "fine:F-0001")
        st.open_shift(ali)
        paid = [st.collect(ali, f"fine:F-{i:04d}") for i in range(1, 6)]
        assert all(p.paid for p in paid)
        with pytest.raises(AuthError):
            st.void(ali, paid[4].payment_id, ("sup", "1111"), "wrong pin")
        v = st.void(ali, paid[4].payment_id, ("sup", "9999"), "citizen changed mind")
        assert v.state == "REVERSED"
        v = st.void(ali, paid[0].payment_id, ("sup", "9999"), "duplicate")  # not last: refused
        assert v.needs_supervisor and v.state == "PAID"
        # A day with a refund owed does not close without a supervisor.
        with pytest.raises(end_of_day.DayNotClosable, match="1 unresolved"):
            end_of_day.close_day(store, ident, factory)
        r = st.refund(ali, paid[0].payment_id, ("sup", "9999"), "void refused by terminal")
        assert r.state == "REFUNDED"
        summary = st.close_shift(ali)
        assert summary["collections"] == 3 and summary["voided"] == 1 and summary["refunded"] == 1
        rep = end_of_day.close_day(store, ident, factory)
        # Terminal batch: 4 unreversed payments (the refunded one stays in it).
        assert rep.status == "MATCHED", rep.differences
        assert rep.terminal == rep.journal == {"count": 4, "amount": sum(p.amount for p in paid[:4])}
        assert rep.refunds == {"count": 1, "amount": paid[0].amount}
        with pytest.raises(end_of_day.DayNotClosable, match="already closed"):
            end_of_day.close_day(store, ident, factory)


def test_mismatch_is_reported_not_corrected(tmp_path: Path) -> None:
    with terminal(Knobs(eod_mismatch=True, card_delay_s=0)) as (h, factory):
        store, ident = enrolled_store(tmp_path / "k")
        svc = PaymentService(store, ident, factory)
        assert svc.pay("fine:F-0001").paid
        rep = end_of_day.close_day(store, ident, factory)
    assert rep.status == "MISMATCH"
    assert rep.differences == ["count: terminal 2, journal 1", "amount: terminal 27000 IQD, journal 26000 IQD"]
    assert end_of_day.z_report(store, rep.business_date)["status"] == "MISMATCH"


def test_terminal_eod_failure_records_nothing_and_supervisor_path(tmp_path: Path) -> None:
    with terminal(Knobs(eod_fail=0x77, approve_then_silence=1, card_delay_s=0)) as (h, factory):
        store, ident = enrolled_store(tmp_path / "k")
        svc = PaymentService(store, ident, factory)
        calls = {"n": 0}

        def cut_after_first():  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] > 1:
                h.emulator.knobs.drop_ack = True
            return factory()
        svc.terminal = cut_after_first
        assert svc.pay("fine:F-0001").state == "UNKNOWN"
        h.emulator.knobs.drop_ack = False
        with pytest.raises(end_of_day.DayNotClosable, match="unresolved"):
            end_of_day.close_day(store, ident, factory)
        with pytest.raises(end_of_day.DayNotClosable, match="end-of-day not possible"):
            end_of_day.close_day(store, ident, factory, supervisor="sup")
        h.emulator.knobs.eod_fail = None
        rep = end_of_day.close_day(store, ident, factory, supervisor="sup")
    # The charge the kiosk could not confirm is in the terminal's totals, not in the journal:
    # shown as a difference and listed as unresolved, never booked silently.
    assert rep.status == "MISMATCH" and rep.unresolved[0]["state"] == "UNKNOWN"
    assert rep.terminal["count"] == 1 and rep.journal["count"] == 0


def test_auto_end_of_day_batch_is_accounted(tmp_path: Path) -> None:
    with terminal(Knobs(card_delay_s=0)) as (h, factory):
        store, ident = enrolled_store(tmp_path / "k")
        svc = PaymentService(store, ident, factory)
        assert svc.pay("fine:F-0001").paid
        h.emulator.knobs.auto_eod = True
        assert svc.pay("fine:F-0002").paid  # terminal closes its batch first (04 FF 0F)
        assert svc.pay("fine:F-0003").paid
        rep = end_of_day.close_day(store, ident, factory)
    assert rep.status == "MATCHED", rep.differences
    assert rep.auto_closed["count"] == 1 and rep.journal["count"] == 3 and rep.terminal["count"] == 3


def test_iqd_exponent_3_reconciles_in_dinars(tmp_path: Path) -> None:
    """Some acquirers send IQD with 3 decimals: the terminal sees fils, journal and Z-report
    stay in whole dinars, and they still agree."""
    with terminal(Knobs(card_delay_s=0)) as (h, factory):
        store, ident = enrolled_store(tmp_path / "k")
        svc = PaymentService(store, ident, factory, exponent=3)
        r = svc.pay("fine:F-0001")
        assert r.paid and r.amount == 26000 and h.journal[-1].amount == 26_000_000
        rep = end_of_day.close_day(store, ident, factory, exponent=3)
    assert rep.status == "MATCHED" and rep.terminal == rep.journal == {"count": 1, "amount": 26000}
