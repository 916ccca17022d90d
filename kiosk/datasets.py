"""The kiosk's copies of central's datasets (catalogue, trust list, status list ...).

A body is installed only if its sha256 matches what the manifest announced, so a
truncated or tampered download never replaces a good copy. `fetched_at` tells
screens and verifiers how old the copy is when the kiosk is offline.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from contract.errors import UrError
from kiosk.store import Base


class LocalDataset(Base):
    __tablename__ = "datasets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    installed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Last time the kiosk confirmed with central that this is still the latest.
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def current(session: Session, name: str) -> LocalDataset | None:
    return session.get(LocalDataset, name)


def install(session: Session, name: str, version: int, body: bytes, sha256: str) -> LocalDataset:
    """Switch to `body` as version `version`; refuses a hash mismatch or a downgrade."""
    digest = hashlib.sha256(body).hexdigest()
    if digest != sha256:
        raise UrError(f"dataset {name} v{version}: sha256 mismatch (got {digest[:12]}, expected {sha256[:12]})")
    now = datetime.now(UTC)
    row = session.get(LocalDataset, name)
    if row is not None and row.version > version:
        raise UrError(f"dataset {name}: refusing downgrade from v{row.version} to v{version}")
    if row is None:
        row = LocalDataset(name=name, version=version, sha256=sha256, body=body,
                           installed_at=now, checked_at=now)
        session.add(row)
    else:
        row.version, row.sha256, row.body, row.installed_at, row.checked_at = version, sha256, body, now, now
    session.flush()
    return row


def mark_checked(session: Session, name: str) -> None:
    row = session.get(LocalDataset, name)
    if row is not None:
        row.checked_at = datetime.now(UTC)
