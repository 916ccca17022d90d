"""Append-only, hash-chained audit trail, one chain per subject (an application
or complaint tracking number): who did what, when, from which office or kiosk.

Each entry's hash covers its fields and the previous entry's hash; the head
table keeps the last sequence and hash of every chain, so `verify` finds an
edited entry (hash mismatch), a deleted one (sequence gap or broken link) and
a deleted tail (head ahead of the chain). Times are stored as ISO text so the
hashed bytes never depend on how a database stores time zones.

A chain alone cannot stop someone who can write the database: they may delete
the last entry and move the head back, delete a chain with its head, or
rewrite an entry and recompute every hash after it. So the heads are anchored:
`checkpoint` lists every chain head (subject, seq, hash), and signs a summary
(counts, the list's sha256, the previous checkpoint's hash) with central's root
key, which lives in the PKCS#11 token (central/keys.py), so whoever writes the
database cannot sign. The summary is stored with its list (`audit_checkpoints`)
and published as dataset "audit_checkpoint", so every kiosk keeps a copy, and
`ur-central audit checkpoint --out FILE` writes one for safekeeping elsewhere.
`verify` then checks, against the newest checkpoint it can find (database,
published dataset, or a file given), that every checkpointed chain still
reaches that entry with that hash: truncation, deletion and rewriting of
anything up to the checkpoint are found; checkpoints link to each other, so a
deleted one shows too. Entries newer than the last checkpoint are protected by
the chain alone until the next checkpoint (the worker makes one every
CHECKPOINT_EVERY_S); deleting the newest checkpoints themselves is found only
against a copy kept outside the database (a kiosk's, or the file).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import bulk, datasets, keys
from central.db import Base
from contract import cose_sign1
from contract.errors import UrError

GENESIS = "0" * 64
CHECKPOINT_DATASET = "audit_checkpoint"
CHECKPOINT_KIND = "ur-audit-checkpoint/1"
CHECKPOINT_EVERY_S = 3600


class AuditEntry(Base):
    __tablename__ = "audit_log"
    # `at` is in the key because PostgreSQL partitions the trail by it (central/time_partitions.py);
    # one entry per (subject, seq) is kept by the locked head row in append_many and checked by verify.
    __table_args__ = (UniqueConstraint("subject", "seq", "at"),)
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


class AuditCheckpoint(Base):
    """A signed list of every chain head at one moment (see the module docstring)."""
    __tablename__ = "audit_checkpoints"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    made_at: Mapped[int] = mapped_column(BigInteger)
    chains: Mapped[int] = mapped_column(Integer)
    entries: Mapped[int] = mapped_column(BigInteger)
    heads: Mapped[bytes] = mapped_column(LargeBinary)  # zlib of JSON [[subject, seq, hash], ...]
    signed: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Sign1 of the summary, root key


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def checkpoint(session: Session, now: int) -> AuditCheckpoint:
    """Sign and store the current chain heads as the next checkpoint, and publish
    its signed summary as dataset "audit_checkpoint"."""
    rows = session.execute(select(AuditHead.subject, AuditHead.seq, AuditHead.hash).order_by(AuditHead.subject))
    heads = [(subject, seq, h) for subject, seq, h in rows]  # JSON arrays, typed per column
    raw = _canonical(heads)
    last = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)).first()
    seq = last.seq + 1 if last else 1
    summary = {"kind": CHECKPOINT_KIND, "seq": seq, "made_at": now, "chains": len(heads),
               "entries": sum(h[1] for h in heads), "heads_sha256": hashlib.sha256(raw).hexdigest(),
               "prev_sha256": hashlib.sha256(last.signed).hexdigest() if last else GENESIS}
    root = keys.ensure(session, now).root
    signed = cose_sign1.sign(_canonical(summary), root.private(), root.kid_bytes)
    row = AuditCheckpoint(seq=seq, made_at=now, chains=summary["chains"], entries=summary["entries"],
                          heads=zlib.compress(raw, 6), signed=signed)
    session.add(row)
    session.flush()
    datasets.publish(session, CHECKPOINT_DATASET, signed)
    return row


def checkpoint_if_due(session: Session, now: int, every_s: int = CHECKPOINT_EVERY_S) -> AuditCheckpoint | None:
    """A checkpoint when the last is `every_s` old (or there is none) and any chain exists."""
    last = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)).first()
    if last is not None and now - last.made_at < every_s:
        return None
    if session.scalars(select(AuditHead.subject).limit(1)).first() is None:
        return None
    return checkpoint(session, now)


def open_checkpoint(signed: bytes, root_public: bytes) -> dict[str, Any]:
    """The summary inside a signed checkpoint; UrError unless the root key signed it."""
    try:
        msg = cose_sign1.parse(signed)
    except UrError as e:
        raise UrError(f"not a signed audit checkpoint: {e}") from None
    if msg.kid != cose_sign1.kid_of(root_public) or not cose_sign1.signature_ok(msg, root_public):
        raise UrError("audit checkpoint is not signed by central's root key (forged or altered)")
    try:
        summary = json.loads(msg.payload)
        ok = isinstance(summary, dict) and summary.get("kind") == CHECKPOINT_KIND and isinstance(summary["seq"], int)
    except (ValueError, KeyError):
        ok = False
    if not ok:
        raise UrError("signed payload is not an audit checkpoint")
    return summary


@dataclass
class Report:
    """What `verify_report` found; `anchor` names the checkpoint checked against."""
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    anchor: str | None = None


def _checkpoints(session: Session, root_public: bytes, report: Report) -> dict[int, tuple[AuditCheckpoint, dict]]:
    """The stored checkpoints whose signature holds, by seq; broken ones and gaps are problems."""
    out: dict[int, tuple[AuditCheckpoint, dict]] = {}
    prev: AuditCheckpoint | None = None
    for row in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)):
        try:
            summary = open_checkpoint(row.signed, root_public)
        except UrError as e:
            report.problems.append(f"checkpoint {row.seq}: {e}")
            continue
        if summary["seq"] != row.seq:
            report.problems.append(f"checkpoint {row.seq}: signed as checkpoint {summary['seq']} (row renumbered)")
            continue
        want_prev = hashlib.sha256(prev.signed).hexdigest() if prev is not None else GENESIS
        if prev is None and row.seq != 1 or prev is not None and row.seq != prev.seq + 1:
            report.problems.append(f"checkpoint {row.seq - 1} is missing (deleted)")
        elif summary.get("prev_sha256") != want_prev:
            report.problems.append(f"checkpoint {row.seq} does not link to checkpoint {row.seq - 1} (replaced)")
        out[row.seq] = (row, summary)
        prev = row
    return out


def verify_report(session: Session, anchors: list[tuple[str, bytes]] | None = None,
                  root_public: bytes | None = None) -> Report:
    """Check every chain, then the newest checkpoint: from the database, the
    published dataset, and `anchors` ((where, signed bytes), e.g. a file kept
    elsewhere). `root_public` pins the key that must have signed (default: the
    root key in the key table)."""
    report = Report()
    problems = report.problems
    if root_public is None:
        root = keys.root_key(session)
        root_public = root.public_key if root is not None else None
    stored: dict[int, tuple[AuditCheckpoint, dict]] = {}
    newest: tuple[int, str, bytes, dict] | None = None
    if root_public is not None:
        stored = _checkpoints(session, root_public, report)
        candidates = [(f"checkpoint {n}", row.signed) for n, (row, _s) in stored.items()]
        published = datasets.latest(session, CHECKPOINT_DATASET)
        if published is not None:
            candidates.append(("the published audit_checkpoint dataset", published.body))
        candidates += anchors or []
        for where, signed in candidates:
            try:
                summary = open_checkpoint(signed, root_public)
            except UrError as e:
                problems.append(f"{where}: {e}")
                continue
            if newest is None or summary["seq"] > newest[0]:
                newest = (summary["seq"], where, signed, summary)
    elif anchors:
        problems.append("no root key to check the audit checkpoint against")
    ckpt: dict[str, tuple[int, str]] = {}
    if newest is not None:
        seq, where, signed, summary = newest
        row = stored.get(seq, (None, None))[0]
        if row is None:
            problems.append(f"checkpoint {seq} (from {where}) is missing from the database (deleted)")
        elif row.signed != signed:
            problems.append(f"checkpoint {seq} in the database differs from {where}")
        else:
            raw = zlib.decompress(row.heads)
            if hashlib.sha256(raw).hexdigest() != summary["heads_sha256"]:
                problems.append(f"checkpoint {seq}: its list of chain heads was altered")
            else:
                ckpt = {h[0]: (int(h[1]), str(h[2])) for h in json.loads(raw)}
        made = datetime.fromtimestamp(int(summary["made_at"]), UTC).isoformat(timespec="seconds")
        report.anchor = f"checkpoint {seq} of {made} ({summary['chains']} chains, {summary['entries']} entries)"
    heads = {h.subject: h for h in session.scalars(select(AuditHead))}
    last: dict[str, tuple[int, str]] = {}
    at_ckpt: dict[str, str] = {}
    for r in session.scalars(select(AuditEntry).order_by(AuditEntry.subject, AuditEntry.seq)):
        report.checked += 1
        seq0, prev0 = last.get(r.subject, (0, GENESIS))
        if r.seq != seq0 + 1:
            problems.append(f"{r.subject}: entry {seq0 + 1} is missing (next is {r.seq})")
        if r.prev_hash != prev0:
            problems.append(f"{r.subject}: entry {r.seq} does not link to entry {seq0} (deleted or edited)")
        if entry_hash(r.subject, r.seq, r.at, r.actor, r.origin, r.action, r.data, r.prev_hash) != r.hash:
            problems.append(f"{r.subject}: entry {r.seq} ({r.action} by {r.actor}) was edited")
        last[r.subject] = (r.seq, r.hash)
        if r.subject in ckpt and ckpt[r.subject][0] == r.seq:
            at_ckpt[r.subject] = r.hash
    for subject, head in heads.items():
        seq, h = last.get(subject, (0, GENESIS))
        if head.seq != seq or head.hash != h:
            problems.append(f"{subject}: chain ends at entry {seq} but {head.seq} were written (tail deleted)")
    for subject in set(last) - set(heads):
        problems.append(f"{subject}: entries without a chain head (inserted outside the audit module)")
    n = newest[0] if newest is not None else 0
    for subject, (seq, h) in sorted(ckpt.items()):
        if subject not in last and subject not in heads:
            problems.append(f"{subject}: its chain of {seq} entries in checkpoint {n} is gone (deleted with its head)")
        elif last.get(subject, (0, GENESIS))[0] < seq:
            problems.append(f"{subject}: checkpoint {n} saw {seq} entries; the chain now ends at entry "
                            f"{last.get(subject, (0, GENESIS))[0]} (truncated)")
        elif at_ckpt.get(subject) != h:
            problems.append(f"{subject}: entries up to {seq} differ from checkpoint {n} (rewritten)")
    return report


def verify(session: Session) -> tuple[int, list[str]]:
    """(entries checked, problems); no problems means every chain is intact and
    agrees with the newest checkpoint."""
    r = verify_report(session)
    return r.checked, r.problems
