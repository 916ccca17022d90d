"""`KioskServices`: the `UiServices` the screens call on a real kiosk.

It adapts the kiosk's own services (store and synced datasets, applications,
payments, cashier, end of day, document verification, devices) to the screens'
plain types. Devices come from the kiosk's device map (DATA_DIR/devices.toml, see
`kiosk.station_devices`); a call that needs a part this kiosk does not have raises
`NotAvailable` saying what is missing, and the screen shows it.
"""

from __future__ import annotations

import importlib
import queue
import threading
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from contract.errors import UrError, ValidationError
from kiosk import datasets
from kiosk.station_devices import StationDevices
from kiosk.store import KioskStore
from kiosk.ui_services import (
    DEVICES,
    Choice,
    Collectable,
    ComplaintFiled,
    DeviceState,
    DocumentField,
    Fine,
    FormField,
    IdCardRead,
    Institution,
    LetterStatus,
    NotAvailable,
    PayEvent,
    Receipt,
    Reconciliation,
    RequiredDocument,
    ServiceDetail,
    ServiceSummary,
    ShiftState,
    StatusStrip,
    Submitted,
    TrackResult,
    TrackStep,
    Verification,
)

# Letters people type interchangeably in Arabic-script search (alef forms, teh
# marbuta / heh, alef maqsura / yeh, Persian/Kurdish keheh and yeh, tatweel).
_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ة": "ه", "ى": "ي", "ی": "ي", "ک": "ك",
                       "ە": "ه", "ھ": "ه", "ـ": None})


def fold(text: str) -> str:
    """Search key: case-folded, diacritics (harakat) removed, letter variants unified."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.casefold().translate(_FOLD)


def _texts(obj: Any) -> dict[str, str]:
    """Catalogue `Texts` (pydantic, .ar/.ckb/.en) or a plain dict -> dict."""
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return {k: str(v) for k, v in obj.items()}
    return {lang: str(getattr(obj, lang)) for lang in ("ar", "ckb", "en") if getattr(obj, lang, None)}


_ERROR_BY_TYPE = {"national_id": "err.national_id", "mobile": "err.mobile", "date": "err.date",
                  "plate": "err.plate", "arabic_text": "err.arabic", "number": "err.number",
                  "choice": "err.choice"}


class KioskServices:
    """The kiosk's services for screens, over one `KioskStore`."""

    def __init__(self, store: KioskStore, spooler: Any = None, device_map: str | Path | None = None) -> None:
        self.store = store
        self.spooler = spooler
        # The station's devices: DATA_DIR/devices.toml, as `ur-kiosk devices diagnose` reads it.
        self.devices = StationDevices(Path(device_map) if device_map else store.dir / "devices.toml")
        self._payments: Any = None
        self._operator: Any = None  # the cashier signed in with check_pin, if any

    # -- catalogue (contract.catalogue, delivered as the `catalogue` dataset) --
    def _catalogue(self) -> Any:
        try:
            cat = importlib.import_module("contract.catalogue")
        except ImportError:
            raise NotAvailable("the service catalogue model is not installed on this kiosk") from None
        with self.store.session() as s:
            ds = datasets.current(s, "catalogue")
            if ds is None:
                raise NotAvailable("this kiosk has no service catalogue yet (it arrives with the first sync)")
            body = ds.body
        return cat.parse(body)

    def institutions(self) -> list[Institution]:
        c = self._catalogue()
        return [Institution(i.id, _texts(i.name)) for i in c.institutions]

    def _summary(self, c: Any, svc: Any) -> ServiceSummary:
        inst = next((i for i in c.institutions if i.id == svc.institution), None)
        return ServiceSummary(svc.id, _texts(svc.name), svc.institution,
                              _texts(inst.name) if inst else {"ar": svc.institution}, svc.kind)

    def search_services(self, query: str, lang: str, institution: str | None = None,
                        kind: str | None = None) -> list[ServiceSummary]:
        c = self._catalogue()
        if query.strip():
            try:
                ranked = importlib.import_module("kiosk.catalogue_search")
            except ImportError:
                ranked = None
            if ranked is not None:  # the catalogue's own ranked index (normalised, per language)
                with self.store.session() as s:
                    hits = ranked.search(s, query, lang, institution, kind, limit=200)
                return [self._summary(c, c.service(h.service_id)) for h in hits]
        q = fold(query.strip())
        out = []
        for svc in c.services:
            if institution and svc.institution != institution:
                continue
            if kind and svc.kind != kind:
                continue
            summary = self._summary(c, svc)
            names = [*summary.name.values(), *summary.institution.values()]
            if q and not any(q in fold(n) for n in names):
                continue
            out.append(summary)
        # Names starting with the query first, then the rest, each in the citizen's alphabet order.
        out.sort(key=lambda s: (not fold(s.name.get(lang, "")).startswith(q), s.name.get(lang, "")))
        return out

    def service_detail(self, service_id: str) -> ServiceDetail:
        c = self._catalogue()
        svc = c.service(service_id)
        docs = tuple(RequiredDocument(_texts(d.name), bool(d.original), int(d.copies), bool(d.held_by_state))
                     for d in svc.documents)
        return ServiceDetail(self._summary(c, svc), _texts(svc.description),
                             tuple(_texts(s) for s in svc.steps), docs, svc.fees.statutory,
                             svc.fees.service, svc.duration_days, svc.visit_count,
                             svc.accepts_applications)

    def form_schema(self, service_id: str) -> list[FormField]:
        svc = self._catalogue().service(service_id)
        return [FormField(f.name, f.type, _texts(f.label) or {"ar": f.name, "ckb": f.name, "en": f.name},
                          f.required, tuple(Choice(v, {"ar": v, "ckb": v, "en": v}) for v in f.choices),
                          f.max_length)
                for f in svc.form]

    def validate_form(self, service_id: str, fields: dict[str, str]) -> dict[str, str]:
        """Field -> error key, from the catalogue's own validation (the one rule set)."""
        cat = importlib.import_module("contract.catalogue")
        svc = self._catalogue().service(service_id)
        try:
            cat.validate_form(svc, fields)
        except ValidationError as e:
            errors: dict[str, str] = {}
            by_field = e.fields()
            for f in svc.form:
                codes = {p.code for p in by_field.get(f.name, [])}
                if not codes:
                    continue
                if "required" in codes:
                    errors[f.name] = "err.required"
                elif "too_long" in codes:
                    errors[f.name] = "err.too_long"
                else:
                    errors[f.name] = _ERROR_BY_TYPE.get(f.type, "err.invalid")
            if not errors:
                raise
            return errors
        return {}

    # -- applications (kiosk.applications + kiosk.identity) -----------------
    @staticmethod
    def _part(module: str, what: str) -> Any:
        try:
            return importlib.import_module(module)
        except ImportError:
            raise NotAvailable(f"{what} is not installed on this kiosk ({module})") from None

    def submit_application(self, service_id: str, fields: dict[str, str]) -> Submitted:
        """Stored with its outbox row in one transaction; central gets it when the
        kiosk syncs, so the citizen's number is valid offline too."""
        apps = self._part("kiosk.applications", "applications")
        ident = self._part("kiosk.identity", "the kiosk identity").load(self.store)
        done = apps.submit(self.store, ident, service_id, fields)
        return Submitted(done.tracking, int(done.fee_total), queued=True)

    def track(self, tracking: str) -> TrackResult:
        apps = self._part("kiosk.applications", "applications")
        text = tracking.strip()
        with self.store.session() as s:
            st = apps.status(s, text)
        service: dict[str, str] = {}
        if st.get("service_id"):
            try:
                service = self.service_detail(st["service_id"]).summary.name
            except UrError:
                service = {"ar": st["service_id"], "ckb": st["service_id"], "en": st["service_id"]}
        steps = tuple(TrackStep(str(h.get("status", "")), str(h.get("at", ""))[:16].replace("T", " "),
                                _texts(h.get("agency")) if isinstance(h.get("agency"), dict) else {})
                      for h in st.get("history", []))
        as_of = steps[-1].at if steps else ""
        return TrackResult(st["tracking"], service, str(st["status"]), steps, as_of)

    # -- payments (kiosk.payments PaymentService over the device map's terminal) ----
    def _ident(self) -> Any:
        return self._part("kiosk.identity", "the kiosk identity").load(self.store)

    def _spooler(self) -> Any:
        """The receipt printer's spooler: the one given, else the device map's printer."""
        if self.spooler is None and self.devices.configured:
            dev = self.devices.find("printer")
            if dev is not None:
                from kiosk.print_journal import make_spooler

                self.spooler = make_spooler(self.store, dev.profile, dev.port)
        return self.spooler

    def _payment_service(self) -> Any:
        if self._payments is None:
            from kiosk.payment_receipts import PaymentReceipts
            from kiosk.payments import PaymentService, terminal_from_profile
            from kiosk.print_journal import PrintJournal

            dev = self.devices.get("terminal")  # NotAvailable without a map or a terminal
            factory, exponent = terminal_from_profile(dev.profile, dev.port)
            ident = self._ident()
            receipts = PaymentReceipts(self._spooler(), PrintJournal(self.store), ident)
            from kiosk.payments import card_wait_from_profile

            self._payments = PaymentService(self.store, ident, factory, receipts=receipts, exponent=exponent,
                                            card_wait_s=card_wait_from_profile(dev.profile))
        return self._payments

    def settle_payments_at_start(self) -> list[str]:
        """Start-up of the screens: settle what a crash left open, from the terminal, before
        anyone can start a new charge (kiosk.payments.PaymentService.recover). No terminal
        configured: nothing to settle here. Returns one line per payment it touched."""
        try:
            svc = self._payment_service()
        except NotAvailable:
            return []
        return [f"{r.payment_id} {r.fee_ref} {r.amount} IQD: {r.state} - {r.message}" for r in svc.recover()]

    def unsettled_payments(self) -> list[dict[str, Any]]:
        """Payments whose outcome is not settled (for the cashier's red banner): while any
        exists this station takes no card payment."""
        from sqlalchemy import select

        from kiosk.end_of_day import unresolved_item
        from kiosk.payments import PaymentRow

        with self.store.session() as s:
            rows = s.scalars(select(PaymentRow).where(PaymentRow.state.in_(["CREATED", "PENDING", "UNKNOWN"])))
            return [unresolved_item(r) for r in rows]

    def cancel_payment(self) -> None:
        """The Cancel button during the card wait: aborts at the terminal (the payment's
        final event says whether it was cancelled or already charged)."""
        if self._payments is not None:
            self._payments.cancel()

    def _fee_ref(self, reference: str) -> str:
        """Screens pass a tracking number, a fine id or a full fee reference."""
        from kiosk import fines, payables
        from kiosk.applications import KioskApplication

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

    def _receipt(self, row: Any) -> Receipt:
        from sqlalchemy import select

        from kiosk.payments import entry_of
        from kiosk.print_journal import DONE, PrintJob

        e = entry_of(row)
        printed, problem = False, "receipt.not_printed"
        with self.store.session() as s:
            job = s.scalars(select(PrintJob).where(
                PrintJob.receipt_key == f"payment:{row.payment_id}:citizen")).first()
            if job is not None and job.state == DONE:
                printed, problem = True, ""
        if not printed and self.spooler is not None:
            from kiosk.print_journal import screen_status

            if screen_status(self.spooler).get("printer_state") == "paper_end":
                problem = "receipt.paper_out"

        def t(en: str, ar: str, ckb: str) -> dict[str, str]:
            return {"en": en, "ar": ar, "ckb": ckb}
        lines = ((t("Paid for", "مقابل", "بۆ"), row.description),
                 (t("Statutory fee", "الرسم القانوني", "ڕسوومی یاسایی"), str(row.statutory)),
                 (t("Service fee", "أجور الخدمة", "کرێی خزمەتگوزاری"), str(row.service)),
                 (t("Terminal", "الجهاز", "ئامێر"), e.terminal_id or "-"),
                 (t("Trace", "رقم التتبع", "ژمارەی شوێنکەوتن"), str(e.trace or "-")),
                 (t("Card receipt", "إيصال البطاقة", "پسوڵەی کارت"), str(e.receipt_no or "-")),
                 (t("Date", "التاريخ", "بەروار"), row.business_date))
        return Receipt(number=row.payment_id, reference=row.fee_ref, amount=row.dinars, lines=lines,
                       qr_text=row.receipt_code, printed=printed, print_problem=problem)

    def pay(self, reference: str, amount: int) -> Iterator[PayEvent]:
        """Charge the fee once through the payment journal. The amount is the payable's,
        from the data; a different `amount` from the screen is refused before the terminal
        is touched. The terminal runs on a worker thread so each stage is yielded as it
        happens; the last event is final (approved with its receipt, declined, unknown,
        error)."""
        from kiosk import payables

        svc = self._payment_service()  # NotAvailable first: no terminal, no payment
        fee_ref = self._fee_ref(reference)
        with self.store.session() as s:
            payable = payables.resolve(s, fee_ref)
        if int(amount) != payable.amount:
            raise UrError(f"{fee_ref} costs {payable.amount} IQD, not {amount}: the amount comes from the data")
        op = self._operator
        events: queue.Queue[tuple[str, Any]] = queue.Queue()

        def work() -> None:
            try:
                say = lambda ev, msg: events.put(("progress", (ev, msg)))  # noqa: E731
                if op is not None:
                    from kiosk.cashier import CashierStation

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

    def _final(self, r: Any) -> PayEvent:
        """The payment journal's outcome -> the last event the screen shows."""
        from kiosk.payments import MESSAGES

        if r.state == "PAID":
            return PayEvent("approved", receipt=self._receipt(self._payment_service().get(r.payment_id)),
                            detail=r.message)
        if r.state == "UNKNOWN" or r.needs_supervisor or r.state in ("PENDING", "APPROVED"):
            # Charged or maybe charged and not settled: never invite a second payment; the
            # collection id is the tracking number staff settle it by.
            return PayEvent("unknown", detail=f"tracking:{r.payment_id} {MESSAGES['unknown']} ({r.message})")
        if r.state == "FAILED" and ("declined" in r.message or "cancelled" in r.message):
            return PayEvent("declined", detail=r.message)
        return PayEvent("error", detail=r.message)  # not answering, reversed after a failed receipt

    def reprint_receipt(self, receipt_number: str) -> Receipt:
        """A new print job marked REPRINT (the original stays printed once)."""
        from kiosk.payment_receipts import PaymentReceipts
        from kiosk.print_journal import PrintJournal

        row = self._payment_row(receipt_number)
        PaymentReceipts(self._spooler(), PrintJournal(self.store), self._ident()).reprint(row)
        return self._receipt(row)

    def _payment_row(self, number: str) -> Any:
        """A payment by its receipt number: the collection id, with or without dashes."""
        from sqlalchemy import select

        from kiosk.payments import PaymentRow

        key = number.strip().replace("-", "").upper()
        if not key:
            raise UrError("type the receipt number")
        with self.store.session() as s:
            for row in s.scalars(select(PaymentRow)):
                if row.payment_id.replace("-", "").upper() == key:
                    return row
        raise UrError(f"no payment {number.strip()} at this station")

    # -- documents, letters, fines, complaints ------------------------------
    def verify_document(self, text: str) -> Verification:
        """Offline verdict from the synced trust and status lists (kiosk.document_verifier)."""
        from kiosk.document_verifier import OfflineVerifier

        verdict = OfflineVerifier(self.store).verify(text, int(time.time()))
        doc = verdict.document or {}
        fields = tuple(DocumentField(label={"ar": k, "ckb": k, "en": k}, value=str(v))
                       for k, v in (doc.get("fields") or {}).items())
        issuer = str(doc.get("agency", ""))
        return Verification(verdict=str(verdict.status),
                            document_type={"ar": str(doc.get("type", "")), "ckb": str(doc.get("type", "")),
                                           "en": str(doc.get("type", ""))},
                            issuer={"ar": issuer, "ckb": issuer, "en": issuer}, fields=fields)

    # Central's letter states -> the four the citizen screen explains.
    _LETTER_STATES = {"SENT": "in_transit", "RETURNED": "in_transit", "RECEIVED": "delivered",
                      "IN_PROGRESS": "delivered", "ANSWERED": "answered", "CLOSED": "answered"}

    def letter_status(self, number: str, date: str) -> LetterStatus:
        """From the kiosk's last synced letters index (the kiosk may be offline)."""
        from kiosk import letters

        with self.store.session() as s:
            found = letters.inquire(s, number, date, int(time.time()))
        if not found["letters"]:
            raise UrError(f"no letter {found['number']} of {found['date']} in this kiosk's copy "
                          f"(as of {found['as_of']})")
        entry = found["letters"][0]
        holder = str(entry.get("holder", ""))
        return LetterStatus(number=found["number"], date=found["date"], subject={},
                            status=self._LETTER_STATES.get(str(entry.get("status")), "registered"),
                            current_agency={"ar": holder, "ckb": holder, "en": holder})

    def fines_by_plate(self, plate: str) -> list[Fine]:
        """Unpaid fines of a plate from central's synced fines list; a fine paid (or being
        paid) at this station is left out until central's next list drops it."""
        from sqlalchemy import select

        from kiosk import fines
        from kiosk.payments import PaymentRow

        with self.store.session() as s:
            found = fines.by_plate(s, plate)
            taken = set(s.scalars(select(PaymentRow.fee_ref).where(
                PaymentRow.fee_ref.in_([f"fine:{f.id}" for f in found]),
                PaymentRow.state.in_(["CREATED", "PENDING", "UNKNOWN", "APPROVED", "PAID"]))))
        return [Fine(f.id, f.plate, {"ar": f.offence, "ckb": f.offence, "en": f.offence}, f.issued, f.amount)
                for f in found if f"fine:{f.id}" not in taken]

    def file_complaint(self, category: str, text: str, mobile: str) -> ComplaintFiled:
        complaints = self._part("kiosk.complaints", "complaints")
        ident = self._part("kiosk.identity", "the kiosk identity").load(self.store)
        filed = complaints.file_complaint(self.store, ident, text, category=category or "other",
                                          mobile=mobile or None)
        return ComplaintFiled(filed.tracking, queued=True)

    # -- status and devices -------------------------------------------------
    def status_strip(self) -> StatusStrip:
        """Never raises: the strip must always show something. Online means the
        last exchange with central is under two minutes old; paper comes from the
        print spooler when one is attached."""
        try:
            from kiosk import identity
            from kiosk.sync import cursor, downlink, outbox

            with self.store.session() as s:
                queued = outbox.stats(s).pending
                last = cursor.get_float(s, downlink.LAST_SYNC)
                in_service = identity.out_of_service(s) is None
            online = time.time() - last < 120
        except Exception:  # noqa: BLE001 - a status strip must not take the screen down
            online, queued, in_service = False, 0, True
        paper = "unknown"
        try:  # a missing printer must not hide the sync state
            if self._spooler() is not None:
                from kiosk.print_journal import screen_status

                state = str(screen_status(self.spooler).get("printer_state", ""))
                paper = {"ready": "ok", "paper_near_end": "near_end", "paper_end": "out"}.get(state, "unknown")
        except Exception:  # noqa: BLE001
            paper = "unknown"
        return StatusStrip(online=online, queued=queued, paper=paper,  # type: ignore[arg-type]  # paper is one of the Literal values, mapped just above
                           in_service=in_service)

    def poll_scan(self) -> str | None:
        """The next code the device map's QR scanner read (None without a scanner)."""
        try:
            return self.devices.next_scan()
        except UrError:
            return None

    def read_id_card(self, service_id: str, document_number: str, birth_date: str,
                     expiry_date: str) -> IdCardRead:
        """The card's fields that this service's form has (kiosk/devices/id_card_form.py)."""
        from kiosk.devices.id_card_form import CardPrefill

        # DG1 holds the Latin transliteration of the name: never prefilled into a field
        # that must be written in Arabic letters (the citizen types that one).
        names = {f.name for f in self._catalogue().service(service_id).form if f.type != "arabic_text"}
        r = self.devices.read_id_card(document_number, birth_date, expiry_date)
        if isinstance(r, CardPrefill):
            photo = r.photo
            return IdCardRead({k: v for k, v in r.fields.items() if k in names},
                              photo=photo.data if photo else None, photo_mime=photo.mime if photo else "")
        return IdCardRead({}, r.reason, r.message, r.retry_mrz)

    # -- staff (kiosk.cashier CashierStation) ---------------------------------
    def _station(self, with_terminal: bool = False) -> Any:
        from kiosk.cashier import CashierStation

        return CashierStation(self.store, self._payment_service() if with_terminal else None)

    def check_pin(self, role: str, pin: str) -> bool:
        """The staff PIN screen has no user field: the PIN picks the user of that role
        (kiosk.cashier.user_with_pin); the login itself (audit, lockout reset) is the
        station's. A technician signs in with a supervisor's PIN."""
        from kiosk.cashier import AuthError, pin_screen_locked_until, user_with_pin

        want = "supervisor" if role in ("supervisor", "technician") else "cashier"
        station = self._station()
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
            self._operator = None
            return False
        try:
            op = station.login(user, pin)
        except AuthError:
            self._operator = None
            return False
        self._operator = op if role == "cashier" else None
        return True

    def _op(self) -> Any:
        if self._operator is None:
            raise UrError("sign in with a cashier PIN first")
        return self._operator

    def shift(self) -> ShiftState:
        from kiosk.cashier import shift_figures

        op = self._op()
        with self.store.session() as s:
            sh = self._station().current_shift(s, op.user_id)
            if sh is None:
                return ShiftState(False, op.user_id, "", 0, 0)
            count, amount = shift_figures(s, op.user_id, sh.opened_at)
            opened = time.strftime("%Y-%m-%d %H:%M", time.localtime(sh.opened_at))
        return ShiftState(True, op.user_id, opened, amount, count)

    def open_shift(self, cashier: str) -> ShiftState:
        self._station().open_shift(self._op())
        return self.shift()

    def close_shift(self) -> ShiftState:
        summary = self._station().close_shift(self._op())
        return ShiftState(False, self._op().user_id, "", int(summary["amount"]),
                          int(summary["collections"]))

    def find_collectable(self, reference: str) -> Collectable:
        """What a cashier can take money for: an application, a fine or a catalogue fee item."""
        from kiosk import payables

        ref = reference.strip()
        try:
            fee_ref = self._fee_ref(ref)
        except UrError:
            fee_ref = f"item:{ref}"  # a catalogue service id: a fee item sold at the till
        with self.store.session() as s:
            p = payables.resolve(s, fee_ref)
        label = {"ar": p.description, "ckb": p.description, "en": p.description}
        if p.kind == "item":
            try:
                label = self.service_detail(p.ref).summary.name
            except UrError:
                pass
        return Collectable(fee_ref, label, p.amount)

    def _supervisor(self, pin: str) -> tuple[str, str]:
        from kiosk.cashier import AuthError, pin_screen_locked_until, user_with_pin

        if pin_screen_locked_until(self.store):
            raise AuthError("too many wrong PINs: supervisor approval is locked for now")
        sup = user_with_pin(self.store, "supervisor", pin)
        if sup is None:
            self._station().login_failed("supervisor", "no supervisor has that PIN")
            raise UrError("wrong supervisor PIN")
        return sup, pin

    def void_payment(self, receipt_number: str, supervisor_pin: str) -> str:
        """Same-day reversal at the terminal, approved by a supervisor's PIN."""
        row = self._payment_row(receipt_number)
        op = self._op()
        sup = self._supervisor(supervisor_pin)
        r = self._station(with_terminal=True).void(op, row.payment_id, sup, "voided at the cashier screen")
        if r.state != "REVERSED":
            raise UrError(r.message)
        return row.payment_id

    def refund_payment(self, receipt_number: str, supervisor_pin: str) -> str:
        row = self._payment_row(receipt_number)
        op = self._op()
        sup = self._supervisor(supervisor_pin)
        r = self._station(with_terminal=True).refund(op, row.payment_id, sup, "refunded at the cashier screen")
        if r.state != "REFUNDED":
            raise UrError(r.message)
        return row.payment_id

    def end_of_day(self) -> Reconciliation:
        """Terminal end-of-day against the journal (kiosk.end_of_day.close_day); a day with
        unresolved payments is refused with the list (a supervisor closes it at the CLI)."""
        from kiosk import end_of_day
        from kiosk.cashier import audit
        from kiosk.payment_receipts import PaymentReceipts
        from kiosk.print_journal import PrintJournal

        op = self._op()
        dev = self.devices.get("terminal")
        from kiosk.payments import terminal_from_profile

        factory, exponent = terminal_from_profile(dev.profile, dev.port)
        ident = self._ident()
        rep = end_of_day.close_day(self.store, ident, factory, None, "", exponent,
                                   receipts=PaymentReceipts(self._spooler(), PrintJournal(self.store), ident))
        with self.store.tx() as s:
            audit(s, op.user_id, "close_day", rep.business_date, {"status": rep.status})
        return Reconciliation(rep.business_date, int(rep.journal["amount"]), int(rep.terminal["amount"]),
                              int(rep.journal["count"]), rep.status == "MATCHED",
                              tuple(rep.differences) + tuple(f"unresolved {u['id']} {u['fee_ref']} {u['state']}"
                                                            for u in rep.unresolved))

    # -- devices (kiosk.device_health and kiosk/devices/<kind>_device.py) -----
    _DEVICE_STATES = {"ready": "ok", "paper_near_end": "warning", "disabled": "absent",
                      "not_installed": "absent", "busy": "warning", "no_scan": "ok",
                      "card_present": "ok"}

    def device_states(self) -> list[DeviceState]:
        """One line per kind; a kind the device map does not list is `absent`."""
        from kiosk import device_health

        if not self.devices.configured:
            return [DeviceState(k, "absent", f"no device map ({self.devices.map_path})") for k in DEVICES]
        dm = self.devices.device_map()
        report = device_health.report(dm)
        out = []
        for kind in DEVICES:
            dev = self.devices.find(kind)
            if dev is None:
                out.append(DeviceState(kind, "absent", "not in the device map"))
                continue
            r = report.get(dev.name, {})
            st = str(r.get("state", "error"))
            details = r.get("details") or {}
            detail = str(details.get("message") or details.get("error") or st)
            out.append(DeviceState(kind, self._DEVICE_STATES.get(st, "ok" if r.get("ok") else "error"),
                                   f"{dev.name} {dev.port}: {detail}"))
        return out

    def _device_test(self, kind: str, timeout_s: float | None = None) -> str:
        from kiosk import device_health

        dev = self.devices.get(kind)
        profile = dict(dev.profile)
        if timeout_s is not None:
            profile["test_timeout_s"] = timeout_s
        r = device_health.device_module(kind).test(profile, dev.port)
        details = r.get("details") or {}
        text = ", ".join(f"{k} {v}" for k, v in details.items() if k not in ("port",))
        if not r.get("ok"):
            raise UrError(f"{kind} test failed ({r.get('state')}): {text}")
        return f"{kind} {dev.name}: {r.get('state')} ({text})"

    def test_print(self) -> str:
        return self._device_test("printer")

    def scan_test(self, timeout_s: float) -> str:
        return self._device_test("scanner", timeout_s)

    def terminal_registration_test(self) -> str:
        return self._device_test("terminal")

    def device_profiles(self) -> list[str]:
        """Shipped profiles of the kinds this station has (and that have firmware settings)."""
        from firmware_config.profiles import list_profiles

        if not self.devices.configured:
            return []
        kinds = {k for k in ("printer", "scanner") if self.devices.find(k) is not None}
        return [name for name, kind in list_profiles().items() if kind in kinds]

    def apply_device_profile(self, profile: str) -> str:
        """Push a profile's firmware settings to this station's device of that kind."""
        from firmware_config.profiles import load_profile, profile_dict
        from kiosk import device_health

        prof = load_profile(profile)
        dev = self.devices.get(prof.kind)
        mod = device_health.device_module(prof.kind)
        if not hasattr(mod, "apply_settings"):
            raise UrError(f"{prof.kind} devices have no firmware settings to apply")
        r = mod.apply_settings(profile_dict(prof), dev.port)
        if not r.get("ok"):
            raise UrError(f"applying {profile} to {dev.name} failed ({r.get('state')}): {r.get('details')}")
        return f"{profile} applied to {dev.name}: {', '.join((r.get('details') or {}).get('applied', []))}"

    def recent_errors(self, limit: int = 20) -> list[str]:
        """Payments that need staff and print jobs that did not print, newest first."""
        from sqlalchemy import select

        from kiosk.payments import PaymentRow
        from kiosk.print_journal import WAITING, PrintJob

        out: list[tuple[str, str]] = []
        with self.store.session() as s:
            for row in s.scalars(select(PaymentRow).where(PaymentRow.state.in_(["UNKNOWN", "FAILED", "REVERSED"]))
                                 .order_by(PaymentRow.updated_at.desc()).limit(limit)):
                note = row.refund_due or row.reversal_due or ""
                out.append((row.updated_at.isoformat(), f"payment {row.payment_id} {row.fee_ref}: {row.state} {note}"))
            for job in s.scalars(select(PrintJob).where(PrintJob.state == WAITING).limit(limit)):
                out.append((job.updated_at.isoformat(), f"print job {job.receipt_key}: {job.state} {job.reason or ''}"))
        return [text.strip() for _at, text in sorted(out, reverse=True)[:limit]]


def check_conforms(obj: object) -> None:
    """Raise UrError naming the missing methods if `obj` does not implement UiServices."""
    from kiosk.ui_services import UiServices

    missing = [n for n in dir(UiServices) if not n.startswith("_") and callable(getattr(UiServices, n))
               and not callable(getattr(obj, n, None))]
    if missing:
        raise UrError(f"{type(obj).__name__} lacks UiServices methods: {', '.join(sorted(missing))}")
