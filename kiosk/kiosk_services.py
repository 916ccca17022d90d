"""`KioskServices`: the `UiServices` the screens call on a real kiosk.

It adapts what the kiosk has today (the local store and its datasets) and says
clearly, with `NotAvailable`, what is not wired yet. Parts being built in
parallel (catalogue model and search, applications, payments, document
verification, devices) plug in here: each method names the module it will call,
so wiring one is a few lines and no screen changes.
"""

from __future__ import annotations

import importlib
import time
import unicodedata
from collections.abc import Iterator
from typing import Any

from contract.errors import UrError, ValidationError
from kiosk import datasets
from kiosk.store import KioskStore
from kiosk.ui_services import (
    Choice,
    Collectable,
    ComplaintFiled,
    DeviceState,
    DocumentField,
    FormField,
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

    def __init__(self, store: KioskStore, spooler: Any = None) -> None:
        self.store = store
        self.spooler = spooler

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
            for f in svc.form:
                mine = [p for p in e.problems if f"field {f.name!r}" in p]
                if not mine:
                    continue
                if any("is required" in p for p in mine):
                    errors[f.name] = "err.required"
                elif any("longer than" in p for p in mine):
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

    # -- payments (ZVT terminal driver + payment journal) -------------------
    def pay(self, reference: str, amount: int) -> Iterator[PayEvent]:
        raise NotAvailable("card payments are not wired to the screens yet")

    def reprint_receipt(self, receipt_number: str) -> Receipt:
        raise NotAvailable("receipts are not wired to the screens yet")

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

    def fines_by_plate(self, plate: str) -> list:  # type: ignore[type-arg]
        raise NotAvailable("vehicle fines are not wired to the screens yet")

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
            from kiosk.sync import cursor, downlink, outbox

            with self.store.session() as s:
                queued = outbox.stats(s).pending
                last = cursor.get_float(s, downlink.LAST_SYNC)
            paper = "unknown"
            if self.spooler is not None:
                from kiosk.print_journal import screen_status

                state = str(screen_status(self.spooler).get("printer_state", ""))
                paper = {"ready": "ok", "paper_near_end": "near_end", "paper_end": "out"}.get(state, "unknown")
            return StatusStrip(online=time.time() - last < 120, queued=queued, paper=paper)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - a status strip must not take the screen down
            return StatusStrip(online=False, queued=0, paper="unknown")

    def poll_scan(self) -> str | None:
        return None

    # -- staff --------------------------------------------------------------
    def check_pin(self, role: str, pin: str) -> bool:
        raise NotAvailable("staff PINs are not configured on this kiosk yet")

    def shift(self) -> ShiftState:
        raise NotAvailable("cashier shifts are not wired yet")

    def open_shift(self, cashier: str) -> ShiftState:
        raise NotAvailable("cashier shifts are not wired yet")

    def close_shift(self) -> ShiftState:
        raise NotAvailable("cashier shifts are not wired yet")

    def find_collectable(self, reference: str) -> Collectable:
        raise NotAvailable("cashier collection is not wired yet")

    def void_payment(self, receipt_number: str, supervisor_pin: str) -> str:
        raise NotAvailable("void is not wired yet")

    def refund_payment(self, receipt_number: str, supervisor_pin: str) -> str:
        raise NotAvailable("refund is not wired yet")

    def end_of_day(self) -> Reconciliation:
        raise NotAvailable("end of day is not wired yet")

    def device_states(self) -> list[DeviceState]:
        return [DeviceState(d, "absent", "driver not wired yet") for d in ("printer", "terminal", "scanner")]

    def test_print(self) -> str:
        raise NotAvailable("the printer driver is not wired yet")

    def scan_test(self, timeout_s: float) -> str:
        raise NotAvailable("the scanner driver is not wired yet")

    def terminal_registration_test(self) -> str:
        raise NotAvailable("the card terminal driver is not wired yet")

    def device_profiles(self) -> list[str]:
        return []

    def apply_device_profile(self, profile: str) -> str:
        raise NotAvailable("device profiles are not wired yet")

    def recent_errors(self, limit: int = 20) -> list[str]:
        return []


def check_conforms(obj: object) -> None:
    """Raise UrError naming the missing methods if `obj` does not implement UiServices."""
    from kiosk.ui_services import UiServices

    missing = [n for n in dir(UiServices) if not n.startswith("_") and callable(getattr(UiServices, n))
               and not callable(getattr(obj, n, None))]
    if missing:
        raise UrError(f"{type(obj).__name__} lacks UiServices methods: {', '.join(sorted(missing))}")
