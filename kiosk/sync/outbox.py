"""The kiosk outbox: every message central must get, written in the same
transaction as the business row it reports.

Rows are sent by priority (payments first, telemetry last), at most `window`
unacknowledged at a time, resent when the ack does not come in time or the
connection returns, and marked delivered only on central's application ack
(PUBACK only means the broker took it). Each stream has its own sequence so
central can apply ordered streams in order and hold anything after a gap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Float, Index, Integer, LargeBinary, String, bindparam, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from contract import envelope, ids, mqtt_conn, pii_seal
from contract.hlc import HLC
from kiosk.identity import Identity
from kiosk.store import Base

PRIORITY = {"payments": 0, "applications": 1, "complaints": 2, "reports": 3, "heartbeat": 9}
PENDING, DELIVERED, REJECTED = "pending", "delivered", "rejected"
# A resend waits at most this long on top of the ack timeout: the link is up (we
# are connected), only acks went missing, so long waits would only delay delivery.
RESEND_BACKOFF_CAP = 30.0


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "priority", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    stream: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    hlc: Mapped[int] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer, index=True)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(12), default=PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[float] = mapped_column(Float, default=0.0)
    last_sent: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    reject_reason: Mapped[str | None] = mapped_column(String(256), nullable=True)


class StreamSeq(Base):
    __tablename__ = "stream_seq"
    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class ClockState(Base):
    """The HLC survives restarts so timestamps never go back."""

    __tablename__ = "clock_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


def enqueue(session: Session, ident: Identity, stream: str, payload: dict[str, Any],
            now: float | None = None) -> OutboxRow:
    """Seal and queue one message inside the caller's transaction. Payloads of
    pii_seal.SEALED_STREAMS are encrypted to central's pinned key first (a
    kiosk set up without that key sends them in the clear form, which central
    still accepts)."""
    now = time.time() if now is None else now
    mid = ids.new_id()
    if stream in pii_seal.SEALED_STREAMS and ident.pii_public_key is not None:
        # Personal data: only central opens it, not the broker (contract/pii_seal.py).
        # Sealed before the first statement: when this is the transaction's first
        # write, the store's write lock (taken there) is not held through the sealing.
        payload = pii_seal.seal_payload(payload, ident.pii_public_key, ident.kiosk_id, stream, mid)
    seq_row = session.get(StreamSeq, stream)
    if seq_row is None:
        seq_row = StreamSeq(stream=stream, last_seq=0)
        session.add(seq_row)
    seq_row.last_seq += 1
    clock = session.get(ClockState, 1)
    if clock is None:
        clock = ClockState(id=1, last=0)
        session.add(clock)
    hlc = HLC(clock.last)
    ts = hlc.now(int(now * 1000))
    clock.last = ts
    env = envelope.Envelope(ident.kiosk_id, mid, stream, seq_row.last_seq, ts, payload)
    row = OutboxRow(
        message_id=mid, stream=stream, seq=seq_row.last_seq, hlc=ts,
        priority=PRIORITY.get(stream, 5),
        # Encrypted at rest: payloads hold personal data and kiosks can be stolen.
        envelope=ident.data_key.seal(envelope.seal(env, ident.key), "outbox", mid),
        state=PENDING, attempts=0, next_attempt=0.0, created_at=now,
    )
    session.add(row)
    session.flush()
    return row


class DueRow(NamedTuple):
    """What sending needs of an outbox row (a plain tuple: no ORM cost per row)."""

    id: int
    message_id: str
    stream: str
    envelope: bytes
    attempts: int


def wire_bytes(row: OutboxRow | DueRow, ident: Identity) -> bytes:
    """The signed envelope as published (decrypted from its at-rest form)."""
    return ident.data_key.open(row.envelope, "outbox", row.message_id)


def due(session: Session, limit: int, now: float | None = None) -> list[DueRow]:
    """Up to `limit` rows to (re)send now: never sent or past their ack deadline,
    best priority first. The sender keeps the window of unacknowledged messages
    (it knows what it has in flight) and asks only for the room left."""
    now = time.time() if now is None else now
    if limit <= 0:
        return []
    q = (select(OutboxRow.id, OutboxRow.message_id, OutboxRow.stream, OutboxRow.envelope, OutboxRow.attempts)
         .where(OutboxRow.state == PENDING, OutboxRow.next_attempt <= now)
         .order_by(OutboxRow.priority, OutboxRow.id).limit(limit))
    return [DueRow(*r) for r in session.execute(q)]


def backoff(attempts: int, base: float, cap: float = 300.0) -> float:
    """Resend delay with full jitter: spreads resends of many kiosks."""
    return mqtt_conn.full_jitter(attempts, base, cap)


def mark_sent(session: Session, rows: list[DueRow], ack_timeout: float, now: float | None = None,
              resend_cap: float = RESEND_BACKOFF_CAP) -> dict[str, float]:
    """Next try only if no ack by then: first sends wait one ack timeout (one
    bulk UPDATE), resends back off with jitter on top. Returns each message's
    deadline."""
    now = time.time() if now is None else now
    deadlines: dict[str, float] = {}
    first = [r for r in rows if r.attempts == 0]
    if first:
        session.execute(update(OutboxRow).where(OutboxRow.id.in_([r.id for r in first]), OutboxRow.state == PENDING).values(
            attempts=1, last_sent=now, next_attempt=now + ack_timeout), execution_options={"synchronize_session": False})
        deadlines.update((r.message_id, now + ack_timeout) for r in first)
    again = [r for r in rows if r.attempts > 0]
    if again:
        params = [{"rid": r.id, "att": r.attempts + 1,
                   "nxt": now + ack_timeout + backoff(r.attempts, ack_timeout, resend_cap)} for r in again]
        t = OutboxRow.__table__
        session.connection().execute(update(t).where(t.c.id == bindparam("rid"), t.c.state == PENDING).values(
            attempts=bindparam("att"), last_sent=now, next_attempt=bindparam("nxt")), params)
        deadlines.update((r.message_id, p["nxt"]) for r, p in zip(again, params, strict=True))
    return deadlines


def mark_acked(session: Session, acked: list[str], rejected: list[tuple[str, str]],
               now: float | None = None) -> int:
    now = time.time() if now is None else now
    n = 0
    if acked:
        res = session.execute(
            update(OutboxRow).where(OutboxRow.message_id.in_(acked), OutboxRow.state == PENDING)
            .values(state=DELIVERED, delivered_at=now)
        )
        n += res.rowcount or 0  # type: ignore[attr-defined]  # an UPDATE's Result is a CursorResult, which has rowcount
    for mid, reason in rejected:
        res = session.execute(
            update(OutboxRow).where(OutboxRow.message_id == mid, OutboxRow.state == PENDING)
            .values(state=REJECTED, delivered_at=now, reject_reason=reason[:256])
        )
        n += res.rowcount or 0  # type: ignore[attr-defined]  # an UPDATE's Result is a CursorResult, which has rowcount
    return n


def has_pending(session: Session) -> bool:
    """Anything not yet acknowledged (cheap: one index probe)."""
    return session.scalar(select(OutboxRow.id).where(OutboxRow.state == PENDING).limit(1)) is not None


def reset_in_flight(session: Session) -> None:
    """After a (re)connect everything unacknowledged is due again at once."""
    session.execute(update(OutboxRow).where(OutboxRow.state == PENDING).values(next_attempt=0.0))


@dataclass
class QueueStats:
    pending: int
    in_flight: int
    delivered: int
    rejected: int
    oldest_pending_age_s: float | None
    last_delivery: str | None


def stats(session: Session, now: float | None = None) -> QueueStats:
    now = time.time() if now is None else now
    counts = dict(session.execute(select(OutboxRow.state, func.count()).group_by(OutboxRow.state)).all())
    in_flight = session.scalar(select(func.count()).select_from(OutboxRow).where(
        OutboxRow.state == PENDING, OutboxRow.last_sent.is_not(None))) or 0
    oldest = session.scalar(select(func.min(OutboxRow.created_at)).where(OutboxRow.state == PENDING))
    last = session.scalar(select(func.max(OutboxRow.delivered_at)).where(OutboxRow.state == DELIVERED))
    return QueueStats(
        pending=int(counts.get(PENDING, 0)), in_flight=int(in_flight),
        delivered=int(counts.get(DELIVERED, 0)), rejected=int(counts.get(REJECTED, 0)),
        oldest_pending_age_s=round(now - oldest, 1) if oldest else None,
        last_delivery=datetime.fromtimestamp(last, UTC).isoformat(timespec="seconds") if last else None,
    )
