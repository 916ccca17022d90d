"""What the kiosk screens may ask of the kiosk: one Protocol and its plain data types.

Screens hold no business logic; every decision (search ranking, validation, fees,
payment outcome, verdicts) comes from an object implementing `UiServices`. The
headless `ur-kiosk` commands call the same kiosk services, so a screen is only a
way of showing them. Texts that come from data (service names, steps) travel as
`Texts` (language code -> text, for ar / ckb / en); texts the UI owns are message
keys translated by `kiosk.i18n`. Errors a person can cause are `UrError`s whose
message is shown as it is; `NotAvailable` says a part of the kiosk is not built or
not configured yet (the screen shows a clear "not available" message).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from contract.errors import UrError

Texts = dict[str, str]  # {"ar": ..., "ckb": ..., "en": ...}


def text_in(texts: Texts, lang: str) -> str:
    """The text in `lang`, else Arabic, else any; data is trilingual but be forgiving."""
    return texts.get(lang) or texts.get("ar") or next(iter(texts.values()), "")


class NotAvailable(UrError):
    """This kiosk cannot do that yet (part not built, not wired or not configured)."""


class AlreadyPaid(UrError):
    """The payable is paid already: the screen says so (never "device unavailable",
    never a second charge)."""


@dataclass(frozen=True)
class Institution:
    id: str
    name: Texts


@dataclass(frozen=True)
class ServiceSummary:
    id: str
    name: Texts
    institution_id: str
    institution: Texts
    kind: str  # informational | participatory | procedural | interactive


@dataclass(frozen=True)
class RequiredDocument:
    name: Texts
    original: bool
    copies: int
    held_by_state: bool  # the agency fetches it itself; the citizen brings nothing


@dataclass(frozen=True)
class Choice:
    value: str
    label: Texts


FieldType = Literal["text", "arabic_text", "national_id", "mobile", "plate", "date", "choice",
                    "number"]


@dataclass(frozen=True)
class FormField:
    name: str
    type: FieldType
    label: Texts
    required: bool = True
    choices: tuple[Choice, ...] = ()
    max_length: int = 200


@dataclass(frozen=True)
class ServiceDetail:
    summary: ServiceSummary
    description: Texts
    steps: tuple[Texts, ...]
    documents: tuple[RequiredDocument, ...]
    fee_statutory: int  # IQD, whole dinars
    fee_service: int
    duration_days: int
    visits: int
    accepts_applications: bool

    @property
    def fee_total(self) -> int:
        return self.fee_statutory + self.fee_service


@dataclass(frozen=True)
class VisitTicket:
    """The queue ticket printed for a service that needs a visit (kiosk/applications/ticket.py)."""

    number: str  # the tracking number is the queue number
    counter_group: Texts  # the agency whose counters call it
    wait_min: int | None  # central's measured median wait; None: no measurement yet
    printed: bool  # False: the printer could not print it (the number is on the screen)


@dataclass(frozen=True)
class Submitted:
    tracking: str
    fee_total: int
    queued: bool  # True when it is waiting in the outbox (kiosk offline)
    ticket: VisitTicket | None = None  # only for a service that needs a visit


@dataclass(frozen=True)
class TrackStep:
    status: str  # message key suffix: received, in_review, approved, rejected, ready ...
    at: str  # ISO date-time as central reported it
    agency: Texts = field(default_factory=dict)


@dataclass(frozen=True)
class TrackResult:
    tracking: str
    service: Texts
    status: str
    history: tuple[TrackStep, ...]
    as_of: str  # when the kiosk last heard from central


PayStage = Literal["insert_card", "enter_pin", "processing", "approved", "declined", "unknown",
                   "error"]
FINAL_STAGES: frozenset[str] = frozenset({"approved", "declined", "unknown", "error"})


@dataclass(frozen=True)
class Receipt:
    number: str
    reference: str  # tracking number / fine / fee item the money is for
    amount: int
    lines: tuple[tuple[Texts, str], ...]  # (label, value) shown on screen and printed
    qr_text: str  # what the receipt's QR holds (a UR1 secured slip)
    printed: bool
    print_problem: str = ""  # message key when the printer could not print it
    # What a citizen reads, when `number` / `reference` are internal ids (a payment
    # UUID, a fee reference like app:<tracking>): a short receipt number and the
    # tracking number or fine the money is for.
    shown_number: str = ""
    shown_reference: str = ""
    fees: tuple[tuple[Texts, int], ...] = ()  # amounts: the screen formats them for its language
    paid_for: Texts = field(default_factory=dict)  # service (or fine) named from the data, per language


@dataclass(frozen=True)
class PayEvent:
    """One step of a card payment as the terminal reports it.

    `unknown` means the outcome could not be confirmed: the screen must tell the
    citizen not to pay again (the payment service resolves it by enquiry).
    """

    stage: PayStage
    receipt: Receipt | None = None
    detail: str = ""


@dataclass(frozen=True)
class DocumentField:
    label: Texts
    value: str


@dataclass(frozen=True)
class Verification:
    verdict: str  # VALID REVOKED INVALID UNKNOWN_KEY EXPIRED NOT_YET_VALID STALE
    document_type: Texts
    issuer: Texts
    fields: tuple[DocumentField, ...]  # what to compare with the paper


@dataclass(frozen=True)
class LetterStatus:
    number: str
    date: str
    subject: Texts
    status: str  # message key suffix: registered, in_transit, delivered, answered
    current_agency: Texts


@dataclass(frozen=True)
class Fine:
    id: str
    plate: str
    offence: Texts
    date: str
    amount: int
    paid: bool = False  # paid at this station: shown as paid, not offered for payment


@dataclass(frozen=True)
class ComplaintFiled:
    reference: str
    queued: bool


@dataclass(frozen=True)
class StatusStrip:
    online: bool
    queued: int  # items waiting to go to central
    paper: Literal["ok", "near_end", "out", "unknown"]
    in_service: bool = True  # False once central revoked this kiosk (screens say "out of service")


@dataclass(frozen=True)
class IdCardRead:
    """The citizen's ID card read for a form. `fields` (only the form's own field names)
    prefill the form for the citizen to confirm; empty with `reason` set (a message key:
    card.no_reader, card.no_card, card.wrong_mrz, card.torn_read, ...) when the card gave
    nothing and the citizen types. `photo` (JPEG or JPEG 2000 bytes) is for the screen
    only: never stored, never logged."""

    fields: dict[str, str]
    reason: str | None = None
    message: str = ""
    retry_mrz: bool = False  # the three MRZ fields were probably mistyped
    photo: bytes | None = field(default=None, repr=False)
    photo_mime: str = ""


@dataclass(frozen=True)
class DeviceState:
    device: str  # printer | terminal | scanner
    state: str  # ok | warning | error | absent
    detail: str


@dataclass(frozen=True)
class ShiftState:
    open: bool
    cashier: str
    opened_at: str
    collected: int  # IQD taken this shift
    count: int


@dataclass(frozen=True)
class Collectable:
    """Something a cashier can take money for: an application or a fee item."""

    reference: str
    label: Texts
    amount: int


@dataclass(frozen=True)
class Reconciliation:
    business_day: str
    ledger_total: int
    terminal_total: int
    count: int
    matched: bool
    differences: tuple[str, ...]


@runtime_checkable
class UiServices(Protocol):
    """Everything a screen may call. Implementations: kiosk.services.kiosk_services.KioskServices."""

    # catalogue
    def institutions(self) -> list[Institution]: ...
    def search_services(self, query: str, lang: str, institution: str | None = None,
                        kind: str | None = None) -> list[ServiceSummary]: ...
    def service_detail(self, service_id: str) -> ServiceDetail: ...
    def form_schema(self, service_id: str) -> list[FormField]: ...

    # applications
    def validate_form(self, service_id: str, fields: dict[str, str]) -> dict[str, str]:
        """Field name -> error message key (`err.*`); empty when the form is acceptable."""
        ...

    def submit_application(self, service_id: str, fields: dict[str, str]) -> Submitted: ...
    def track(self, tracking: str) -> TrackResult: ...

    # payments: an iterator of progress events, the last one in FINAL_STAGES. Optional, used
    # by the screens when present (kiosk_services has them): settle_payments_at_start(),
    # unsettled_payments() (cashier's red banner), cancel_payment() (Cancel in the card wait).
    # `lang`: the session's language, which the printed receipt is in (English below it).
    def pay(self, reference: str, amount: int, lang: str = "ar") -> Iterator[PayEvent]: ...
    def reprint_receipt(self, receipt_number: str, lang: str = "ar") -> Receipt: ...

    # documents, letters, fines, complaints
    def verify_document(self, text: str) -> Verification: ...
    def letter_status(self, number: str, date: str) -> LetterStatus: ...
    def fines_by_plate(self, plate: str) -> list[Fine]: ...
    def file_complaint(self, category: str, text: str, mobile: str) -> ComplaintFiled: ...

    # devices and status
    def status_strip(self) -> StatusStrip: ...
    def poll_scan(self) -> str | None:
        """The next code the QR scanner read, if any (never blocks)."""
        ...
    def read_id_card(self, service_id: str, document_number: str, birth_date: str,
                     expiry_date: str) -> IdCardRead:
        """Read the citizen's ID card (ICAO 9303, BAC from the three MRZ fields) into
        the service's form fields; never raises for a card problem."""
        ...

    # staff
    def check_pin(self, role: str, pin: str) -> bool: ...
    def shift(self) -> ShiftState: ...
    def open_shift(self, cashier: str) -> ShiftState: ...
    def close_shift(self) -> ShiftState: ...
    def find_collectable(self, reference: str) -> Collectable: ...
    def void_payment(self, receipt_number: str, supervisor_pin: str) -> str: ...
    def refund_payment(self, receipt_number: str, supervisor_pin: str) -> str: ...
    def end_of_day(self) -> Reconciliation: ...
    def device_states(self) -> list[DeviceState]: ...
    def test_print(self) -> str: ...
    def scan_test(self, timeout_s: float) -> str: ...
    def terminal_registration_test(self) -> str: ...
    def device_profiles(self) -> list[str]: ...
    def apply_device_profile(self, profile: str) -> str: ...
    def recent_errors(self, limit: int = 20) -> list[str]: ...


# Values screens turn into message keys (`status.<x>`, `verdict.<x>` ...). A service
# returning something outside these sets shows the key itself, and the catalogue
# test checks that every one of them is translated.
KINDS: tuple[str, ...] = ("informational", "participatory", "procedural", "interactive")
FIELD_TYPES: tuple[str, ...] = ("text", "arabic_text", "national_id", "mobile", "plate", "date",
                                "choice", "number")
ERROR_KEYS: tuple[str, ...] = ("err.required", "err.national_id", "err.mobile", "err.too_long",
                               "err.choice", "err.number", "err.date", "err.plate", "err.arabic",
                               "err.invalid")
PAY_STAGES: tuple[str, ...] = ("insert_card", "enter_pin", "processing", "approved", "declined",
                               "unknown", "error")
TRACK_STATUSES: tuple[str, ...] = ("queued", "received", "in_review", "needs_visit", "approved",
                                   "rejected", "ready", "collected")
VERDICTS: tuple[str, ...] = ("VALID", "REVOKED", "INVALID", "UNKNOWN_KEY", "EXPIRED",
                             "NOT_YET_VALID", "STALE")
LETTER_STATUSES: tuple[str, ...] = ("registered", "in_transit", "delivered", "answered")
PAPER_STATES: tuple[str, ...] = ("ok", "near_end", "out", "unknown")
DEVICES: tuple[str, ...] = ("printer", "terminal", "scanner", "card_reader")
DEVICE_STATES: tuple[str, ...] = ("ok", "warning", "error", "absent")
CARD_REASONS: tuple[str, ...] = ("card.no_reader", "card.no_card", "card.not_an_id_card", "card.wrong_mrz",
                                "card.torn_read", "card.bad_data", "card.bad_input", "card.error")
PRINT_PROBLEMS: tuple[str, ...] = ("receipt.not_printed", "receipt.paper_out")
# The helpline's complaint categories (as kiosk.applications.complaints.CATEGORIES).
COMPLAINT_CATEGORIES: tuple[str, ...] = ("delay", "bribery", "conduct", "wrong-fee", "service-quality",
                                         "other")
