"""Vehicle fines held centrally and handed down to kiosks as the "fines" dataset.

A fine is added here (`ur-central fines add`), published to kiosks (unpaid fines
only), and marked paid when the ledger records a collection for `fine:<id>`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import datasets
from central.db import Base
from contract import fines as codec
from contract import ids
from contract.errors import UrError


class Fine(Base):
    __tablename__ = "fines"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    plate: Mapped[str] = mapped_column(String(16), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    offence: Mapped[str] = mapped_column(String(200), default="")
    issued: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(12), default="unpaid")  # unpaid | paid
    paid_by: Mapped[str | None] = mapped_column(String(36), nullable=True)  # collection id
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def add(session: Session, plate: str, amount: int, offence: str = "", fine_id: str | None = None,
        issued: str | None = None) -> Fine:
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= 100_000_000:
        raise UrError(f"fine amount must be whole dinars 1..100000000, got {amount!r}")
    fid = fine_id or ("F-" + ids.new_id().replace("-", "")[:16].upper())
    codec.parse(codec.dump([{"id": fid, "plate": plate, "amount": amount}]))  # same rules as kiosks apply
    if session.get(Fine, fid) is not None:
        raise UrError(f"fine {fid} already exists")
    f = Fine(id=fid, plate=codec.normalize_plate(plate), amount=amount, offence=offence[:200],
             issued=issued or datetime.now(UTC).date().isoformat(), status="unpaid",
             created_at=datetime.now(UTC))
    session.add(f)
    session.flush()
    return f


def publish(session: Session) -> datasets.Dataset:
    """The unpaid fines as the next "fines" dataset version (no-op when unchanged)."""
    rows = session.scalars(select(Fine).where(Fine.status == "unpaid"))
    body = codec.dump([{"id": f.id, "plate": f.plate, "amount": f.amount, "offence": f.offence,
                        "issued": f.issued} for f in rows])
    return datasets.publish(session, codec.DATASET, body)


def mark_paid(session: Session, fine_id: str, collection_id: str, amount: int) -> str | None:
    """Record a collection against a fine; returns a problem to report, or None."""
    f = session.get(Fine, fine_id)
    if f is None:
        return f"fine {fine_id} is not known centrally"
    if f.amount != amount:
        return f"fine {fine_id} is {f.amount} IQD but {amount} was collected"
    if f.status == "paid" and f.paid_by != collection_id:
        return f"fine {fine_id} was already paid by collection {f.paid_by}"
    f.status, f.paid_by = "paid", collection_id
    return None


def mark_unpaid(session: Session, fine_id: str, collection_id: str) -> None:
    f = session.get(Fine, fine_id)
    if f is not None and f.paid_by == collection_id:
        f.status, f.paid_by = "unpaid", None
