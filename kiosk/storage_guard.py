"""Keep the kiosk from losing data when its storage fills.

Order of sacrifice (a citizen's money outranks their application, which
outranks our telemetry): telemetry first (old, delivered rows and
undelivered heartbeats are evicted), then new applications are refused with a
clear message and an alarm is raised; payments are never evicted or refused
here. The limit is set per kiosk by `UR_KIOSK_STORE_LIMIT_BYTES`.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from contract.errors import UrError
from kiosk.store import Base, KioskStore
from kiosk.sync.outbox import DELIVERED, PENDING, OutboxRow

DEFAULT_LIMIT = 2 * 1024**3
REFUSE_AT = 0.90  # share of the limit at which new applications are refused
MIN_FREE_DISK = 64 * 1024**2
KEEP_DELIVERED_S = 7 * 86400


class Alarm(Base):
    __tablename__ = "alarms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(512))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def limit_bytes() -> int:
    raw = os.environ.get("UR_KIOSK_STORE_LIMIT_BYTES")
    if not raw:
        return DEFAULT_LIMIT
    try:
        return max(1, int(raw))
    except ValueError:
        raise UrError(f"UR_KIOSK_STORE_LIMIT_BYTES={raw!r} is not a whole number of bytes") from None


def used_bytes(store: KioskStore) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        p = store.path.with_name(store.path.name + suffix)
        if p.exists():
            total += p.stat().st_size
    return total


def raise_alarm(store: KioskStore, kind: str, message: str) -> None:
    with store.tx() as s:
        last = s.scalars(select(Alarm).where(Alarm.kind == kind).order_by(Alarm.id.desc()).limit(1)).first()
        # One alarm per kind per minute is enough for the heartbeat and the screen.
        if last is None or (datetime.now(UTC) - last.at.replace(tzinfo=UTC)).total_seconds() > 60:
            s.add(Alarm(kind=kind, message=message[:512], at=datetime.now(UTC)))


def check_room_for_new_application(store: KioskStore) -> None:
    used, limit = used_bytes(store), limit_bytes()
    free = shutil.disk_usage(store.dir).free
    if used >= REFUSE_AT * limit or free < MIN_FREE_DISK:
        evict_telemetry(store)
        used, free = used_bytes(store), shutil.disk_usage(store.dir).free
    if used >= REFUSE_AT * limit or free < MIN_FREE_DISK:
        msg = (f"storage nearly full ({used // 1024} KiB of {limit // 1024} KiB, "
               f"{free // 1024**2} MiB free on disk): new applications are refused until "
               "queued data reaches central; payments continue")
        raise_alarm(store, "storage_full", msg)
        raise UrError(msg)


def evict_telemetry(store: KioskStore, now: float | None = None) -> int:
    """Drop what may be dropped: delivered rows past a week, undelivered heartbeats."""
    now = time.time() if now is None else now
    with store.tx() as s:
        n = s.execute(delete(OutboxRow).where(
            OutboxRow.state == DELIVERED, OutboxRow.delivered_at < now - KEEP_DELIVERED_S,
            OutboxRow.stream != "payments")).rowcount or 0  # type: ignore[attr-defined]  # a DELETE's Result is a CursorResult, which has rowcount
        n += s.execute(delete(OutboxRow).where(
            OutboxRow.stream == "heartbeat", OutboxRow.state == PENDING)).rowcount or 0  # type: ignore[attr-defined]  # a DELETE's Result is a CursorResult, which has rowcount
    return int(n)
