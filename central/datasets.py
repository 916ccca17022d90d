"""Versioned datasets that central hands down to kiosks (catalogue, trust list,
revocation status list, letters, fines ...).

Each publish of a changed body is a new version with its sha256; the sync
downlink announces (name, version, sha256) in a small retained manifest and
serves bodies on request. Publishing the same body again is a no-op, so
callers may publish freely.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import DateTime, Integer, LargeBinary, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from central.db import Base


class Dataset(Base):
    __tablename__ = "datasets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def latest(session: Session, name: str) -> Dataset | None:
    return session.scalars(
        select(Dataset).where(Dataset.name == name).order_by(Dataset.version.desc()).limit(1)
    ).first()


def get(session: Session, name: str, version: int) -> Dataset | None:
    return session.get(Dataset, (name, version))


def get_many(session: Session, name: str, versions: set[int] | list[int]) -> dict[int, Dataset]:
    """Several versions of `name` in one SELECT (missing ones are absent)."""
    if not versions:
        return {}
    rows = session.scalars(select(Dataset).where(Dataset.name == name, Dataset.version.in_(sorted(versions))))
    return {d.version: d for d in rows}


def publish(session: Session, name: str, body: bytes) -> Dataset:
    """Store `body` as the next version of `name` unless it equals the latest."""
    digest = hashlib.sha256(body).hexdigest()
    cur = latest(session, name)
    if cur is not None and cur.sha256 == digest:
        return cur
    ds = Dataset(
        name=name,
        version=(cur.version + 1) if cur else 1,
        sha256=digest,
        body=body,
        published_at=datetime.now(UTC),
    )
    session.add(ds)
    session.flush()
    return ds


class Manifest(NamedTuple):
    name: str
    version: int
    sha256: str
    size: int


def manifests(session: Session) -> list[Manifest]:
    """The latest version of every dataset, without the bodies: the worker checks
    this every second, and bodies run to megabytes (catalogue, status lists)."""
    top = select(Dataset.name, func.max(Dataset.version).label("v")).group_by(Dataset.name).subquery()
    rows = session.execute(
        select(Dataset.name, Dataset.version, Dataset.sha256, func.length(Dataset.body))
        .join(top, (Dataset.name == top.c.name) & (Dataset.version == top.c.v))
        .order_by(Dataset.name))
    return [Manifest(n, int(v), sha, int(size)) for n, v, sha, size in rows]
