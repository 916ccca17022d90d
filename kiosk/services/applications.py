"""A citizen's business for screens: applications (submit, track, a form prefilled from
the ID card), complaints, letter inquiries and fines, through kiosk.applications over the
kiosk's store and synced data."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from sqlalchemy import select

from contract.errors import UrError
from kiosk.applications import applications, complaints, fines, letters, ticket
from kiosk.devices.id_card_form import CardPrefill
from kiosk.payments.print_journal import DONE, PrintJournal
from kiosk.payments.service import PaymentRow
from kiosk.services.catalogue import CatalogueServices
from kiosk.services.station import Station, same_in_all, texts
from kiosk.ui_services import (
    ComplaintFiled,
    Fine,
    IdCardRead,
    LetterStatus,
    Submitted,
    TrackResult,
    TrackStep,
    VisitTicket,
)

log = logging.getLogger(__name__)

# Central's letter states -> the four the citizen screen explains.
_LETTER_STATES = {"SENT": "in_transit", "RETURNED": "in_transit", "RECEIVED": "delivered",
                  "IN_PROGRESS": "delivered", "ANSWERED": "answered", "CLOSED": "answered"}


class ApplicationServices:
    def __init__(self, station: Station, catalogue: CatalogueServices) -> None:
        self.station, self.store, self.catalogue = station, station.store, catalogue

    def submit_application(self, service_id: str, fields: dict[str, str]) -> Submitted:
        """Stored with its outbox row in one transaction; central gets it when the
        kiosk syncs, so the citizen's number is valid offline too."""
        ident = self.station.identity()
        done = applications.submit(self.store, ident, service_id, fields)
        return Submitted(done.tracking, int(done.fee_total), queued=True,
                         ticket=self.visit_ticket(ident.office, service_id, done.tracking))

    def visit_ticket(self, office: str, service_id: str, number: str) -> VisitTicket | None:
        """Print the queue ticket of a service that needs a visit, once per tracking
        number (the print journal's key). The application is filed whatever the printer
        does: a ticket that did not print says so, and the number is on the screen."""
        with self.store.session() as s:
            t = ticket.make(s, applications.load_catalogue(s), office, service_id, number, datetime.now(UTC))
        if t is None:
            return None
        printed = False
        spooler = self.station.spooler()
        if spooler is not None:
            job = PrintJournal(self.store).submit(f"ticket:{number}", ticket.TEMPLATE, ticket.print_data(t))
            try:
                printed = spooler.print_job(job.id).state == DONE
            except UrError as e:
                log.warning("queue ticket %s not printed: %s", number, e)
        return VisitTicket(number, t.group_names, t.wait_min, printed)

    def track(self, tracking: str) -> TrackResult:
        text = tracking.strip()
        with self.store.session() as s:
            st = applications.status(s, text)
        service: dict[str, str] = {}
        if st.get("service_id"):
            try:
                service = self.catalogue.service_detail(st["service_id"]).summary.name
            except UrError:
                service = same_in_all(st["service_id"])
        steps = tuple(TrackStep(str(h.get("status", "")), str(h.get("at", ""))[:16].replace("T", " "),
                                texts(h.get("agency")) if isinstance(h.get("agency"), dict) else {})
                      for h in st.get("history", []))
        as_of = steps[-1].at if steps else ""
        return TrackResult(st["tracking"], service, str(st["status"]), steps, as_of)

    def read_id_card(self, service_id: str, document_number: str, birth_date: str,
                     expiry_date: str) -> IdCardRead:
        """The card's fields that this service's form has (kiosk/devices/id_card_form.py)."""
        # DG1 holds the Latin transliteration of the name: never prefilled into a field
        # that must be written in Arabic letters (the citizen types that one).
        names = {f.name for f in self.catalogue.catalogue().service(service_id).form if f.type != "arabic_text"}
        r = self.station.devices.read_id_card(document_number, birth_date, expiry_date)
        if isinstance(r, CardPrefill):
            photo = r.photo
            return IdCardRead({k: v for k, v in r.fields.items() if k in names},
                              photo=photo.data if photo else None, photo_mime=photo.mime if photo else "")
        return IdCardRead({}, r.reason, r.message, r.retry_mrz)

    def file_complaint(self, category: str, text: str, mobile: str) -> ComplaintFiled:
        filed = complaints.file_complaint(self.store, self.station.identity(), text,
                                          category=category or "other", mobile=mobile or None)
        return ComplaintFiled(filed.tracking, queued=True)

    def letter_status(self, number: str, date: str) -> LetterStatus:
        """From the kiosk's last synced letters index (the kiosk may be offline)."""
        with self.store.session() as s:
            found = letters.inquire(s, number, date, int(time.time()))
        if not found["letters"]:
            raise UrError(f"no letter {found['number']} of {found['date']} in this kiosk's copy "
                          f"(as of {found['as_of']})")
        entry = found["letters"][0]
        holder = str(entry.get("holder", ""))
        return LetterStatus(number=found["number"], date=found["date"], subject={},
                            status=_LETTER_STATES.get(str(entry.get("status")), "registered"),
                            current_agency=same_in_all(holder))

    def fines_by_plate(self, plate: str) -> list[Fine]:
        """Fines of a plate from central's synced fines list; a fine paid at this station
        is marked paid (the citizen sees it is done) until central's next list drops it,
        one being paid (outcome open) is left out: it is not offered twice."""
        with self.store.session() as s:
            found = fines.by_plate(s, plate)
            taken = {ref: state for ref, state in s.execute(select(PaymentRow.fee_ref, PaymentRow.state).where(
                PaymentRow.fee_ref.in_([f"fine:{f.id}" for f in found]),
                PaymentRow.state.in_(["CREATED", "PENDING", "UNKNOWN", "APPROVED", "PAID"])))}
        return [Fine(f.id, f.plate, same_in_all(f.offence), f.issued, f.amount,
                     paid=taken.get(f"fine:{f.id}") in ("APPROVED", "PAID"))
                for f in found if taken.get(f"fine:{f.id}") in (None, "APPROVED", "PAID")]
