"""Office queues: a ticket per visit-needing application, called at a counter.

Why a central-side record and not a kiosk message: the application already reaches
central exactly once (inbox UNIQUE(kiosk, message id)); the ticket is made from it
by a submission hook, keyed by the tracking number (primary key, insert-if-absent),
so a resent, replayed or re-routed application never makes a second ticket.

A ticket waits in its office's line for its counter group (the service's
institution: each agency has its own counters in a shared office); a counter
calls the oldest waiting ticket of its group, then marks it done. The times
ticket -> call and call -> done are kept on the row; their recent medians per
office and group are the `queue_waits` dataset the kiosks print estimates from.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from central.db import Base

WAITING, CALLED, DONE = "waiting", "called", "done"


class QueueTicket(Base):
    __tablename__ = "queue_tickets"
    __table_args__ = (Index("ix_queue_tickets_line", "office", "counter_group", "status", "ticket_at"),)
    tracking: Mapped[str] = mapped_column(String(16), primary_key=True)
    office: Mapped[str] = mapped_column(String(64))
    counter_group: Mapped[str] = mapped_column(String(64))
    service_id: Mapped[str] = mapped_column(String(64))
    # When the kiosk printed it (the application's submit time): the wait starts there.
    ticket_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    counter: Mapped[int | None] = mapped_column(Integer, nullable=True)
    called_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    called_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
