"""Cashier and technician flows behind a PIN, driven by touches on the offscreen kiosk."""

from __future__ import annotations

from kiosk import i18n
from tests.ui_fixtures import FixtureServices
from tests.ui_harness import Harness


def sign_in(h, role: str, pin: str) -> None:
    h.staff_entrance(role)
    assert h.screen == "pin"
    h.type(pin)
    h.tap("pin.ok")


def test_staff_screens_need_the_right_pin() -> None:
    svc = FixtureServices()
    h = Harness(svc, lang="en")
    h.app.go("cashier")
    assert h.screen == "home"  # no PIN, no cashier screen
    sign_in(h, "cashier", "0000")
    assert h.screen == "pin"
    assert h.text("pin.error") == i18n.tr("pin.wrong", "en")
    assert h.find("field.pin").text == ""  # the PIN is not kept after a try
    h.type("12")
    assert h.find("field.pin").text == "••"  # masked
    h.tap("key.CLEAR")
    h.type("4321")  # the technician's PIN does not open the cashier screen
    h.tap("pin.ok", to="pin")
    h.type("1234")
    h.tap("pin.ok", to="cashier")
    h.tap("staff.logout")
    assert h.screen == "home" and h.app.staff_role == ""


def test_cashier_shift_collect_void_and_end_of_day() -> None:
    svc = FixtureServices()
    svc.applications["KSK1-000005"] = ("passport-ordinary", {})
    h = Harness(svc, lang="ar")
    sign_in(h, "cashier", "1234")
    assert h.text("cashier.shift") == i18n.tr("cashier.shift_closed", "ar")
    h.tap("cashier.open")
    assert svc.shift_state.open
    assert h.text("cashier.message") == i18n.tr("cashier.opened", "ar")
    h.tap("field.reference")
    h.type("KSK1-000005")
    h.tap("cashier.find")
    assert i18n.money(91_000, "ar") in h.text("cashier.found")
    h.tap("cashier.collect", to="pay")
    h.wait(lambda: h.app.current_screen().stage == "approved", what="approval")
    h.tap("pay.receipt")
    receipt = h.app.session.receipt
    h.tap("receipt.done")
    assert h.screen == "cashier"  # the cashier stays signed in
    assert svc.shift_state.count == 1 and svc.shift_state.collected == 91_000
    # Void needs the supervisor's PIN
    h.tap("field.receipt_no")
    h.type(receipt.number)
    h.tap("field.supervisor_pin")
    h.type("1111")
    h.tap("cashier.void")
    assert "supervisor PIN refused" in h.text("cashier.error")
    assert svc.voided == []
    h.tap("field.supervisor_pin")
    h.type("9999")
    h.tap("cashier.void")
    assert svc.voided == [receipt.number]
    assert h.text("cashier.message") == i18n.tr("cashier.void_done", "ar", ref=receipt.number)
    h.tap("cashier.eod")
    h.tap("cashier.eod_yes")  # end of day asks first
    msg = h.text("cashier.message")
    assert msg.startswith(i18n.tr("cashier.eod_ok", "ar"))
    assert i18n.ntr("cashier.eod_figures", 0, "ar", day="2026-05-01", ledger=i18n.money(0, "ar"),
                    terminal=i18n.money(0, "ar")) in msg
    h.tap("cashier.close")
    assert not svc.shift_state.open


def test_technician_devices_tests_profiles_errors() -> None:
    svc = FixtureServices(paper="near_end")
    h = Harness(svc, lang="ckb")
    sign_in(h, "technician", "4321")
    assert h.screen == "technician"
    assert h.text("tech.device.printer") == i18n.tr("device.state.warning", "ckb")
    assert h.text("tech.device.scanner") == i18n.tr("device.state.absent", "ckb")
    tech = h.app.current_screen()

    def run(kid: str) -> str:
        h.tap(kid)
        h.wait(lambda: not tech.busy, what=f"{kid} to finish")
        h.frames(1)
        return h.text("tech.message")

    assert run("tech.test_print") == "test page printed"
    svc.scans.append("HELLO-123")
    assert run("tech.scan_test") == "scanned: HELLO-123"
    assert run("tech.terminal_test") == "terminal registered"
    assert run("tech.profile.generic-zvt") == "profile generic-zvt applied"
    assert svc.applied_profiles == ["generic-zvt"]
    assert "printer: paper near end" in h.text("tech.error.0")
