"""Vehicle fines as the kiosk knows them: central's "fines" dataset, looked up by plate.

The kiosk never invents or edits an amount: what the citizen pays is the amount
in the dataset (contract.fines holds the format).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from contract.errors import UrError
from contract.fines import DATASET, Fine, dump, normalize_plate, parse
from kiosk import datasets

__all__ = ["DATASET", "Fine", "all_fines", "by_plate", "dump", "get", "normalize_plate", "parse"]


def all_fines(session: Session) -> list[Fine]:
    ds = datasets.current(session, DATASET)
    if ds is None:
        raise UrError("this kiosk has no fines list yet (let it sync with central once)")
    return parse(ds.body)


def by_plate(session: Session, plate: str) -> list[Fine]:
    p = normalize_plate(plate)
    return [f for f in all_fines(session) if f.plate == p]


def get(session: Session, fine_id: str) -> Fine:
    for f in all_fines(session):
        if f.id == fine_id:
            return f
    raise UrError(f"fine {fine_id} is not in this kiosk's fines list (paid, withdrawn or not synced yet)")
