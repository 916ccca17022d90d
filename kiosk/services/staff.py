"""The staff screens: PIN sign-in, shifts, what a cashier can collect, void and refund
with a supervisor's PIN, and the end of day (kiosk.payments.cashier.CashierStation)."""

from __future__ import annotations

import time

from contract.errors import UrError
from kiosk.payments import end_of_day, payables
from kiosk.payments.cashier import (
    AuthError,
    CashierStation,
    Operator,
    audit,
    pin_screen_locked_until,
    shift_figures,
    user_with_pin,
)
from kiosk.services.catalogue import CatalogueServices
from kiosk.services.payments import PaymentServices
from kiosk.services.station import Station, same_in_all
from kiosk.ui_services import Collectable, NotAvailable, Reconciliation, ShiftState


class StaffServices:
    def __init__(self, station: Station, payments: PaymentServices, catalogue: CatalogueServices) -> None:
        self.station, self.store = station, station.store
        self.payments, self.catalogue = payments, catalogue

    def _cashier_station(self, with_terminal: bool = False) -> CashierStation:
        return CashierStation(self.store, self.payments.service() if with_terminal else None)

    def check_pin(self, role: str, pin: str) -> bool:
        """The staff PIN screen has no user field: the PIN picks the user of that role
        (kiosk.payments.cashier.user_with_pin); the login itself (audit, lockout reset) is
        the station's. A technician signs in with a supervisor's PIN."""
        want = "supervisor" if role in ("supervisor", "technician") else "cashier"
        station = self._cashier_station()
        until = pin_screen_locked_until(self.store)
        if until:
            raise AuthError("too many wrong PINs: the PIN screen is locked until "
                            + time.strftime("%H:%M", time.localtime(until)))
        user = user_with_pin(self.store, want, pin)
        if user is None and want == "cashier":
            user = user_with_pin(self.store, "supervisor", pin)  # a supervisor may run the till
        if user is None:
            if not station.has_users():
                raise NotAvailable("no staff users on this station yet (ur-kiosk cashier user-add)")
            station.login_failed(role, "no user of this role has that PIN")
            self.station.operator = None
            return False
        try:
            op = station.login(user, pin)
        except AuthError:
            self.station.operator = None
            return False
        self.station.operator = op if role == "cashier" else None
        return True

    def _op(self) -> Operator:
        if self.station.operator is None:
            raise UrError("sign in with a cashier PIN first")
        return self.station.operator

    def shift(self) -> ShiftState:
        op = self._op()
        with self.store.session() as s:
            sh = self._cashier_station().current_shift(s, op.user_id)
            if sh is None:
                return ShiftState(False, op.user_id, "", 0, 0)
            count, amount = shift_figures(s, op.user_id, sh.opened_at)
            opened = time.strftime("%Y-%m-%d %H:%M", time.localtime(sh.opened_at))
        return ShiftState(True, op.user_id, opened, amount, count)

    def open_shift(self, cashier: str) -> ShiftState:
        self._cashier_station().open_shift(self._op())
        return self.shift()

    def close_shift(self) -> ShiftState:
        summary = self._cashier_station().close_shift(self._op())
        return ShiftState(False, self._op().user_id, "", int(summary["amount"]),
                          int(summary["collections"]))

    def find_collectable(self, reference: str) -> Collectable:
        """What a cashier can take money for: an application, a fine or a catalogue fee item."""
        ref = reference.strip()
        try:
            fee_ref = self.payments.fee_ref(ref)
        except UrError:
            fee_ref = f"item:{ref}"  # a catalogue service id: a fee item sold at the till
        with self.store.session() as s:
            p = payables.resolve(s, fee_ref)
        label = same_in_all(p.description)
        if p.kind == "item":
            try:
                label = self.catalogue.service_detail(p.ref).summary.name
            except UrError:
                pass
        return Collectable(fee_ref, label, p.amount)

    def _supervisor(self, pin: str) -> tuple[str, str]:
        if pin_screen_locked_until(self.store):
            raise AuthError("too many wrong PINs: supervisor approval is locked for now")
        sup = user_with_pin(self.store, "supervisor", pin)
        if sup is None:
            self._cashier_station().login_failed("supervisor", "no supervisor has that PIN")
            raise UrError("wrong supervisor PIN")
        return sup, pin

    def void_payment(self, receipt_number: str, supervisor_pin: str) -> str:
        """Same-day reversal at the terminal, approved by a supervisor's PIN."""
        row = self.payments.payment_row(receipt_number)
        op = self._op()
        sup = self._supervisor(supervisor_pin)
        r = self._cashier_station(with_terminal=True).void(op, row.payment_id, sup, "voided at the cashier screen")
        if r.state != "REVERSED":
            raise UrError(r.message)
        return row.payment_id

    def refund_payment(self, receipt_number: str, supervisor_pin: str) -> str:
        row = self.payments.payment_row(receipt_number)
        op = self._op()
        sup = self._supervisor(supervisor_pin)
        r = self._cashier_station(with_terminal=True).refund(op, row.payment_id, sup,
                                                             "refunded at the cashier screen")
        if r.state != "REFUNDED":
            raise UrError(r.message)
        return row.payment_id

    def end_of_day(self) -> Reconciliation:
        """Terminal end-of-day against the journal (kiosk.payments.end_of_day.close_day); a
        day with unresolved payments is refused with the list (a supervisor closes it at the CLI)."""
        op = self._op()
        factory, exponent = self.payments.terminal()
        rep = end_of_day.close_day(self.store, self.station.identity(), factory, None, "", exponent,
                                   receipts=self.payments.receipts())
        with self.store.tx() as s:
            audit(s, op.user_id, "close_day", rep.business_date, {"status": rep.status})
        return Reconciliation(rep.business_date, int(rep.journal["amount"]), int(rep.terminal["amount"]),
                              int(rep.journal["count"]), rep.status == "MATCHED",
                              tuple(rep.differences) + tuple(f"unresolved {u['id']} {u['fee_ref']} {u['state']}"
                                                            for u in rep.unresolved))
