"""The citizen's "application received" screen with a visit ticket, over the real kiosk
services (store, catalogue and queue_waits datasets, print journal, ESC/POS emulator on a
pty) and offscreen Kivy: the ticket's number, counter group and measured wait are shown in
the citizen's language; with the printer out of paper the screen says it was not printed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from contract import queue_waits as qw
from kiosk import datasets
from kiosk.devices.printer_driver import EscPosPrinter
from kiosk.devices.receipt import ReceiptProfile
from kiosk.i18n import ntr, tr
from kiosk.payments.print_journal import PrintJournal, PrintSpooler
from kiosk.services.kiosk_services import KioskServices
from tests import support
from tests.payment_fixtures import enrolled_store
from tests.test_ui_kiosk_services import CATALOGUE
from tests.ui_harness import Harness

FORM = {"full_name": "علي حسن", "mobile": "07701234567"}


def _install(store: object, name: str, body: bytes) -> None:
    with store.tx() as s:  # type: ignore[attr-defined]  # a KioskStore
        datasets.install(s, name, 1, body, hashlib.sha256(body).hexdigest())


def test_submitted_screen_shows_the_printed_ticket_or_says_it_was_not_printed(tmp_path: Path) -> None:
    store, _ident = enrolled_store(tmp_path / "k", office="BGD-01")
    _install(store, "catalogue", json.dumps(CATALOGUE, ensure_ascii=False).encode())
    _install(store, qw.DATASET, qw.dump("https://central.example/staff/case/",
                                        {"BGD-01": {"moi-passports": qw.Waits(14, 6)}}))
    with support.printer_emulator(576) as (emu, p):
        drv = EscPosPrinter(p.device, 115200, status_timeout=3.0)
        svc = KioskServices(store, spooler=PrintSpooler(PrintJournal(store), drv, ReceiptProfile()))
        h = Harness(svc, lang="ar")
        try:
            done = svc.submit_application("passport-ordinary", FORM)
            h.app.session.submitted = done
            h.app.go("submitted")
            h.frames(2)
            facts = {"number": done.tracking, "group": "مديرية الجوازات", "wait": ntr("submitted.wait", 14, "ar")}
            assert h.text("submitted.ticket") == tr("submitted.ticket", "ar", **facts)
            plain = h.text("submitted.ticket").replace("\u2066", "").replace("\u2069", "")  # bidi isolates
            assert "نحو 14 دقيقة" in plain and done.tracking in plain and len(emu.receipts) == 1

            emu.set_fault("paper_end")
            late = svc.submit_application("passport-ordinary", FORM)
            assert late.ticket is not None and not late.ticket.printed
            h.app.session.submitted = late
            h.app.go("home")
            h.app.go("submitted")
            h.frames(2)
            facts["number"] = late.tracking
            assert h.text("submitted.ticket") == tr("submitted.ticket_unprinted", "ar", **facts)
            assert h.text("submitted.tracking") == late.tracking  # the number is on the screen
        finally:
            h.close()
            drv.close()
