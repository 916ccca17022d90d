"""Cashier station (PINs, lockout, shifts, supervisor void/refund, audit chain) and end of
day against the ZVT emulator on a real pty."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from kiosk.devices.zvt_emulator import Knobs
from kiosk.payments import end_of_day
from kiosk.payments.cashier import AuditEntry, AuthError, CashierStation, verify_audit
from kiosk.payments.service import PaymentService
from tests.payment_fixtures import enrolled_store, terminal


def station(tmp_path: Path, factory) -> tuple:
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


def pj_err():
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


def _unknown_payment(h, factory, store, ident, ref: str = "fine:F-0001"):
    """A payment the terminal charged and never confirmed, with the link cut for the enquiry."""
    svc = PaymentService(store, ident, factory)
    calls = {"n": 0}

    def cut_after_first():
        calls["n"] += 1
        if calls["n"] > 1:
            h.emulator.knobs.drop_ack = True
        return factory()
    svc.terminal = cut_after_first
    h.emulator.knobs.approve_then_silence = 1
    r = svc.pay(ref)
    assert r.state == "UNKNOWN"
    h.emulator.knobs.drop_ack = False
    return r


def test_close_day_settles_from_the_terminal_first_and_a_failed_eod_records_nothing(tmp_path: Path) -> None:
    """Behaviour since issue 19: close-day first settles what the terminal can still settle
    (here: its repeat receipt proves the charge), then runs the terminal's end-of-day."""
    with terminal(Knobs(eod_fail=0x77, card_delay_s=0), timeout=1.5) as (h, factory):
        store, ident = enrolled_store(tmp_path / "k")
        r = _unknown_payment(h, factory, store, ident)
        with pytest.raises(end_of_day.DayNotClosable, match="end-of-day not possible"):
            end_of_day.close_day(store, ident, factory)
        assert PaymentService(store, ident, factory).get(r.payment_id).state == "PAID"
        h.emulator.knobs.eod_fail = None
        rep = end_of_day.close_day(store, ident, factory)
    assert rep.status == "MATCHED" and not rep.unresolved
    assert rep.terminal == rep.journal == {"count": 1, "amount": r.amount}


def _flag(store, pid: str, why: str = "the terminal's answers do not settle it") -> None:
    """What recovery does when the terminal's last transaction no longer tells (UNDECIDED)."""
    import datetime as dt

    from kiosk.payments import journal as pj
    from kiosk.payments.service import PaymentRow, entry_of, entry_to_json

    with store.tx() as s:
        row = s.get(PaymentRow, pid)
        row.entry_json = entry_to_json(pj.flag(entry_of(row), why, dt.datetime.now()))


def test_batch_totals_settle_a_single_missing_charge(tmp_path: Path) -> None:
    with terminal(Knobs(card_delay_s=0), timeout=1.5) as (h, factory):
        store, ident = enrolled_store(tmp_path / "k")
        svc = PaymentService(store, ident, factory)
        assert svc.pay("fine:F-0002").paid
        r = _unknown_payment(h, factory, store, ident, "fine:F-0003")
        _flag(store, r.payment_id)
        rep = end_of_day.close_day(store, ident, factory)  # no supervisor needed: the totals decide
    row = svc.get(r.payment_id)
    assert row.state == "PAID" and row.delivered and "batch holds exactly one payment" in row.entry_json
    assert rep.status == "MATCHED" and not rep.unresolved and rep.terminal == rep.journal
    assert len([e for e in h.journal if e.kind == "payment" and e.receipt_no]) == 2


def test_unresolved_payment_is_on_the_z_report_with_its_amount(tmp_path: Path) -> None:
    """Totals that do not single it out (two open payments of the same amount, one charged):
    the day closes only with a supervisor, and the Z-report lists both with amount and time."""
    with terminal(Knobs(card_delay_s=0), timeout=1.5) as (h, factory):
        store, ident = enrolled_store(tmp_path / "k")
        a = _unknown_payment(h, factory, store, ident, "fine:F-0001")  # 26000, charged
        _flag(store, a.payment_id)
        b = PaymentService(store, ident, factory)
        import datetime as dt

        from kiosk.payments import journal as pj
        from kiosk.payments.service import PaymentRow, entry_of, entry_to_json

        # a different id of the same form (UUIDv7 ids all begin "01", so changing only the
        # first two digits gave the same id again when the last one was already "f")
        other_id = a.payment_id[:-1] + ("0" if a.payment_id[-1] != "0" else "1")
        with store.tx() as s:  # a second open one of the same amount the terminal never saw
            row = s.get(PaymentRow, a.payment_id)
            e2 = pj.flag(pj.record_unknown(pj.mark_pending(pj.create(other_id, "fine:F-0008",
                                                                      entry_of(row).amount, 368, dt.datetime.now()),
                                                            dt.datetime.now()), dt.datetime.now(), "crash"),
                         "ambiguous", dt.datetime.now())
            s.add(PaymentRow(payment_id=e2.payment_id, fee_ref="fine:F-0008", kind="fine", state="UNKNOWN",
                             dinars=row.dinars, statutory=row.dinars, service=0, description="x",
                             catalogue_version=None, business_date=row.business_date, operator="",
                             delivered=False, entry_json=entry_to_json(e2), updated_at=dt.datetime.now()))
        with pytest.raises(end_of_day.DayNotClosable, match=f"2 unresolved.*{row.dinars} IQD"):
            end_of_day.close_day(store, ident, factory)
        rep = end_of_day.close_day(store, ident, factory, supervisor="sup")
        assert b.get(a.payment_id).state == "UNKNOWN"
    assert rep.status == "MISMATCH" and {u["id"] for u in rep.unresolved} == {a.payment_id, e2.payment_id}
    assert all(u["amount"] == row.dinars and u["at"] and u["fee_ref"] for u in rep.unresolved)
    lines = end_of_day.z_lines(rep)["unresolved"]
    assert lines.startswith(f"2, {2 * row.dinars} IQD") and "fine:F-0008" in lines


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
