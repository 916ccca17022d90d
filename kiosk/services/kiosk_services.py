"""`KioskServices`: the `UiServices` the screens call on a real kiosk.

A facade over one part per capability (kiosk/services/<part>.py), all sharing one
`Station` (store, device map, spooler, signed-in cashier). It adds no logic of its
own: each method says which part answers it, so a screen's call is easy to follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from contract.errors import UrError
from kiosk.payments.print_journal import PrintSpooler
from kiosk.services.applications import ApplicationServices
from kiosk.services.catalogue import CatalogueServices
from kiosk.services.devices import DeviceServices
from kiosk.services.documents import DocumentServices
from kiosk.services.payments import PaymentServices
from kiosk.services.staff import StaffServices
from kiosk.services.station import Station
from kiosk.station_devices import StationDevices
from kiosk.store import KioskStore
from kiosk.ui_services import (
    Collectable,
    ComplaintFiled,
    DeviceState,
    Fine,
    FormField,
    IdCardRead,
    Institution,
    LetterStatus,
    PayEvent,
    Receipt,
    Reconciliation,
    ServiceDetail,
    ServiceSummary,
    ShiftState,
    StatusStrip,
    Submitted,
    TrackResult,
    UiServices,
    Verification,
)


class KioskServices:
    """The kiosk's services for screens, over one `KioskStore`."""

    def __init__(self, store: KioskStore, spooler: PrintSpooler | None = None,
                 device_map: str | Path | None = None) -> None:
        self.station = Station(store, spooler, device_map)
        self.catalogue = CatalogueServices(self.station)
        self.applications = ApplicationServices(self.station, self.catalogue)
        self.documents = DocumentServices(self.station)
        self.payments = PaymentServices(self.station)
        self.staff = StaffServices(self.station, self.payments, self.catalogue)
        self.device_services = DeviceServices(self.station)

    @property
    def store(self) -> KioskStore:
        return self.station.store

    @property
    def devices(self) -> StationDevices:
        return self.station.devices

    # -- catalogue ------------------------------------------------------------
    def institutions(self) -> list[Institution]:
        return self.catalogue.institutions()

    def search_services(self, query: str, lang: str, institution: str | None = None,
                        kind: str | None = None) -> list[ServiceSummary]:
        return self.catalogue.search_services(query, lang, institution, kind)

    def service_detail(self, service_id: str) -> ServiceDetail:
        return self.catalogue.service_detail(service_id)

    def form_schema(self, service_id: str) -> list[FormField]:
        return self.catalogue.form_schema(service_id)

    def validate_form(self, service_id: str, fields: dict[str, str]) -> dict[str, str]:
        return self.catalogue.validate_form(service_id, fields)

    # -- applications, complaints, letters, fines -----------------------------
    def submit_application(self, service_id: str, fields: dict[str, str]) -> Submitted:
        return self.applications.submit_application(service_id, fields)

    def track(self, tracking: str) -> TrackResult:
        return self.applications.track(tracking)

    def read_id_card(self, service_id: str, document_number: str, birth_date: str,
                     expiry_date: str) -> IdCardRead:
        return self.applications.read_id_card(service_id, document_number, birth_date, expiry_date)

    def file_complaint(self, category: str, text: str, mobile: str) -> ComplaintFiled:
        return self.applications.file_complaint(category, text, mobile)

    def letter_status(self, number: str, date: str) -> LetterStatus:
        return self.applications.letter_status(number, date)

    def fines_by_plate(self, plate: str) -> list[Fine]:
        return self.applications.fines_by_plate(plate)

    # -- documents --------------------------------------------------------------
    def verify_document(self, text: str) -> Verification:
        return self.documents.verify_document(text)

    # -- payments ---------------------------------------------------------------
    def pay(self, reference: str, amount: int, lang: str = "ar") -> Iterator[PayEvent]:
        return self.payments.pay(reference, amount, lang)

    def reprint_receipt(self, receipt_number: str, lang: str = "ar") -> Receipt:
        return self.payments.reprint_receipt(receipt_number, lang)

    def settle_payments_at_start(self) -> list[str]:
        return self.payments.settle_payments_at_start()

    def unsettled_payments(self) -> list[dict[str, Any]]:
        return self.payments.unsettled_payments()

    def cancel_payment(self) -> None:
        self.payments.cancel_payment()

    # -- staff ------------------------------------------------------------------
    def check_pin(self, role: str, pin: str) -> bool:
        return self.staff.check_pin(role, pin)

    def shift(self) -> ShiftState:
        return self.staff.shift()

    def open_shift(self, cashier: str) -> ShiftState:
        return self.staff.open_shift(cashier)

    def close_shift(self) -> ShiftState:
        return self.staff.close_shift()

    def find_collectable(self, reference: str) -> Collectable:
        return self.staff.find_collectable(reference)

    def void_payment(self, receipt_number: str, supervisor_pin: str) -> str:
        return self.staff.void_payment(receipt_number, supervisor_pin)

    def refund_payment(self, receipt_number: str, supervisor_pin: str) -> str:
        return self.staff.refund_payment(receipt_number, supervisor_pin)

    def end_of_day(self) -> Reconciliation:
        return self.staff.end_of_day()

    # -- status and devices -----------------------------------------------------
    def status_strip(self) -> StatusStrip:
        return self.device_services.status_strip()

    def poll_scan(self) -> str | None:
        return self.device_services.poll_scan()

    def device_states(self) -> list[DeviceState]:
        return self.device_services.device_states()

    def test_print(self) -> str:
        return self.device_services.test_print()

    def scan_test(self, timeout_s: float) -> str:
        return self.device_services.scan_test(timeout_s)

    def terminal_registration_test(self) -> str:
        return self.device_services.terminal_registration_test()

    def device_profiles(self) -> list[str]:
        return self.device_services.device_profiles()

    def apply_device_profile(self, profile: str) -> str:
        return self.device_services.apply_device_profile(profile)

    def recent_errors(self, limit: int = 20) -> list[str]:
        return self.device_services.recent_errors(limit)


def check_conforms(obj: object) -> None:
    """Raise UrError naming the missing methods if `obj` does not implement UiServices."""
    missing = [n for n in dir(UiServices) if not n.startswith("_") and callable(getattr(UiServices, n))
               and not callable(getattr(obj, n, None))]
    if missing:
        raise UrError(f"{type(obj).__name__} lacks UiServices methods: {', '.join(sorted(missing))}")
