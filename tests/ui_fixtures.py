"""TEST DATA ONLY: a small trilingual catalogue and `FixtureServices`, an in-memory
implementation of `kiosk.ui_services.UiServices` for driving the screens.

The real services (catalogue search, applications, payments over ZVT, document
verification, devices) are built elsewhere; the UI tests need a catalogue and
predictable answers to exercise every screen, so this module provides them over
the same Protocol the real `KioskServices` implements. The rules here (form
checks, search) are deliberately minimal; nothing in `kiosk` imports this file.
"""

from __future__ import annotations

import collections
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from contract.errors import UrError
from kiosk.ui_services import (
    AlreadyPaid,
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


def T(ar: str, ckb: str, en: str) -> dict[str, str]:
    return {"ar": ar, "ckb": ckb, "en": en}


INSTITUTIONS = [
    Institution("moi-passports", T("مديرية الجوازات", "بەڕێوەبەرایەتی پاسپۆرت", "Passports Directorate")),
    Institution("moi-nationality", T("مديرية الجنسية", "بەڕێوەبەرایەتی ڕەگەزنامە", "Nationality Directorate")),
    Institution("moj-notary", T("كاتب العدل", "نووسەری دادپەروەری", "Notary Public")),
]
INST = {i.id: i for i in INSTITUTIONS}

NAME_AR = FormField("full_name", "arabic_text", T("الاسم الرباعي", "ناوی چواری", "Full name (in Arabic)"),
                    max_length=60)
NATIONAL_ID = FormField("national_id", "national_id", T("رقم البطاقة الوطنية", "ژمارەی کارتی نیشتمانی",
                                                       "National ID number"))
MOBILE = FormField("mobile", "mobile", T("رقم الهاتف", "ژمارەی مۆبایل", "Mobile number"))
DELIVERY = FormField("delivery", "choice", T("طريقة الاستلام", "شێوازی وەرگرتن", "Collect at"),
                     choices=(Choice("office", T("الدائرة", "فەرمانگە", "The office")),
                              Choice("post", T("البريد", "پۆست", "By post"))))
EMAIL = FormField("note", "text", T("ملاحظة", "تێبینی", "Note"), required=False, max_length=80)

SERVICES: dict[str, ServiceDetail] = {}
FORMS: dict[str, list[FormField]] = {}


def _add(sid: str, name: dict[str, str], inst: str, kind: str, desc: dict[str, str],
         steps: list[dict[str, str]], docs: list[RequiredDocument], statutory: int, service: int,
         days: int, visits: int, form: list[FormField]) -> None:
    summary = ServiceSummary(sid, name, inst, INST[inst].name, kind)
    SERVICES[sid] = ServiceDetail(summary, desc, tuple(steps), tuple(docs), statutory, service, days,
                                  visits, kind != "informational")
    FORMS[sid] = form


_add("passport-ordinary", T("إصدار جواز سفر عادي", "دەرکردنی پاسپۆرتی ئاسایی", "Ordinary passport"),
     "moi-passports", "procedural",
     T("جواز سفر عادي لمدة ثماني سنوات.", "پاسپۆرتی ئاسایی بۆ ماوەی هەشت ساڵ.", "An ordinary passport valid for eight years."),
     [T("املأ الاستمارة وادفع الرسوم", "فۆرمەکە پڕ بکەرەوە و کرێکە بدە", "Fill in the form and pay the fees"),
      T("راجع الدائرة لأخذ البصمة والصورة", "سەردانی فەرمانگە بکە بۆ پەنجەمۆر و وێنە", "Visit the office for fingerprints and photo"),
      T("استلم الجواز", "پاسپۆرتەکە وەربگرە", "Collect the passport")],
     [RequiredDocument(T("البطاقة الوطنية", "کارتی نیشتمانی", "National card"), True, 1, False),
      RequiredDocument(T("بطاقة السكن", "کارتی نیشتەجێبوون", "Residence card"), False, 0, True)],
     25_000, 66_000, 7, 1, [NAME_AR, NATIONAL_ID, MOBILE, DELIVERY, EMAIL])
_add("national-card", T("البطاقة الوطنية الموحدة", "کارتی نیشتمانی یەکگرتوو", "Unified national card"),
     "moi-nationality", "procedural",
     T("إصدار البطاقة الوطنية لأول مرة.", "دەرکردنی کارتی نیشتمانی بۆ یەکەمجار.", "First issue of the national card."),
     [T("احجز موعداً", "کاتێک دیاری بکە", "Book an appointment"),
      T("راجع الدائرة", "سەردانی فەرمانگە بکە", "Visit the office")],
     [RequiredDocument(T("شهادة الجنسية", "ڕەگەزنامە", "Nationality certificate"), True, 2, False)],
     5_000, 0, 3, 1, [NAME_AR, NATIONAL_ID, MOBILE])
_add("poa-special", T("وكالة خاصة", "وەکالەتی تایبەت", "Special power of attorney"),
     "moj-notary", "interactive",
     T("تنظيم وكالة خاصة لدى كاتب العدل.", "ڕێکخستنی وەکالەتی تایبەت لای نووسەری دادپەروەری.", "A special power of attorney drawn up by a notary."),
     [T("املأ الاستمارة", "فۆرمەکە پڕ بکەرەوە", "Fill in the form")],
     [RequiredDocument(T("البطاقة الوطنية", "کارتی نیشتمانی", "National card"), False, 0, True)],
     1_000, 8_000, 1, 0, [NAME_AR, NATIONAL_ID, MOBILE])
_add("passport-fees-info", T("معلومات رسوم الجواز", "زانیاری کرێی پاسپۆرت", "Passport fees information"),
     "moi-passports", "informational",
     T("جدول رسوم الجوازات.", "خشتەی کرێی پاسپۆرت.", "The table of passport fees."),
     [], [], 0, 0, 0, 0, [])

ARABIC_LETTERS = re.compile(r"^[\u0600-\u06FF ]+$")


@dataclass
class FixtureServices:
    """In-memory kiosk for UI tests; knobs (`online`, `paper`, `pay_outcome`,
    `pay_step_s`) let a test choose what the next answer will be."""

    online: bool = False
    paper: str = "ok"
    pay_outcome: str = "approved"
    pay_step_s: float = 0.0
    printer_ok: bool = True
    applications: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    payments: list[Receipt] = field(default_factory=list)
    complaints: list[tuple[str, str, str]] = field(default_factory=list)
    scans: collections.deque[str] = field(default_factory=collections.deque)
    calls: list[str] = field(default_factory=list)
    shift_state: ShiftState = field(default_factory=lambda: ShiftState(False, "", "", 0, 0))
    voided: list[str] = field(default_factory=list)
    applied_profiles: list[str] = field(default_factory=list)
    # what the next ID card read gives: the card's fields (filtered to the form like
    # KioskServices does), or a fallback reason
    card: IdCardRead = field(default_factory=lambda: IdCardRead({}, "card.no_reader",
                                                                "no card reader in the fixture", False))

    # catalogue
    def institutions(self) -> list[Institution]:
        return list(INSTITUTIONS)

    def search_services(self, query: str, lang: str, institution: str | None = None,
                        kind: str | None = None) -> list[ServiceSummary]:
        self.calls.append(f"search:{query}")
        q = query.strip().lower()
        out = []
        for d in SERVICES.values():
            s = d.summary
            if institution and s.institution_id != institution:
                continue
            if kind and s.kind != kind:
                continue
            hay = " ".join([*s.name.values(), *s.institution.values()]).lower()
            if q and q not in hay:
                continue
            out.append(s)
        return out

    def service_detail(self, service_id: str) -> ServiceDetail:
        try:
            return SERVICES[service_id]
        except KeyError:
            raise UrError(f"no service {service_id!r} in the catalogue") from None

    def form_schema(self, service_id: str) -> list[FormField]:
        self.service_detail(service_id)
        return list(FORMS[service_id])

    def validate_form(self, service_id: str, fields: dict[str, str]) -> dict[str, str]:
        errors: dict[str, str] = {}
        for f in self.form_schema(service_id):
            v = fields.get(f.name, "").strip()
            if not v:
                if f.required:
                    errors[f.name] = "err.required"
                continue
            if len(v) > f.max_length:
                errors[f.name] = "err.too_long"
            elif f.type == "national_id" and not re.fullmatch(r"\d{12}", v):
                errors[f.name] = "err.national_id"
            elif f.type == "mobile" and not re.fullmatch(r"07\d{9}", v):
                errors[f.name] = "err.mobile"
            elif f.type == "arabic_text" and not ARABIC_LETTERS.match(v):
                errors[f.name] = "err.arabic"
            elif f.type == "choice" and v not in {c.value for c in f.choices}:
                errors[f.name] = "err.choice"
        return errors

    def submit_application(self, service_id: str, fields: dict[str, str]) -> Submitted:
        if self.validate_form(service_id, fields):
            raise UrError("the form has errors")
        number = f"KSK1-{len(self.applications) + 1:06d}"
        self.applications[number] = (service_id, dict(fields))
        return Submitted(number, SERVICES[service_id].fee_total, queued=not self.online)

    def track(self, tracking: str) -> TrackResult:
        number = tracking.removeprefix("UR1:SLIP:").strip().upper()
        if number not in self.applications:
            raise UrError(f"no application with tracking number {number or '(empty)'}")
        sid, _ = self.applications[number]
        hist = (TrackStep("queued", "2026-05-01 10:00"), TrackStep("received", "2026-05-01 10:05",
                                                                   INST[SERVICES[sid].summary.institution_id].name))
        return TrackResult(number, SERVICES[sid].summary.name, "received", hist, "2026-05-01 10:06")

    # payments
    def pay(self, reference: str, amount: int, lang: str = "ar") -> Iterator[PayEvent]:
        if any(r.reference == reference for r in self.payments):  # as KioskServices: refused, not charged
            raise AlreadyPaid(f"{reference} is already paid")
        for stage in ("insert_card", "enter_pin", "processing"):
            yield PayEvent(stage)
            if self.pay_step_s:
                time.sleep(self.pay_step_s)
        if self.pay_outcome == "approved":
            number = f"R{len(self.payments) + 1:05d}"
            printed = self.printer_ok and self.paper != "out"
            r = Receipt(number, reference, amount,
                        ((T("البطاقة", "کارت", "Card"), "**** 4242"),
                         (T("التاريخ", "بەروار", "Date"), "2026-05-01 10:07")),
                        qr_text=f"UR1:SLIP:{reference}", printed=printed,
                        print_problem="" if printed else ("receipt.paper_out" if self.paper == "out"
                                                          else "receipt.not_printed"))
            self.payments.append(r)
            st = self.shift_state
            self.shift_state = replace(st, collected=st.collected + amount, count=st.count + 1)
            yield PayEvent("approved", receipt=r)
        else:
            yield PayEvent(self.pay_outcome)  # type: ignore[arg-type]  # the fixture replays whatever outcome a test sets, on purpose

    def reprint_receipt(self, receipt_number: str, lang: str = "ar") -> Receipt:
        for r in self.payments:
            if r.number == receipt_number:
                return r
        raise UrError(f"no receipt {receipt_number}")

    # documents, letters, fines, complaints
    def verify_document(self, text: str) -> Verification:
        verdict = {"UR1:DOC-GOOD": "VALID", "UR1:DOC-REVOKED": "REVOKED"}.get(text.strip(), "INVALID")
        return Verification(verdict, T("شهادة عدم محكومية", "بڕوانامەی بێ سزایی", "Non-conviction certificate"),
                            T("مديرية تحقيق الأدلة الجنائية", "بەڕێوەبەرایەتی بەڵگەی تاوان", "Criminal Evidence Directorate"),
                            (DocumentField(T("الاسم", "ناو", "Name"), "علي حسن كاظم"),
                             DocumentField(T("رقم الوثيقة", "ژمارەی بەڵگەنامە", "Document number"), "NC-2026-000123"),
                             DocumentField(T("تاريخ الإصدار", "بەرواری دەرچوون", "Issued"), "2026-04-30")))

    def letter_status(self, number: str, date: str) -> LetterStatus:
        if (number, date) != ("1234", "2026-04-20"):
            raise UrError(f"no letter numbered {number} dated {date}")
        return LetterStatus(number, date, T("طلب تأييد صدور", "داوای پشتڕاستکردنەوەی دەرچوون", "Request to confirm issuance"),
                            "in_transit", INST["moi-nationality"].name)

    def fines_by_plate(self, plate: str) -> list[Fine]:
        if plate.replace(" ", "").upper() != "12345BGD":
            return []
        return [Fine("F-778", "12345 BGD", T("تجاوز السرعة", "خێرایی زیادە", "Speeding"), "2026-03-02", 50_000,
                     paid=any(r.reference == "F-778" for r in self.payments))]

    def file_complaint(self, category: str, text: str, mobile: str) -> ComplaintFiled:
        if not category or not text.strip():
            raise UrError("choose what the complaint is about and write it")
        self.complaints.append((category, text, mobile))
        return ComplaintFiled(f"C-{len(self.complaints):05d}", queued=not self.online)

    # status and scanner
    def status_strip(self) -> StatusStrip:
        queued = 0 if self.online else len(self.applications) + len(self.complaints)
        return StatusStrip(self.online, queued, self.paper)  # type: ignore[arg-type]  # the fixture's paper state is a plain str set by tests

    def poll_scan(self) -> str | None:
        return self.scans.popleft() if self.scans else None

    def read_id_card(self, service_id: str, document_number: str, birth_date: str,
                     expiry_date: str) -> IdCardRead:
        self.calls.append(f"card:{service_id}:{document_number}:{birth_date}:{expiry_date}")
        if not self.card.fields:
            return self.card
        names = {f.name for f in FORMS[service_id] if f.type != "arabic_text"}
        return replace(self.card, fields={k: v for k, v in self.card.fields.items() if k in names})

    # staff
    def check_pin(self, role: str, pin: str) -> bool:
        return {"cashier": "1234", "technician": "4321"}.get(role) == pin

    def shift(self) -> ShiftState:
        return self.shift_state

    def open_shift(self, cashier: str) -> ShiftState:
        if self.shift_state.open:
            raise UrError("a shift is already open")
        self.shift_state = ShiftState(True, cashier, "2026-05-01 08:00", 0, 0)
        return self.shift_state

    def close_shift(self) -> ShiftState:
        if not self.shift_state.open:
            raise UrError("no shift is open")
        self.shift_state = replace(self.shift_state, open=False)
        return self.shift_state

    def find_collectable(self, reference: str) -> Collectable:
        number = reference.strip().upper()
        if number in self.applications:
            sid, _ = self.applications[number]
            return Collectable(number, SERVICES[sid].summary.name, SERVICES[sid].fee_total)
        raise UrError(f"nothing to collect for {reference!r}")

    def _reverse(self, receipt_number: str, supervisor_pin: str) -> Receipt:
        if supervisor_pin != "9999":
            raise UrError("supervisor PIN refused")
        r = self.reprint_receipt(receipt_number)
        if receipt_number in self.voided:
            raise UrError(f"{receipt_number} was already reversed")
        self.voided.append(receipt_number)
        return r

    def void_payment(self, receipt_number: str, supervisor_pin: str) -> str:
        return self._reverse(receipt_number, supervisor_pin).number

    def refund_payment(self, receipt_number: str, supervisor_pin: str) -> str:
        return self._reverse(receipt_number, supervisor_pin).number

    def end_of_day(self) -> Reconciliation:
        kept = [r for r in self.payments if r.number not in self.voided]
        total = sum(r.amount for r in kept)
        return Reconciliation("2026-05-01", total, total, len(kept), True, ())

    def device_states(self) -> list[DeviceState]:
        return [DeviceState("printer", "ok" if self.paper == "ok" else "warning", f"paper {self.paper}"),
                DeviceState("terminal", "ok", "ZVT emulator"),
                DeviceState("scanner", "absent", "")]

    def test_print(self) -> str:
        return "test page printed"

    def scan_test(self, timeout_s: float) -> str:
        code = self.poll_scan()
        return f"scanned: {code}" if code else "no code read"

    def terminal_registration_test(self) -> str:
        return "terminal registered"

    def device_profiles(self) -> list[str]:
        return ["epson-tm-t20iii", "generic-zvt"]

    def apply_device_profile(self, profile: str) -> str:
        self.applied_profiles.append(profile)
        return f"profile {profile} applied"

    def recent_errors(self, limit: int = 20) -> list[str]:
        return ["2026-05-01 07:59 printer: paper near end"][:limit]
