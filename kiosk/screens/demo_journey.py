"""A scripted citizen journey played offscreen, writing a screenshot per step.

`run(out_dir, services)` needs no display (SDL offscreen rendering). `ur-kiosk ui-demo`
passes `KioskServices` over the kiosk's store, so steps that need a part this kiosk
lacks show that part's "not available" message in the screenshot; a step whose
button is missing is skipped and noted in `out_dir/journey.txt`.

The journey ends with proof from three places: the verify screen's verdict on a code
the kiosk's QR scanner reads (`make demo` runs a scanner emulator showing it the
demo's certificate), the queue ticket line on the submitted screen (a service that
needs an office visit), and a cashier's end of day behind the staff PIN (the PIN
comes from `cashier_pin`, else $UR_CASHIER_PIN as for `ur-kiosk cashier`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.ui_services import FINAL_STAGES, UiServices

if TYPE_CHECKING:
    from kiosk.screens.driver import KioskDriver as KioskDriverT


def run(out_dir: Path | str, services: UiServices, cashier_pin: str | None = None,
        scan_wait: float = 8.0) -> list[Path]:
    """Play the journey; `scan_wait` is how long the verify screen waits for the scanner
    to read a code (its verdict is the proof screenshot)."""
    pin = cashier_pin if cashier_pin is not None else os.environ.get("UR_CASHIER_PIN", "")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # The driver configures Kivy (kiosk_mode.configure) before it imports Kivy and the app.
    from kiosk.screens.driver import KioskDriver

    d = KioskDriver(services, lang="ar")
    shots: list[Path] = []
    notes: list[str] = []

    def shot(name: str) -> None:
        shots.append(d.screenshot(out / f"{len(shots) + 1:02d}-{name}.png"))

    def tap(kid: str) -> bool:
        try:
            d.tap(kid)
            return True
        except AssertionError as e:
            notes.append(f"skipped tap {kid}: {str(e)[:160]}")
            return False

    def type_(text: str) -> None:
        for ch in text:
            if not tap("key.SPACE" if ch == " " else f"key.{ch}"):
                return

    shot("home-ar")
    tap("lang.ckb")
    shot("home-ckb")
    tap("lang.en")
    shot("home-en")
    tap("lang.ar")
    tap("home.catalogue")
    first = None
    # The non-conviction certificate has a short real form; a test catalogue may only have passports.
    tap("field.query")  # the keyboard shows while a field has focus
    for query in ("عدم", "جواز"):
        type_(query)
        d.frames(2)  # the search runs in the frame after the last key's echo
        first = next((k for k in d.ids() if k.startswith("svc.")), None)
        if first:
            break
        tap("key.CLEAR")
    shot("catalogue-search-ar")
    if first is None:
        notes.append("skipped the application steps: the catalogue lists no service")
    if first and tap(first):
        shot("service-ar")
        tap("lang.ckb")
        shot("service-ckb")
        tap("lang.ar")
        if tap("service.apply"):
            tap("apply.next")
            shot("form-errors-ar")
            tap("field.full_name")
            type_("علي حسن")
            tap("field.national_id")
            type_("199012345678")
            tap("field.mobile")
            type_("07701234567")
            choices = [k for k in d.ids() if k.startswith("choice.")]
            if choices:
                tap(choices[0])
            shot("form-filled-ar")
            tap("apply.next")
            shot("review-ar")
            if tap("review.submit"):
                shot("submitted-ar")
                if "submitted.ticket" in d.ids():  # a service that needs a visit: the queue ticket
                    notes.append(f"queue ticket: {d.text('submitted.ticket')}")
                if tap("submitted.pay"):
                    try:
                        d.wait(lambda: d.app.current_screen().stage in FINAL_STAGES, 10, "payment")
                    except AssertionError as e:
                        notes.append(str(e))
                    shot("payment-ar")
                    if tap("pay.receipt"):
                        shot("receipt-ar")
    d.app.wipe()
    d.frames(2)
    tap("home.verify")
    shot("verify-ar")
    try:  # the scanner hands its code to the verify screen (KioskApp polls it there)
        d.wait(lambda: "verify.verdict" in d.ids(), scan_wait, "a scanned code's verdict")
        notes.append(f"verification verdict: {d.text('verify.verdict')}")
        shot("verify-verdict-ar")
    except AssertionError as e:
        notes.append(f"skipped the verification verdict: no code scanned ({str(e)[:120]})")
    d.app.wipe()
    d.frames(2)
    _end_of_day(d, pin, shot, tap, notes)
    d.app.wipe()
    d.frames(2)
    d.close()
    (out / "journey.txt").write_text("\n".join([f"{len(shots)} screenshots", *notes]) + "\n")
    return shots


def _end_of_day(d: KioskDriverT, pin: str, shot: Callable[[str], None], tap: Callable[[str], bool],
                notes: list[str]) -> None:
    """Staff corner -> PIN screen -> cashier -> end of day, asked and confirmed."""
    try:
        d.staff_entrance("cashier")
    except AssertionError as e:
        notes.append(f"skipped the cashier's end of day: {str(e)[:160]}")
        return
    shot("staff-pin-ar")
    if not pin:
        notes.append("skipped the cashier's end of day: no cashier PIN (UR_CASHIER_PIN)")
        return
    d.type(pin, "pin")
    if not tap("pin.ok"):
        return
    try:
        d.wait_screen("cashier", after="the cashier's PIN")
    except AssertionError as e:
        notes.append(f"skipped the cashier's end of day: {str(e)[:160]}")
        return
    if tap("cashier.eod"):
        shot("cashier-eod-ask-ar")
        if tap("cashier.eod_yes"):
            try:
                d.wait(lambda: {"cashier.message", "cashier.error"} & set(d.ids()), 30,
                       "the end of day's result")
            except AssertionError as e:
                notes.append(str(e))
            for kid in ("cashier.message", "cashier.error"):
                if kid in d.ids():
                    notes.append("end of day: " + d.text(kid).replace("\n", " / "))
            shot("cashier-eod-ar")
    tap("staff.logout")
