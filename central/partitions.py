"""Partition leases: which worker applies which kiosks' uplink, with fencing.

Uplink is split into `topics.PARTITIONS` partitions by a hash of the kiosk id.
A worker applies a partition only while it leases it in the database:

- `partition_leases` has one row per partition: owner, lease expiry and a
  fencing token that goes up by one on every new lease. The worker renews its
  leases on each heartbeat (`Leases.beat`, every TTL/3).
- `partition_workers` lists the living workers (same heartbeat) and whether each
  reaches the broker, so each takes its fair share, ceil(P / living workers that
  reach the broker): a new worker makes the others release their extras, which
  it then takes; a dead worker's leases expire after the TTL and the living take
  them over. A worker cut off from the broker (but not from the database) hands
  its leases back as soon as another worker reaches the broker; when nobody
  does (the broker is down), everyone keeps theirs, and their persistent
  sessions on the broker keep collecting uplink for them.
- Every apply transaction starts with `Leases.fence`: an UPDATE of the batch's
  lease rows WHERE owner and token are still ours. If another worker took one
  of them (because we were paused, cut off or slow past the TTL), it matches
  fewer rows, `LeaseLost` is raised and the whole transaction rolls back: a
  worker whose lease was taken can never commit, whatever its clock says. On
  PostgreSQL the UPDATE also locks those rows until commit, so a takeover waits
  for a batch already past the check instead of overlapping it.

Times are the database's clock (one clock for every worker, wherever it runs);
correctness never depends on them, only how fast partitions move does.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import (
    BigInteger,
    Boolean,
    CursorResult,
    Integer,
    String,
    func,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from central.db import Base
from contract import topics
from contract.errors import UrError

log = logging.getLogger("ur.central.partitions")

# A dead worker's partitions move after at most TTL + TTL/3 (its lease runs out,
# then the next heartbeat of a living worker takes it). Short enough that kiosks
# see little more than one ack timeout (10 s); long enough that a batch or a GC
# pause never costs a healthy worker its leases.
DEFAULT_TTL_S = 6.0


class PartitionLease(Base):
    __tablename__ = "partition_leases"
    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    token: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_ms: Mapped[int] = mapped_column(BigInteger, default=0)


class PartitionWorker(Base):
    __tablename__ = "partition_workers"
    worker_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    broker_ok: Mapped[bool] = mapped_column(Boolean, default=True)


class LeaseLost(UrError):
    """The batch's partitions are no longer all ours: nothing was committed."""


def db_now_ms(session: Session) -> int:
    """The database's clock in ms since the epoch (one clock for all workers)."""
    if session.get_bind().dialect.name == "postgresql":
        sql = "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    else:
        sql = "SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
    return int(session.execute(text(sql)).scalar_one())


# Key of the PostgreSQL advisory lock that orders lease heartbeats ("urLe").
_BEAT_LOCK_KEY = 0x75724C65


def _one_beat_at_a_time(session: Session, wait_ms: int) -> None:
    """On PostgreSQL, hold a transaction-level advisory lock: two heartbeats that
    renew, release and take rows in different orders deadlocked (one worker's
    renewal waiting on a row another's take-over had locked, and back), failing
    beat after beat until the leases expired and the partitions churned (issue 18,
    seen with 2 workers on a loaded machine). A beat is a few statements every
    TTL/3, so running them one at a time costs nothing. SQLite has one writer anyway.
    A worker stalled inside its beat (seen once for 46 s under load 28) must not stop
    the others' beats: the wait for the lock is bounded by `wait_ms`, after which this
    beat fails like any database error and is tried again (the row updates that follow
    keep the default, unbounded wait: a batch holding its lease rows is worth waiting for)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL lock_timeout = {int(wait_ms)}"))
        # Keyed by schema too: advisory locks are per database, and deployments
        # (or test runs) sharing one database in separate schemas must not wait on each other.
        session.execute(text("SELECT pg_advisory_xact_lock(:k, hashtext(current_schema()))"), {"k": _BEAT_LOCK_KEY})
        session.execute(text("SET LOCAL lock_timeout = DEFAULT"))


def _unlocked(session: Session, wanted: list[int]) -> list[int]:
    """The partitions of `wanted` (in its order) whose lease rows no other transaction
    holds, locked now for this beat. On PostgreSQL a lease row is locked by its
    owner's apply transaction (the fence) until that batch commits: an owner in the
    middle of a batch is alive, and a take-over that waited for it did so holding the
    heartbeat lock, so every other worker's beat timed out behind it, their leases
    and membership lapsed, and the partitions churned between the workers for the
    whole storm (issue 18, 4 workers: 46 s instead of 14). The waiting take-over and
    a fence could also deadlock. Skipped rows are tried again on the next beat."""
    if not wanted or session.get_bind().dialect.name != "postgresql":
        return wanted
    free = set(session.scalars(select(PartitionLease.partition).where(PartitionLease.partition.in_(wanted))
                               .order_by(PartitionLease.partition).with_for_update(skip_locked=True)))
    return [p for p in wanted if p in free]


def _matched(result: object) -> int:
    """Rows an UPDATE matched (SQLAlchemy types `execute` as a plain Result)."""
    return int(result.rowcount or 0) if isinstance(result, CursorResult) else 0


def fair_share(partitions: int, living: int) -> int:
    return math.ceil(partitions / max(1, living))


@dataclass
class Change:
    gained: set[int] = field(default_factory=set)
    lost: set[int] = field(default_factory=set)


class Leases:
    """One worker's leases. Not thread-safe: the worker's loop calls `beat` and
    passes `fence` to the apply transaction, one after the other."""

    def __init__(self, sessions: sessionmaker[Session], worker_id: str, ttl_s: float = DEFAULT_TTL_S,
                 partitions: int = topics.PARTITIONS) -> None:
        if not 0.5 <= ttl_s <= 3600:
            raise UrError(f"lease TTL {ttl_s} s: between 0.5 and 3600")
        if len(worker_id) > 64:
            raise UrError(f"worker id {worker_id!r} is longer than 64 characters")
        self.sessions, self.worker_id, self.partitions = sessions, worker_id, partitions
        self.ttl_ms = int(ttl_s * 1000)
        self.beat_every_s = ttl_s / 3
        self.held: dict[int, int] = {}  # partition -> our fencing token
        self.living = 1
        self._rng = random.Random()
        self._rows_ready = False  # every partition has its lease row (checked until one beat commits)

    def _ensure_rows(self, s: Session) -> None:
        have = set(s.scalars(select(PartitionLease.partition)))
        for p in range(self.partitions):
            if p in have:
                continue
            sp = s.begin_nested()
            try:
                s.add(PartitionLease(partition=p, owner=None, token=0, expires_ms=0))
                s.flush()
                sp.commit()
            except IntegrityError:  # another worker made it meanwhile
                sp.rollback()

    def beat(self, broker_ok: bool = True) -> Change:
        """Register as living, renew our leases, give up extras above the fair
        share, take free or expired partitions up to it. Returns what changed.
        `broker_ok` False (cut off from the broker for a while): take nothing,
        and give everything back if another worker reaches the broker.

        The transaction works on a copy of `held`, which replaces ours only after
        the commit: a heartbeat rolled back (a deadlock at start-up, say) must not
        leave us believing in leases the database never granted, or unsubscribe
        from ones it still holds for us. What changed is the difference of the
        partition sets before and after (a lease lost and taken again in one beat
        keeps its subscription; only the token differs)."""
        before = dict(self.held)
        held = dict(self.held)
        with self.sessions.begin() as s:
            _one_beat_at_a_time(s, self.ttl_ms // 3)
            now = db_now_ms(s)
            until = now + self.ttl_ms
            if not self._rows_ready:
                self._ensure_rows(s)
            if _matched(s.execute(update(PartitionWorker).where(PartitionWorker.worker_id == self.worker_id)
                                  .values(expires_ms=until, broker_ok=broker_ok))) == 0:
                s.add(PartitionWorker(worker_id=self.worker_id, expires_ms=until, broker_ok=broker_ok))
                s.flush()
            # Members gone for a long time: forgotten (they no longer count anyway).
            s.execute(PartitionWorker.__table__.delete().where(PartitionWorker.expires_ms < now - 100 * self.ttl_ms))
            self.living = int(s.execute(select(func.count()).select_from(PartitionWorker).where(
                PartitionWorker.expires_ms > now, PartitionWorker.broker_ok.is_(True))).scalar_one())
            if held:
                s.execute(update(PartitionLease).where(
                    PartitionLease.owner == self.worker_id,
                    tuple_(PartitionLease.partition, PartitionLease.token).in_(list(held.items())),
                ).values(expires_ms=until))
            rows = list(s.execute(select(PartitionLease.partition, PartitionLease.owner, PartitionLease.token,
                                         PartitionLease.expires_ms)))
            for p, owner, tok, _exp in rows:
                if p in held and (owner != self.worker_id or tok != held[p]):
                    del held[p]
            target = fair_share(self.partitions, self.living)
            if not broker_ok:
                target = len(held) if self.living == 0 else 0
            if len(held) > target:
                extra = sorted(held)[target:]
                for p in extra:
                    s.execute(update(PartitionLease).where(
                        PartitionLease.partition == p, PartitionLease.owner == self.worker_id,
                        PartitionLease.token == held[p]).values(owner=None, expires_ms=0))
                    del held[p]
            elif len(held) < target and broker_ok:
                # Ours from an earlier life of this worker id first (a quick restart
                # resumes them), then free or expired ones in random order, so
                # workers starting together do not all race for the same rows.
                mine = [p for p, owner, _t, _e in rows if owner == self.worker_id and p not in held]
                free = [p for p, owner, _t, exp in rows
                        if owner != self.worker_id and (owner is None or exp < now)]
                self._rng.shuffle(free)
                for p in _unlocked(s, mine + free):
                    if len(held) >= target:
                        break
                    token = s.execute(update(PartitionLease).where(
                        PartitionLease.partition == p,
                        (PartitionLease.owner.is_(None)) | (PartitionLease.expires_ms < now)
                        | (PartitionLease.owner == self.worker_id),
                    ).values(owner=self.worker_id, token=PartitionLease.token + 1, expires_ms=until)
                        .returning(PartitionLease.token)).scalar_one_or_none()
                    if token is not None:
                        held[p] = int(token)
        self.held = held
        self._rows_ready = True  # lease rows are never deleted
        change = Change(gained=set(held) - set(before), lost=set(before) - set(held))
        if change.gained or change.lost:
            log.info("worker %s: %d partitions (+%d -%d) of %d, %d living workers", self.worker_id,
                     len(held), len(change.gained), len(change.lost), self.partitions, self.living)
        return change

    def fence(self, session: Session, partitions: Iterable[int]) -> None:
        """In the apply transaction, before anything else: the batch's lease rows
        must still be ours with our tokens, else `LeaseLost` (roll back)."""
        wanted = sorted(set(partitions))
        if not wanted:
            return
        missing = [p for p in wanted if p not in self.held]
        if missing:
            raise LeaseLost(f"worker {self.worker_id} holds no lease on partitions {missing}")
        pairs = [(p, self.held[p]) for p in wanted]
        matched = _matched(session.execute(update(PartitionLease).where(
            PartitionLease.owner == self.worker_id,
            tuple_(PartitionLease.partition, PartitionLease.token).in_(pairs),
        ).values(token=PartitionLease.token)))
        if matched != len(pairs):
            raise LeaseLost(f"worker {self.worker_id}: another worker took some of partitions {wanted} "
                            f"({matched} of {len(pairs)} leases still ours)")

    def release_all(self) -> None:
        """On a clean stop: hand every lease back at once (no TTL to wait out)."""
        if not self.held:
            return
        with self.sessions.begin() as s:
            _one_beat_at_a_time(s, self.ttl_ms // 3)
            s.execute(update(PartitionLease).where(
                PartitionLease.owner == self.worker_id,
                tuple_(PartitionLease.partition, PartitionLease.token).in_(list(self.held.items())),
            ).values(owner=None, expires_ms=0))
            s.execute(PartitionWorker.__table__.delete().where(PartitionWorker.worker_id == self.worker_id))
        self.held.clear()


def lease_table(session: Session) -> list[tuple[int, str | None, int, int]]:
    """(partition, owner, token, ms left) for `ur-central stats` and the tests."""
    now = db_now_ms(session)
    return [(p, o, t, e - now) for p, o, t, e in session.execute(
        select(PartitionLease.partition, PartitionLease.owner, PartitionLease.token, PartitionLease.expires_ms)
        .order_by(PartitionLease.partition))]
