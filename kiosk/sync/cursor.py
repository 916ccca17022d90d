"""Sync bookkeeping that must survive restarts: the status-event cursor and the
time of the last successful exchange with central (shown by `ur-kiosk queue`)."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from kiosk.store import Base


class SyncState(Base):
    __tablename__ = "sync_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    int_value: Mapped[int] = mapped_column(Integer, default=0)
    float_value: Mapped[float] = mapped_column(Float, default=0.0)


def get_int(session: Session, key: str) -> int:
    row = session.get(SyncState, key)
    return row.int_value if row else 0


def set_int(session: Session, key: str, value: int) -> None:
    row = session.get(SyncState, key)
    if row is None:
        session.add(SyncState(key=key, int_value=value, float_value=0.0))
    else:
        row.int_value = value


def get_float(session: Session, key: str) -> float:
    row = session.get(SyncState, key)
    return row.float_value if row else 0.0


def set_float(session: Session, key: str, value: float) -> None:
    row = session.get(SyncState, key)
    if row is None:
        session.add(SyncState(key=key, int_value=0, float_value=value))
    else:
        row.float_value = value
