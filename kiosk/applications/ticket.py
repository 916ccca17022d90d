"""Visit tickets the kiosk prints when an application needs the citizen at a counter.

Offline-first: the ticket is printed at submit time from what the kiosk holds, the
catalogue (which service needs a visit, its agency = the counter group) and the last
synced `queue_waits` dataset (central's measured median wait for this office and
group). Without a measurement for the group the ticket says so; it never guesses.

The queue number is the tracking number: central opens the ticket when the
application arrives (central/queue.py), so there is no second number to keep in
step, and the QR on the ticket opens the staff application page at the counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from contract import catalogue as cat
from contract import queue_waits as qw
from contract.errors import UrError
from kiosk import datasets

TEMPLATE = "queue_ticket"


@dataclass(frozen=True)
class Ticket:
    tracking: str
    office: str
    group: str  # counter group: the service's institution id
    group_names: dict[str, str]  # the institution's name per language (ar, ckb, en)
    wait_min: int | None  # measured median ticket -> call; None: no measurement yet
    qr: str  # the staff application page of this number (or the number alone)
    at: datetime


def needs_visit(service: cat.Service) -> bool:
    return service.visit_count > 0


def synced_waits(session: Session) -> qw.QueueWaits | None:
    """The last installed `queue_waits` dataset; None when never synced (or unreadable:
    a ticket must still print)."""
    ds = datasets.current(session, qw.DATASET)
    if ds is None:
        return None
    try:
        return qw.parse(ds.body)
    except UrError:
        return None


def make(session: Session, catalogue: cat.Catalogue, office: str, service_id: str, tracking: str,
         at: datetime) -> Ticket | None:
    """The ticket for a just-submitted application, or None when its service needs no visit."""
    service = catalogue.service(service_id)
    if not needs_visit(service):
        return None
    group = service.institution
    inst = catalogue.institution(group)
    names = {lang: str(getattr(inst.name, lang, "") or "") for lang in ("ar", "ckb", "en")} if inst else {}
    names = {k: v for k, v in names.items() if v} or {"ar": group, "ckb": group, "en": group}
    waits = synced_waits(session)
    est = waits.estimate(office, group) if waits else None
    qr = f"{waits.case_url}{tracking}" if waits and waits.case_url else tracking
    return Ticket(tracking, office, group, names, est.wait_min if est else None, qr, at)


def print_data(t: Ticket) -> dict[str, str]:
    """The fields of the `queue_ticket` template: Arabic lines first, English below."""
    return {
        "tracking": t.tracking, "qr": t.qr, "office": t.office or "-",
        "group_ar": t.group_names.get("ar") or t.group, "group_en": t.group_names.get("en") or t.group,
        "wait_ar": f"نحو {t.wait_min} دقيقة" if t.wait_min is not None else "لا يوجد تقدير بعد",
        "wait_en": f"about {t.wait_min} min" if t.wait_min is not None else "no estimate yet",
        "date": t.at.astimezone().strftime("%Y-%m-%d %H:%M"),  # the office's clock, as on its wall
    }
