"""The kiosk's one local store: a SQLite file in WAL mode with synchronous=FULL.

A business record and its outbox row are written in the same transaction
(`with store.tx() as s:`). Each concept module declares its tables on `Base`
and is listed in `MODEL_MODULES`. Schema changes ship as Alembic migrations
(kiosk/migrations) because kiosks in the field are upgraded in place.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from contract import sqlite_pragmas

MODEL_MODULES: list[str] = [
    "kiosk.datasets",
    "kiosk.document_verifier",
]


class Base(DeclarativeBase):
    pass


def data_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("UR_KIOSK_DATA") or "var/kiosk")


class KioskStore:
    """Opens (and creates) the kiosk database in `directory`."""

    def __init__(self, directory: Path | str) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "kiosk.db"
        self.engine: Engine = create_engine(f"sqlite:///{self.path}", connect_args={"timeout": 30})
        sqlite_pragmas.install(self.engine)
        for name in MODEL_MODULES:
            importlib.import_module(name)
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """One write transaction: commit on success, roll back on any error."""
        with self._sessions.begin() as s:
            yield s

    def session(self) -> Session:
        return self._sessions()

    def close(self) -> None:
        self.engine.dispose()
