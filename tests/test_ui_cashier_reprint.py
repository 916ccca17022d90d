"""The cashier's reprint on the real app prints in the session's language (issue 16): a
cashier in an Arabic session gets the Arabic-first receipt, marked REPRINT, as the
citizen's own copy was; in an English session the English one. The real kiosk services
drive the ZVT terminal emulator and the ESC/POS printer emulator on ptys (DATA/devices.toml)."""

from __future__ import annotations

import json
from pathlib import Path

from kiosk import i18n
from kiosk.i18n import LRI, PDI, has_arabic_script
from kiosk.store import KioskStore
from tests import support
from tests.payment_fixtures import enrolled_store, terminal
from tests.ui_harness import Harness

FINES = [{"id": "F-1", "plate": "12B0001", "amount": 30000, "offence": "speeding", "issued": "2026-11-01"}]
ENGLISH_HEAD = "UR E-SERVICES FEE RECEIPT"


def undated(lines: list[str]) -> list[str]:
    """A slip's lines without its print time (a reprint a second later says so)."""
    return [ln for ln in lines if not ln.startswith(("Date:", "التاريخ:"))]


def job_lines(store: KioskStore, key: str) -> list[str]:
    """The text lines of the print journal's job `payment:<id>:<key>`, in print order (the
    template filled as the renderer fills it; the emulator reads Arabic drawn as bitmaps
    as no text, so the job says what was sent in which order)."""
    from sqlalchemy import select

    from kiosk.devices import receipt as r
    from kiosk.payments.print_journal import PrintJob
    from kiosk.payments.receipts import TEMPLATE

    with store.session() as s:
        job = s.scalars(select(PrintJob).where(PrintJob.receipt_key.like(f"payment:%:{key}"))).one()
        data = json.loads(job.data_json)
    out = [r.fill(b.text, data) for b in r.load_template(TEMPLATE).blocks
           if b.type == "text" and not (b.when and not str(data.get(b.when, "") or ""))]
    return [ln.replace(LRI, "").replace(PDI, "") for ln in out]


def test_cashier_reprint_is_in_the_sessions_language(tmp_path: Path) -> None:
    from kiosk.devices.printer_emulator import PrinterEmulator
    from kiosk.devices.zvt_emulator import Knobs
    from kiosk.payments.cashier import CashierStation
    from kiosk.screens.citizen import start_payment
    from kiosk.services.kiosk_services import KioskServices

    store, _ident = enrolled_store(tmp_path / "kiosk", fine_list=FINES)
    station = CashierStation(store)
    station.add_user("sup", "Supervisor", "supervisor", "9999")
    station.add_user("ali", "Ali", "cashier", "1234", approved_by=("sup", "9999"))
    with terminal(Knobs(card_delay_s=0.0)) as (_h_term, factory), support.printer_emulator(576) as (emu, pp):
        (store.dir / "devices.toml").write_text(
            f'[devices.card_terminal]\nprofile = "zvt_terminal_generic"\nport = "{factory.device}"\n'  # type: ignore[attr-defined]  # the pty fixture adds .device to the factory
            f'[devices.receipt_printer]\nprofile = "epson_tm_t20ii_80mm"\nport = "{pp.device}"\n',
            encoding="utf-8")
        assert isinstance(emu, PrinterEmulator)
        h = Harness(KioskServices(store), lang="ar")
        try:
            start_payment(h.app, "F-1", 30000, "home")  # the citizen pays the fine
            h.wait(lambda: h.app.current_screen().stage in ("approved", "declined", "unknown", "error"),
                   timeout=30, what="the terminal's outcome")
            assert h.app.current_screen().stage == "approved"
            number = h.app.session.receipt.shown_number
            assert len(emu.receipt_texts) == 1
            original = emu.receipt_texts[0]
            h.app.wipe()
            h.staff_entrance("cashier")
            h.type("1234")
            h.tap("pin.ok", to="cashier")
            assert h.app.lang == "ar"
            h.tap("field.receipt_no")
            h.type(number)
            h.tap("cashier.reprint")
            h.wait(lambda: len(emu.receipt_texts) == 2, timeout=30, what="the reprint on paper")
            assert h.text("cashier.message") == i18n.tr("cashier.reprint_done", "ar", ref=number)
            ar_job = job_lines(store, "reprint:1")
            # Arabic first: every Arabic line above the English heading, as on the citizen's copy.
            arabic = [i for i, ln in enumerate(ar_job) if has_arabic_script(ln)]
            assert arabic and max(arabic) < ar_job.index(ENGLISH_HEAD), ar_job
            assert ar_job[0] == "*** REPRINT ***" and "إيصال" in ar_job[1], ar_job
            assert undated(ar_job[1:]) == undated(job_lines(store, "citizen"))  # the citizen's copy, line for line
            # On paper: the English lines of the citizen's copy under REPRINT; the Arabic
            # lines are drawn as bitmaps on this printer, so the slip is longer than that copy.
            assert undated(emu.receipt_texts[1]) == ["*** REPRINT ***", *undated(original)], emu.receipt_texts
            assert emu.receipts[1].height > emu.receipts[0].height
            # The same cashier in English: the English receipt only.
            h.tap("lang.en")
            assert h.app.lang == "en" and h.screen == "cashier"
            h.tap("cashier.reprint")  # the receipt number stays in its field
            h.wait(lambda: len(emu.receipt_texts) == 3, timeout=30, what="the second reprint on paper")
            assert h.text("cashier.message") == i18n.tr("cashier.reprint_done", "en", ref=number)
            en_job = job_lines(store, "reprint:2")
            assert en_job[0] == "*** REPRINT ***" and en_job.count(ENGLISH_HEAD) == 1
            assert not any(has_arabic_script(ln) for ln in en_job), en_job
            # On paper: the same English text, no Arabic bitmaps, so a shorter slip.
            rules = ("-" * 48,)  # the Arabic slip has one more rule: between its Arabic and English parts
            assert ([ln for ln in undated(emu.receipt_texts[2]) if ln not in rules]
                    == [ln for ln in undated(emu.receipt_texts[1]) if ln not in rules]), emu.receipt_texts
            assert emu.receipts[2].height < emu.receipts[0].height
        finally:
            h.close()
