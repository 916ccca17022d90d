"""Terminal batch boundaries: where one terminal batch ended and the next began.

Its own module because both the payment service (a terminal that changed, or closed
its batch on its own) and the end of day (its own close) write them, and the end of
day reads them; with the table in either of the two, each imported the other.
Collection ids are UUIDv7 (time-ordered), so a boundary is simply an id.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from contract import ids
from kiosk.store import Base


class BatchBoundary(Base):
    """Where a terminal batch ended: every collection id >= `from_id` is in a later batch."""

    __tablename__ = "terminal_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    from_id: Mapped[str] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(String(16))  # end_of_day | auto | terminal_changed
    at: Mapped[str] = mapped_column(String(32))


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


def note_end_of_day(s: Session, from_id: str) -> None:
    """Our own close: every collection id >= `from_id` belongs to the next batch."""
    s.add(BatchBoundary(from_id=from_id, reason="end_of_day", at=_now()))


def note_auto_end_of_day(s: Session, payment_id: str) -> None:
    """The terminal closed its batch before this payment (04 FF 0F)."""
    s.add(BatchBoundary(from_id=payment_id, reason="auto", at=_now()))


def note_terminal_changed(s: Session, why: str) -> None:
    """Another (or a reset) terminal answers now: its batch totals do not cover what the
    journal holds since the last close, so they settle nothing until the next close."""
    s.add(BatchBoundary(from_id=ids.new_id(), reason="terminal_changed", at=_now()))


def boundaries(s: Session) -> tuple[str, list[BatchBoundary]]:
    """The first collection id of the open batch (after our last close), and the automatic
    closes and terminal changes since then (while any exists, the terminal's totals do
    not cover exactly our journal)."""
    rows = list(s.scalars(select(BatchBoundary).order_by(BatchBoundary.id)))
    closes = [b.from_id for b in rows if b.reason == "end_of_day"]
    start = max(closes) if closes else ""
    autos = [b for b in rows if b.reason in ("auto", "terminal_changed") and b.from_id > start]
    return start, autos
