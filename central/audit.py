"""Append-only, hash-chained audit trail, one chain per subject (an application
or complaint tracking number): who did what, when, from which office or kiosk.

Each entry's hash covers its fields and the previous entry's hash; the head
table keeps the last sequence and hash of every chain, so `verify` finds an
edited entry (hash mismatch), a deleted one (sequence gap or broken link) and
a deleted tail (head ahead of the chain). Times are stored as ISO text so the
hashed bytes never depend on how a database stores time zones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, String, Text, UniqueConstraint, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import bulk
from central.db import Base

GENESIS = "0" * 64


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("subject", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(32), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(128))
    origin: Mapped[str] = mapped_column(String(128))  # office or kiosk id
    action: Mapped[str] = mapped_column(String(32))
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    __tablename__ = "audit_heads"
    subject: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


def entry_hash(subject: str, seq: int, at: str, actor: str, origin: str, action: str, data: str,
               prev: str) -> str:
    blob = json.dumps([subject, seq, at, actor, origin, action, data, prev], ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One line to append; `at` None means now."""
    subject: str
    actor: str
    origin: str
    action: str
    data: dict[str, Any] | None = None
    at: datetime | None = None


def link(entries: list[Entry], heads: dict[str, tuple[int, str]], now: datetime) -> list[dict[str, Any]]:
    """The audit_log rows for `entries`, chained in order after `heads` (subject ->
    (seq, hash) of its last entry); pure, so many subjects chain in one pass."""
    last = dict(heads)
    rows: list[dict[str, Any]] = []
    for e in entries:
        at_s = (e.at or now).isoformat()
        seq0, prev = last.get(e.subject, (0, GENESIS))
        seq = seq0 + 1
        body = json.dumps(e.data or {}, ensure_ascii=False, sort_keys=True, default=str)
        h = entry_hash(e.subject, seq, at_s, e.actor, e.origin, e.action, body, prev)
        rows.append({"subject": e.subject, "seq": seq, "at": at_s, "actor": e.actor, "origin": e.origin,
                     "action": e.action, "data": body, "prev_hash": prev, "hash": h})
        last[e.subject] = (seq, h)
    return rows


def append_many(session: Session, entries: list[Entry]) -> list[dict[str, Any]]:
    """Append entries (any subjects, in order) with a constant number of statements:
    lock the heads, chain in Python, bulk-insert entries and new heads, update the
    others. Returns the rows written. Workflow start appends thousands at once."""
    if not entries:
        return []
    subjects = sorted({e.subject for e in entries})  # one lock order for every writer
    heads = {r.subject: (r.seq, r.hash) for r in session.execute(
        select(AuditHead.subject, AuditHead.seq, AuditHead.hash)
        .where(AuditHead.subject.in_(subjects)).order_by(AuditHead.subject).with_for_update())}
    rows = link(entries, heads, datetime.now(UTC))
    # Core INSERTs on the tables: new rows need none of the ORM bulk path's per-row bookkeeping.
    bulk.insert_rows(session, AuditEntry.__table__, rows)
    ends = {r["subject"]: {"subject": r["subject"], "seq": r["seq"], "hash": r["hash"]} for r in rows}
    fresh = [h for s, h in ends.items() if s not in heads]
    moved = [h for s, h in ends.items() if s in heads]
    if fresh:
        bulk.insert_rows(session, AuditHead.__table__, fresh)
    if moved:
        session.execute(update(AuditHead), moved)  # by primary key; loaded heads stay in step
    return rows


def append(session: Session, subject: str, actor: str, origin: str, action: str,
           data: dict[str, Any] | None = None, at: datetime | None = None) -> dict[str, Any]:
    """One entry; the row written (see append_many)."""
    return append_many(session, [Entry(subject, actor, origin, action, data, at)])[0]


def trail(session: Session, subject: str) -> list[dict[str, Any]]:
    rows = session.scalars(select(AuditEntry).where(AuditEntry.subject == subject).order_by(AuditEntry.seq))
    return [{"seq": r.seq, "at": r.at, "actor": r.actor, "origin": r.origin, "action": r.action,
             "data": json.loads(r.data), "hash": r.hash} for r in rows]


def verify(session: Session) -> tuple[int, list[str]]:
    """(entries checked, problems); no problems means every chain is intact."""
    problems: list[str] = []
    heads = {h.subject: h for h in session.scalars(select(AuditHead))}
    checked = 0
    last: dict[str, tuple[int, str]] = {}
    for r in session.scalars(select(AuditEntry).order_by(AuditEntry.subject, AuditEntry.seq)):
        checked += 1
        seq0, prev0 = last.get(r.subject, (0, GENESIS))
        if r.seq != seq0 + 1:
            problems.append(f"{r.subject}: entry {seq0 + 1} is missing (next is {r.seq})")
        if r.prev_hash != prev0:
            problems.append(f"{r.subject}: entry {r.seq} does not link to entry {seq0} (deleted or edited)")
        if entry_hash(r.subject, r.seq, r.at, r.actor, r.origin, r.action, r.data, r.prev_hash) != r.hash:
            problems.append(f"{r.subject}: entry {r.seq} ({r.action} by {r.actor}) was edited")
        last[r.subject] = (r.seq, r.hash)
    for subject, head in heads.items():
        seq, h = last.get(subject, (0, GENESIS))
        if head.seq != seq or head.hash != h:
            problems.append(f"{subject}: chain ends at entry {seq} but {head.seq} were written (tail deleted)")
    for subject in set(last) - set(heads):
        problems.append(f"{subject}: entries without a chain head (inserted outside the audit module)")
    return checked, problems
