"""Card payments for screens: one charge through the payment journal
(kiosk.payments.service.PaymentService over the device map's terminal), its receipt,
reprints, and what a crash left unsettled."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import select

from contract import receipt_claims
from contract.errors import UrError
from kiosk.applications import fines
from kiosk.applications.applications import KioskApplication
from kiosk.devices.zvt_driver import ZvtDriver
from kiosk.i18n import DEFAULT_LANG, LANGS
from kiosk.payments import payables
from kiosk.payments.cashier import CashierStation
from kiosk.payments.end_of_day import unresolved_item
from kiosk.payments.print_journal import DONE, PrintJob, PrintJournal, screen_status
from kiosk.payments.receipts import PaymentReceipts, paid_for
from kiosk.payments.service import (
    MESSAGES,
    PaymentResult,
    PaymentRow,
    PaymentService,
    card_wait_from_profile,
    entry_of,
    terminal_from_profile,
)
from kiosk.services.station import Station
from kiosk.ui_services import AlreadyPaid, NotAvailable, PayEvent, Receipt

UNSETTLED = ["CREATED", "PENDING", "UNKNOWN"]


class PaymentServices:
    def __init__(self, station: Station) -> None:
        self.station, self.store = station, station.store
        self._service: PaymentService | None = None

    def terminal(self) -> tuple[Callable[[], ZvtDriver], int]:
        """The device map's card terminal: a driver factory and its amount exponent
        (NotAvailable without a map or a terminal)."""
        dev = self.station.devices.get("terminal")
        return terminal_from_profile(dev.profile, dev.port)

    def receipts(self) -> PaymentReceipts:
        return PaymentReceipts(self.station.spooler(), PrintJournal(self.store), self.station.identity())

    def service(self) -> PaymentService:
        if self._service is None:
            dev = self.station.devices.get("terminal")  # NotAvailable without a map or a terminal
            factory, exponent = terminal_from_profile(dev.profile, dev.port)
            self._service = PaymentService(self.store, self.station.identity(), factory, receipts=self.receipts(),
                                           exponent=exponent, card_wait_s=card_wait_from_profile(dev.profile))
        return self._service

    def settle_payments_at_start(self) -> list[str]:
        """Start-up of the screens: settle what a crash left open, from the terminal, before
        anyone can start a new charge (PaymentService.recover). No terminal configured:
        nothing to settle here. Returns one line per payment it touched."""
        try:
            svc = self.service()
        except NotAvailable:
            return []
        return [f"{r.payment_id} {r.fee_ref} {r.amount} IQD: {r.state} - {r.message}" for r in svc.recover()]

    def unsettled_payments(self) -> list[dict[str, Any]]:
        """Payments whose outcome is not settled (for the cashier's red banner): while any
        exists this station takes no card payment."""
        with self.store.session() as s:
            rows = s.scalars(select(PaymentRow).where(PaymentRow.state.in_(UNSETTLED)))
            return [unresolved_item(r) for r in rows]

    def cancel_payment(self) -> None:
        """The Cancel button during the card wait: aborts at the terminal (the payment's
        final event says whether it was cancelled or already charged)."""
        if self._service is not None:
            self._service.cancel()

    def fee_ref(self, reference: str) -> str:
        """Screens pass a tracking number, a fine id or a full fee reference."""
        ref = reference.strip()
        if ref.partition(":")[0] in payables.KINDS and ":" in ref:
            return ref
        with self.store.session() as s:
            if s.get(KioskApplication, ref.upper()) is not None:
                return f"app:{ref.upper()}"
            try:
                fines.get(s, ref)
                return f"fine:{ref}"
            except UrError:
                pass
        raise UrError(f"{ref!r} is neither an application of this station nor a fine in its fines list")

    def receipt(self, row: PaymentRow) -> Receipt:
        e = entry_of(row)
        printed, problem = False, "receipt.not_printed"
        with self.store.session() as s:
            job = s.scalars(select(PrintJob).where(
                PrintJob.receipt_key == f"payment:{row.payment_id}:citizen")).first()
            if job is not None and job.state == DONE:
                printed, problem = True, ""
            what = paid_for(s, row)  # the catalogue's names of the service, per language
        spooler = self.station.spooler_if_started()
        if not printed and spooler is not None and screen_status(spooler).get("printer_state") == "paper_end":
            problem = "receipt.paper_out"

        def t(en: str, ar: str, ckb: str) -> dict[str, str]:
            return {"en": en, "ar": ar, "ckb": ckb}
        # A citizen sees no internal id: the fee reference's kind prefix and a service id
        # (item:<service id>) stay off the screen, amounts go to `fees` for the screen to
        # format, and the payment UUID is shown by its first block.
        kind, _, ref = row.fee_ref.partition(":")
        lines = ((t("Terminal", "الجهاز", "ئامێر"), e.terminal_id or "-"),
                 (t("Trace", "رقم التتبع", "ژمارەی شوێنکەوتن"), str(e.trace or "-")),
                 (t("Card receipt", "إيصال البطاقة", "پسوڵەی کارت"), str(e.receipt_no or "-")),
                 (t("Date", "التاريخ", "بەروار"), row.business_date))
        fees = ((t("Statutory fee", "الرسم القانوني", "ڕسوومی یاسایی"), int(row.statutory)),
                (t("Service fee", "أجور الخدمة", "کرێی خزمەتگوزاری"), int(row.service)))
        return Receipt(number=row.payment_id, reference=row.fee_ref, amount=row.dinars, lines=lines,
                       qr_text=row.receipt_code, printed=printed, print_problem=problem,
                       shown_number=receipt_claims.short_id(row.payment_id),  # as printed and in the QR
                       shown_reference=ref if kind in ("app", "fine") else "-", fees=fees,
                       paid_for=what.names)

    def pay(self, reference: str, amount: int, lang: str = DEFAULT_LANG) -> Iterator[PayEvent]:
        """Charge the fee once through the payment journal. The amount is the payable's,
        from the data; a different `amount` from the screen is refused before the terminal
        is touched. The terminal runs on a worker thread so each stage is yielded as it
        happens; the last event is final (approved with its receipt, declined, unknown,
        error). A cashier signed in at the PIN screen collects through the cashier station
        (shift and audit); a citizen pays directly. The receipt prints in `lang` (the
        session's language) with English below."""
        self._refuse_if_paid(reference)
        svc = self.service()  # NotAvailable next: no terminal, no payment
        if isinstance(svc.receipts, PaymentReceipts):
            svc.receipts.lang = lang if lang in LANGS else DEFAULT_LANG
        fee_ref = self.fee_ref(reference)
        with self.store.session() as s:
            payable = payables.resolve(s, fee_ref)
        if int(amount) != payable.amount:
            raise UrError(f"{fee_ref} costs {payable.amount} IQD, not {amount}: the amount comes from the data")
        op = self.station.operator
        events: queue.Queue[tuple[str, Any]] = queue.Queue()

        def work() -> None:
            try:
                say = lambda ev, msg: events.put(("progress", (ev, msg)))  # noqa: E731
                if op is not None:
                    r = CashierStation(self.store, svc).collect(op, fee_ref, say)
                else:
                    r = svc.pay(fee_ref, say)
                events.put(("done", r))
            except BaseException as e:  # noqa: BLE001 - re-raised on the caller's thread
                events.put(("raise", e))

        threading.Thread(target=work, name="kiosk-payment", daemon=True).start()
        while True:
            what, value = events.get()
            if what == "raise":
                raise value
            if what == "progress":
                ev, msg = value
                if ev == "insert_card":
                    yield PayEvent("insert_card", detail=msg)
                elif ev == "card_wait":  # the countdown: seconds left to present the card
                    yield PayEvent("insert_card", detail=f"countdown:{msg}")
                elif ev in ("approved", "unknown"):
                    yield PayEvent("processing", detail=msg)  # receipt / enquiry still to come
                continue
            yield self._final(value)
            return

    def _refuse_if_paid(self, reference: str) -> None:
        """A payable paid already is refused as such before the terminal is looked at, so
        the citizen reads "already paid", not "payment device unavailable"."""
        try:
            fee_ref = self.fee_ref(reference)
        except UrError:
            return  # unknown references are refused below, as before
        with self.store.session() as s:
            paid = s.scalars(select(PaymentRow.payment_id).where(
                PaymentRow.fee_ref == fee_ref, PaymentRow.state.in_(["APPROVED", "PAID"]))).first()
        if paid is not None:
            raise AlreadyPaid(f"{fee_ref} is already paid (payment {paid})")

    def _final(self, r: PaymentResult) -> PayEvent:
        """The payment journal's outcome -> the last event the screen shows."""
        if r.state == "PAID":
            return PayEvent("approved", receipt=self.receipt(self.service().get(r.payment_id)),
                            detail=r.message)
        if r.state == "UNKNOWN" or r.needs_supervisor or r.state in ("PENDING", "APPROVED"):
            # Charged or maybe charged and not settled: never invite a second payment; the
            # collection id is the tracking number staff settle it by.
            return PayEvent("unknown", detail=f"tracking:{r.payment_id} {MESSAGES['unknown']} ({r.message})")
        if r.state == "FAILED" and ("declined" in r.message or "cancelled" in r.message):
            return PayEvent("declined", detail=r.message)
        return PayEvent("error", detail=r.message)  # not answering, reversed after a failed receipt

    def reprint_receipt(self, receipt_number: str, lang: str = DEFAULT_LANG) -> Receipt:
        """A new print job marked REPRINT (the original stays printed once)."""
        row = self.payment_row(receipt_number)
        receipts = self.receipts()
        receipts.lang = lang if lang in LANGS else DEFAULT_LANG
        receipts.reprint(row)
        return self.receipt(row)

    def payment_row(self, number: str) -> PaymentRow:
        """A payment by its receipt number: the collection id, with or without dashes, or
        the short receipt id printed on the receipt (its first 12 hex digits; any unique
        start of at least 8 is taken)."""
        key = number.strip().replace("-", "").upper()
        if not key:
            raise UrError("type the receipt number")
        with self.store.session() as s:
            hits = [row for row in s.scalars(select(PaymentRow))
                    if row.payment_id.replace("-", "").upper() == key
                    or (len(key) >= 8 and row.payment_id.replace("-", "").upper().startswith(key))]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise UrError(f"receipt number {number.strip()} is not unique at this station: type more of it")
        raise UrError(f"no payment {number.strip()} at this station")
