"""A scripted citizen journey played offscreen, writing a screenshot per step.

`run(out_dir, services)` needs no display (SDL offscreen rendering). `ur-kiosk ui-demo`
passes `KioskServices` over the kiosk's store, so steps that need a part this kiosk
lacks show that part's "not available" message in the screenshot; a step whose
button is missing is skipped and noted in `out_dir/journey.txt`.
"""

from __future__ import annotations

from pathlib import Path

from kiosk.ui_services import FINAL_STAGES, UiServices


def run(out_dir: Path | str, services: UiServices) -> list[Path]:
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
    for query in ("عدم", "جواز"):
        type_(query)
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
    d.app.wipe()
    d.frames(2)
    d.close()
    (out / "journey.txt").write_text("\n".join([f"{len(shots)} screenshots", *notes]) + "\n")
    return shots
