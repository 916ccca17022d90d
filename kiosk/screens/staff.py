"""Staff screens behind a PIN: cashier (collect, void/refund with a supervisor PIN,
shift open/close, end of day) and technician (device states and tests, profiles,
recent errors). PINs are checked by the kiosk service, never here."""

from __future__ import annotations

from functools import partial
from typing import Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from kiosk.i18n import N_, isolate
from kiosk.screens.base import FieldsMixin, KioskScreen
from kiosk.screens.citizen import start_payment
from kiosk.screens.widgets import button, column, label, row, scroll
from kiosk.ui_services import text_in


class PinScreen(FieldsMixin, KioskScreen):
    screen_name = "pin"
    title_key = N_("pin.title")
    citizen = False
    SPECS = {"pin": ("pin", 8)}

    def build_body(self) -> Widget:
        a = self.app
        self.fields = {}
        body = BoxLayout(orientation="vertical", spacing=10)
        role = getattr(a, "pin_role", "cashier")
        body.add_widget(label(a, self.t(f"pin.role.{role}"), role="heading", kid="pin.role"))
        body.add_widget(row(a, [button(a, self.t(key), partial(self.as_role, r), kid=f"pin.as.{r}", font="small",
                                       role="primary" if r == role else "secondary", width=260)
                                for r, key in (("cashier", N_("home.cashier")),
                                               ("technician", N_("home.technician")))], spacing=8))
        body.add_widget(self.make_field(self.s.inputs, "pin", self.t("pin.enter"), self.SPECS,
                                        masked=True))
        body.add_widget(row(a, [button(a, self.t("nav.back"), a.wipe, kid="nav.back", role="secondary"),
                                button(a, self.t("pin.ok"), self.ok, kid="pin.ok")]))
        body.add_widget(Widget())
        body.add_widget(self.make_keyboard(self.s.inputs, self.SPECS))
        return body

    def as_role(self, role: str) -> None:
        self.app.pin_role = role
        self.refresh()

    def ok(self) -> None:
        a = self.app
        role = getattr(a, "pin_role", "cashier")
        pin = self.s.inputs.pop("pin", "")
        good = self.call(a.services.check_pin, role, pin)
        if good:
            a.staff_role = role
            a.go(role)
        else:
            if good is not None:
                self.error_text = self.t("pin.wrong")
            self.refresh()


class StaffScreen(KioskScreen):
    citizen = False

    def note(self, text: str) -> None:
        self.s.message = text
        if not text:
            self.s.message_tone = ""
        self.refresh()


class CashierScreen(FieldsMixin, StaffScreen):
    screen_name = "cashier"
    title_key = N_("cashier.title")
    SPECS = {"reference": ("tracking", 40), "receipt_no": ("tracking", 40),
             "supervisor_pin": ("pin", 8)}

    def build_body(self) -> Widget:
        a = self.app
        self.fields = {}
        body = BoxLayout(orientation="vertical", spacing=8)
        top = column(spacing=6)
        shift = self.call(a.services.shift)
        if shift is not None:
            state = (self.tn("cashier.shift_open", shift.count, cashier=shift.cashier,
                            amount=a.money(shift.collected)) if shift.open
                     else self.t("cashier.shift_closed"))
            top.add_widget(label(a, state, role="heading", kid="cashier.shift"))
        top.add_widget(row(a, [
            button(a, self.t("cashier.open_shift"), self.open_shift, kid="cashier.open", font="small"),
            button(a, self.t("cashier.close_shift"), self.close_shift, kid="cashier.close", font="small",
                   role="secondary"),
            button(a, self.t("cashier.end_of_day"), self.end_of_day, kid="cashier.eod", font="small",
                   role="secondary"),
            button(a, self.t("staff.logout"), a.wipe, kid="staff.logout", font="small", role="danger"),
        ], spacing=8))
        unsettled = getattr(a.services, "unsettled_payments", None)
        open_payments = (self.call(unsettled) or []) if unsettled is not None else []
        if open_payments:  # red banner: no card payment until these are settled
            top.add_widget(label(a, self.tn("cashier.unsettled", len(open_payments), amount=a.money(
                sum(int(p.get("amount", 0)) for p in open_payments)),
                ids=", ".join(isolate(str(p["id"]), a.lang) for p in open_payments[:3])),
                role="heading", bold=True, color=a.palette.danger, kid="cashier.unsettled"))
        if self.s.eod_confirm:  # end of day cannot be undone: ask first
            top.add_widget(label(a, self.t("cashier.eod_ask"), role="heading", bold=True,
                                 color=a.palette.warning, kid="cashier.eod_ask"))
            top.add_widget(row(a, [
                button(a, self.t("cashier.eod_yes"), self.end_of_day_confirmed, kid="cashier.eod_yes",
                       font="small", role="danger"),
                button(a, self.t("cashier.eod_no"), self.end_of_day_cancelled, kid="cashier.eod_no",
                       font="small", role="secondary"),
            ], spacing=8))
        if self.s.message:
            tone = {"ok": a.palette.ok, "danger": a.palette.danger}.get(self.s.message_tone, a.palette.primary)
            top.add_widget(label(a, self.s.message, kid="cashier.message", color=tone))
        top.add_widget(self.make_field(self.s.inputs, "reference", self.t("cashier.reference"), self.SPECS))
        found = self.s.staff_found
        find_row = [button(a, self.t("cashier.find"), self.find, kid="cashier.find", font="small")]
        if found is not None:
            find_row.insert(0, label(a, f"{text_in(found.label, a.lang)} — {a.money(found.amount)}",
                                     kid="cashier.found"))
            find_row.append(button(a, self.t("cashier.collect"), self.collect, kid="cashier.collect",
                                   font="small", role="ok"))
        top.add_widget(row(a, find_row, spacing=8))
        top.add_widget(self.make_field(self.s.inputs, "receipt_no", self.t("cashier.receipt_no"), self.SPECS))
        top.add_widget(self.make_field(self.s.inputs, "supervisor_pin", self.t("cashier.supervisor_pin"),
                                       self.SPECS, masked=True))
        top.add_widget(row(a, [
            button(a, self.t("cashier.void"), lambda: self.reverse("void"), kid="cashier.void",
                   font="small", role="danger"),
            button(a, self.t("cashier.refund"), lambda: self.reverse("refund"), kid="cashier.refund",
                   font="small", role="danger"),
            button(a, self.t("cashier.reprint"), self.reprint, kid="cashier.reprint", font="small",
                   role="secondary"),
        ], spacing=8))
        body.add_widget(scroll(top))
        body.add_widget(self.make_keyboard(self.s.inputs, self.SPECS))
        return body

    def open_shift(self) -> None:
        st = self.call(self.app.services.open_shift, "cashier")
        self.note(self.t("cashier.opened") if st else "")

    def close_shift(self) -> None:
        st = self.call(self.app.services.close_shift)
        self.note(self.tn("cashier.closed", st.count, amount=self.app.money(st.collected)) if st else "")

    def end_of_day(self) -> None:
        self.s.eod_confirm = True
        self.note("")

    def end_of_day_cancelled(self) -> None:
        self.s.eod_confirm = False
        self.note("")

    def end_of_day_confirmed(self) -> None:
        self.s.eod_confirm = False
        r = self.call(self.app.services.end_of_day)
        if r is None:
            self.note("")
            return
        self.s.message_tone = "ok" if r.matched else "danger"
        head = self.t("cashier.eod_ok") if r.matched else self.t("cashier.eod_mismatch")
        text = self.tn("cashier.eod_figures", r.count, day=r.business_day, ledger=self.app.money(r.ledger_total),
                      terminal=self.app.money(r.terminal_total))
        self.note("\n".join([head, text, *r.differences]))

    def find(self) -> None:
        self.s.staff_found = self.call(self.app.services.find_collectable, self.value("reference").strip())
        self.s.message = ""
        self.refresh()

    def collect(self) -> None:
        found = self.s.staff_found
        if found is not None:
            start_payment(self.app, found.reference, found.amount, back="cashier")

    def reverse(self, how: str) -> None:
        fn = self.app.services.void_payment if how == "void" else self.app.services.refund_payment
        pin = self.s.inputs.pop("supervisor_pin", "")
        done = self.call(fn, self.value("receipt_no").strip(), pin)
        self.note(self.t(f"cashier.{how}_done", ref=done) if done else "")


    def reprint(self) -> None:
        """The citizen's copy again, marked REPRINT, in the session's language (Arabic
        first in an Arabic session, as the citizen's own copy was)."""
        r = self.call(self.app.services.reprint_receipt, self.value("receipt_no").strip(), self.app.lang)
        if r is None:
            self.note("")
            return
        self.s.message_tone = "ok" if r.printed else "danger"
        self.note(self.t("cashier.reprint_done", ref=r.shown_number or r.number) if r.printed
                  else self.t(r.print_problem or "receipt.not_printed"))


class TechnicianScreen(StaffScreen):
    screen_name = "technician"
    title_key = N_("tech.title")
    busy = False

    def build_body(self) -> Widget:
        a = self.app
        pal = a.palette
        body = column(spacing=8)
        # Two rows: five buttons in one cut the Kurdish terminal test's words at large text.
        body.add_widget(row(a, [
            button(a, self.t("tech.test_print"), lambda: self.run(a.services.test_print),
                   kid="tech.test_print", font="small"),
            button(a, self.t("tech.scan_test"), lambda: self.run(a.services.scan_test, 5.0),
                   kid="tech.scan_test", font="small"),
            button(a, self.t("tech.terminal_test"), lambda: self.run(a.services.terminal_registration_test),
                   kid="tech.terminal_test", font="small"),
        ], spacing=8))
        body.add_widget(row(a, [
            button(a, self.t("tech.refresh"), self.refresh, kid="tech.refresh", font="small",
                   role="secondary"),
            button(a, self.t("staff.logout"), a.wipe, kid="staff.logout", font="small", role="danger"),
        ], spacing=8))
        if self.s.message:
            body.add_widget(label(a, self.s.message, color=pal.primary, kid="tech.message"))
        body.add_widget(label(a, self.t("tech.devices"), role="heading", bold=True))
        for d in self.call(a.services.device_states) or []:
            color = {"ok": pal.ok, "warning": pal.warning}.get(d.state, pal.danger)
            body.add_widget(row(a, [
                label(a, self.t(f"device.{d.device}"), bold=True),
                label(a, self.t(f"device.state.{d.state}"), color=color, kid=f"tech.device.{d.device}"),
                label(a, d.detail, role="small"),
            ]))
        body.add_widget(label(a, self.t("tech.profiles"), role="heading", bold=True))
        profiles = self.call(a.services.device_profiles) or []
        for p in profiles:
            body.add_widget(row(a, [label(a, p), button(a, self.t("tech.apply_profile"),
                                                       partial(self.run, a.services.apply_device_profile, p),
                                                       kid=f"tech.profile.{p}", font="small", width=220)]))
        body.add_widget(label(a, self.t("tech.errors"), role="heading", bold=True))
        for n, e in enumerate(self.call(a.services.recent_errors, 20) or []):
            body.add_widget(label(a, e, role="small", kid=f"tech.error.{n}"))
        return scroll(body)

    def run(self, fn: Any, *args: Any) -> None:
        """Device tests can wait on hardware for seconds: keep the screen responsive."""
        self.busy = True
        self.error_text = ""
        self.note(self.t("tech.working"))

        def done(result: Any, error: str) -> None:
            self.busy = False
            self.error_text = error
            self.note(str(result) if result is not None else "")

        self.in_background(fn, *args, done=done)


STAFF_SCREENS: tuple[type[KioskScreen], ...] = (PinScreen, CashierScreen, TechnicianScreen)
