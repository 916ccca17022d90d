"""Central's inbox: the record that makes resends harmless.

A message is applied in the same transaction as its inbox row
(`UNIQUE(kiosk_id, message_id, hlc)`, see central/time_partitions.py), so a replay finds the row and is only
re-acked. Per (kiosk, stream) the applied sequence is kept; a message that
arrives after a gap is stored as held (durably, so it can be acked) and
applied once the gap is filled. Rejections are counted by reason code.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central.db import Base


class InboxEntry(Base):
    __tablename__ = "inbox"
    # The HLC is in the exactly-once key because PostgreSQL partitions the inbox by it
    # (a partitioned table's unique key must hold the partition key); a message and its
    # replays carry the same signed HLC, so the key refuses what (kiosk, message) did.
    __table_args__ = (UniqueConstraint("kiosk_id", "message_id", "hlc", name="uq_inbox_kiosk_message"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kiosk_id: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(36))
    stream: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    hlc: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(16))  # applied | held | rejected
    reason: Mapped[str] = mapped_column(String(256), default="")


class StreamCursor(Base):
    __tablename__ = "stream_cursors"
    kiosk_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    applied_seq: Mapped[int] = mapped_column(Integer, default=0)


class HeldMessage(Base):
    __tablename__ = "held_messages"
    kiosk_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)


class RejectCount(Base):
    __tablename__ = "reject_counts"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_detail: Mapped[str] = mapped_column(String(512), default="")
    last_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
