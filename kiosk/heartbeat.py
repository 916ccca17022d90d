"""The kiosk heartbeat: queue depth, device states, alarms and software
version, sent as lowest-priority telemetry (evictable when storage is tight)."""

from __future__ import annotations

import time
from importlib import metadata
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.identity import Identity
from kiosk.storage_guard import Alarm
from kiosk.sync import outbox


def software_version() -> str:
    try:
        return metadata.version("ur-kiosk")
    except metadata.PackageNotFoundError:
        return "dev"


def payload(session: Session, devices: dict[str, str] | None = None) -> dict[str, Any]:
    st = outbox.stats(session)
    alarms = session.scalars(select(Alarm).order_by(Alarm.id.desc()).limit(5)).all()
    return {
        "at": time.time(),
        "version": software_version(),
        "queue": {"pending": st.pending, "in_flight": st.in_flight,
                  "oldest_pending_age_s": st.oldest_pending_age_s},
        "devices": devices or {},
        "alarms": [{"kind": a.kind, "message": a.message} for a in alarms],
    }


def enqueue(session: Session, ident: Identity, extra: dict[str, Any] | None = None) -> None:
    """Queue one heartbeat unless one is still waiting (no pile-up offline)."""
    waiting = session.scalar(select(outbox.OutboxRow.id).where(
        outbox.OutboxRow.stream == "heartbeat", outbox.OutboxRow.state == outbox.PENDING).limit(1))
    if waiting is not None:
        return
    devices = (extra or {}).get("devices")
    outbox.enqueue(session, ident, "heartbeat", payload(session, devices))
