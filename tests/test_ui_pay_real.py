"""The real pay screen on the real kiosk services: a citizen finds a fine by plate and
pays it by touches on the offscreen kiosk; the ZVT terminal emulator and the ESC/POS
printer emulator sit on real ptys, found through DATA/devices.toml. The receipt's QR
read back from the screenshot is the signed UR1 code the payment journal holds."""

from __future__ import annotations

from pathlib import Path

from contract import receipt_claims
from kiosk import i18n
from tests import support
from tests.payment_fixtures import enrolled_store, terminal
from tests.ui_harness import Harness

FINES = [{"id": "F-1", "plate": "12B0001", "amount": 30000, "offence": "speeding", "issued": "2026-11-01"},
         {"id": "F-2", "plate": "12B0001", "amount": 15000, "offence": "parking", "issued": "2026-11-02"}]


def test_fine_paid_on_the_real_pay_screen_prints_and_shows_the_ur1_receipt(tmp_path: Path) -> None:
    from kiosk.devices.zvt_emulator import Knobs
    from kiosk.payments.service import PaymentRow
    from kiosk.screens.citizen import start_payment
    from kiosk.services.kiosk_services import KioskServices

    store, _ident = enrolled_store(tmp_path / "kiosk", fine_list=FINES)
    with terminal(Knobs(card_delay_s=0.1)) as (h_term, factory), support.printer_emulator(576) as (emu, pp):
        (store.dir / "devices.toml").write_text(
            f'[devices.card_terminal]\nprofile = "zvt_terminal_generic"\nport = "{factory.device}"\n'  # type: ignore[attr-defined]  # the pty fixture adds .device to the factory
            f'[devices.receipt_printer]\nprofile = "epson_tm_t20ii_80mm"\nport = "{pp.device}"\n',
            encoding="utf-8")
        h = Harness(KioskServices(store), lang="en")
        try:
            h.tap("home.fines")
            h.type("12B0001")
            h.tap("fines.go")
            assert "speeding" in h.text("fine.F-1.text") and "parking" in h.text("fine.F-2.text")
            h.tap("fine.F-1.pay", to="pay")
            h.wait(lambda: h.app.current_screen().stage in ("approved", "declined", "unknown", "error"),
                   timeout=30, what="the terminal's outcome")
            pay = h.app.current_screen()
            assert pay.stages_shown[0] == "insert_card" and pay.stage == "approved", pay.detail
            h.tap("pay.receipt", to="receipt")
            assert h.text("receipt.amount") == i18n.money(30000, "en")
            assert h.text("receipt.print_state") == i18n.tr("receipt.printed", "en")
            shot = h.screenshot(tmp_path / "receipt.png")
            from PIL import Image
            from pyzbar.pyzbar import decode

            codes = [d.data.decode() for d in decode(Image.open(shot))]
            with store.session() as s:
                row = s.query(PaymentRow).one()
                assert (row.fee_ref, row.state, row.dinars) == ("fine:F-1", "PAID", 30000)
                assert codes == [row.receipt_code] and codes[0].startswith("UR1:")
                # no internal id on the citizen's screen: no fee reference, no payment UUID
                shown = " ".join(str(w.text) for w in h.root.walk(restrict=True) if isinstance(getattr(w, "text", None), str))
                assert "fine:" not in shown and row.payment_id not in shown
                assert h.text("receipt.number") == i18n.tr("receipt.number", "en",
                                                           number=receipt_claims.short_id(row.payment_id))
            assert h.text("receipt.reference") == i18n.tr("pay.reference", "en", ref="F-1")
            assert h.text("receipt.fee.0").endswith(i18n.money(30000, "en"))  # amounts formatted
            assert h.text("receipt.paid_for") == "Traffic fine F-1, plate 12B0001"  # named, in the session's language
            printed = "\n".join(emu.receipt_texts[0])
            assert len(emu.receipt_texts) == 1 and "TOTAL 30,000 IQD" in printed
            assert "Receipt no. " + receipt_claims.short_id(row.payment_id) in printed
            assert [e.amount for e in h_term.journal if e.kind == "payment"] == [30000]
            # Back on the fines screen: the paid fine shows "paid", no longer a Pay button,
            # and paying it again (a stale screen) says it is paid, charging nothing.
            h.tap("receipt.done", to="fines")
            h.tap("fines.go")
            assert "fine.F-2.pay" in h.ids() and "fine.F-1.pay" not in h.ids()
            assert h.text("fine.F-1.paid") == i18n.tr("fines.paid", "en")
            start_payment(h.app, "F-1", 30000, "fines")
            h.wait(lambda: "pay.detail" in h.ids(), timeout=30, what="the answer to paying again")
            assert h.text("pay.detail") == i18n.tr("pay.already_paid", "en")
            assert [e.amount for e in h_term.journal if e.kind == "payment"] == [30000]
        finally:
            h.close()
