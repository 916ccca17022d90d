"""How many verifications the public pages answered per day (Iraq time), for the
supervisor's documents chart. Counting in the database on every request would put a
write on the verification route's hot path, so each serving process adds up in
memory and adds its counts to `ur1_counters` rows (`verify_ok:<day>`,
`verify_no:<day>`) at most every FLUSH_S seconds and when it stops: the chart lags by
at most that much, and a process that dies loses at most that many seconds of counts
(a statistic, not a record; the documents themselves are untouched).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from central.registry import Counter

FLUSH_S = 10.0
log = logging.getLogger("ur.central.web")
IRAQ = timedelta(hours=3)


def names(day: str) -> tuple[str, str]:
    return f"verify_ok:{day}", f"verify_no:{day}"


def today(now: datetime | None = None) -> str:
    return ((now or datetime.now(UTC)) + IRAQ).date().isoformat()


def add_counts(session: Session, counts: dict[str, int]) -> None:
    """Add to the counter rows, making any that is missing (two processes may race to
    make the same row: the loser adds to the winner's)."""
    for name, n in sorted(counts.items()):
        done = session.execute(update(Counter).where(Counter.name == name).values(value=Counter.value + n),
                               execution_options={"synchronize_session": False})
        if getattr(done, "rowcount", 0):
            continue
        try:
            with session.begin_nested():
                session.add(Counter(name=name, value=n))
        except IntegrityError:
            session.execute(update(Counter).where(Counter.name == name).values(value=Counter.value + n),
                            execution_options={"synchronize_session": False})


def read(session: Session, days: list[str]) -> dict[str, tuple[int, int]]:
    """(valid, not valid) verifications per day."""
    wanted = [n for d in days for n in names(d)]
    got = {c.name: int(c.value) for c in session.scalars(select(Counter).where(Counter.name.in_(wanted)))}
    return {d: (got.get(names(d)[0], 0), got.get(names(d)[1], 0)) for d in days}


class Tally:
    def __init__(self, sessions: Any, flush_s: float = FLUSH_S) -> None:
        """`sessions`: a sessionmaker (its `begin()` gives a session in a transaction)."""
        self.sessions, self.flush_s = sessions, flush_s
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.last = time.monotonic()

    def count(self, ok: bool) -> None:
        if self.add(ok):
            self.flush_quietly()

    def add(self, ok: bool) -> bool:
        """Count one verification in memory; True when a flush is due (the caller runs
        `flush_quietly`, off the event loop when it is on one)."""
        name = names(today())[0 if ok else 1]
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1
            due = time.monotonic() - self.last >= self.flush_s
            if due:
                self.last = time.monotonic()  # one flush for the requests that all saw it due
        return due

    def flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - a statistic must never fail a verification
            log.warning("could not add verification counts to the database; kept for the next try",
                        exc_info=True)

    def flush(self) -> None:
        with self.lock:
            counts, self.counts, self.last = self.counts, {}, time.monotonic()
        if not counts:
            return
        try:
            with self.sessions.begin() as s:
                add_counts(s, counts)
        except Exception:
            with self.lock:  # keep them for the next flush rather than lose them
                for k, v in counts.items():
                    self.counts[k] = self.counts.get(k, 0) + v
            raise
