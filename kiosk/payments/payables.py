"""What can be paid, and for exactly how much: a fee reference -> amount and split.

Nobody types an amount. A fee reference names the thing paid for:
  app:<tracking>    the fee of an application, locked to the catalogue version it was made under
  item:<service_id>[:<sale>] a catalogue fee item collected at the cashier (current catalogue);
                    each sale is its own fee (the payment service adds a sale id)
  fine:<fine_id>    a vehicle fine from central's fines dataset (amount from the data)
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from contract import catalogue as cat
from contract.errors import UrError
from kiosk import datasets
from kiosk.applications import fines
from kiosk.applications.applications import KioskApplication

KINDS = ("app", "item", "fine")


@dataclass(frozen=True)
class Payable:
    fee_ref: str
    kind: str
    ref: str  # tracking number, service id or fine id
    amount: int  # whole dinars
    statutory: int
    service: int
    description: str
    catalogue_version: int | None = None


def parse_ref(fee_ref: str) -> tuple[str, str]:
    kind, sep, ref = str(fee_ref).partition(":")
    if not sep or kind not in KINDS or not ref or len(fee_ref) > 96:
        raise UrError(f"{fee_ref!r} is not a fee reference (app:<tracking>, item:<service id>, fine:<fine id>)")
    return kind, ref


def _catalogue(session: Session) -> cat.Catalogue:
    ds = datasets.current(session, "catalogue")
    if ds is None:
        raise UrError("this kiosk has no service catalogue yet (enroll it or let it sync once)")
    return cat.parse(ds.body)


def resolve(session: Session, fee_ref: str) -> Payable:
    kind, ref = parse_ref(fee_ref)
    if kind == "fine":
        f = fines.get(session, ref)
        return Payable(fee_ref, kind, ref, f.amount, f.amount, 0, f"fine {f.id} plate {f.plate} {f.offence}".strip())
    if kind == "item":
        ref = ref.split(":", 1)[0]
        q = cat.fee_for(_catalogue(session), ref)
        if q.total <= 0:
            raise UrError(f"service {ref} has no fee to collect")
        return Payable(fee_ref, kind, ref, q.total, q.statutory, q.service, f"service {ref}", q.catalogue_version)
    app = session.get(KioskApplication, ref.upper())
    if app is None:
        raise UrError(f"no application {ref} at this station")
    if app.fee_total <= 0:
        raise UrError(f"application {ref} has no fee to pay")
    # The amount is locked to the application's catalogue version; the split is taken from
    # the catalogue only when it is still that version (else all of it counts as statutory).
    statutory, service = app.fee_total, 0
    try:
        c = _catalogue(session)
        if c.version == app.catalogue_version:
            q = cat.fee_for(c, app.service_id)
            if q.total == app.fee_total:
                statutory, service = q.statutory, q.service
    except UrError:
        pass
    return Payable(fee_ref, kind, app.tracking, app.fee_total, statutory, service,
                   f"application {app.tracking} ({app.service_id})", app.catalogue_version)
