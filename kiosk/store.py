"""The kiosk's one local store: a SQLite file in WAL mode with synchronous=FULL.

A business record and its outbox row are written in the same transaction
(`with store.tx() as s:`). Each concept module declares its tables on `Base`
and is listed in `MODEL_MODULES`. Schema changes ship as Alembic migrations
(kiosk/migrations) because kiosks in the field are upgraded in place.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from sqlalchemy import Table, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from contract import private_files, schema_migrations, sqlite_pragmas
from contract.errors import UrError
from kiosk import migrations

log = logging.getLogger(__name__)

MODEL_MODULES: list[str] = [
    "kiosk.datasets",
    "kiosk.identity",
    "kiosk.sync.outbox",
    "kiosk.applications.applications",
    "kiosk.storage_guard",
    "kiosk.sync.cursor",
    "kiosk.payments.service",
    "kiosk.payments.cashier",
    "kiosk.payments.batches",
    "kiosk.payments.end_of_day",
    "kiosk.payments.print_journal",
    "kiosk.applications.complaints",
    "kiosk.documents.verifier",
]


class Base(DeclarativeBase):
    # every model here maps one Table (no joins or subqueries), so say so: bulk
    # inserts and Core updates take `Model.__table__` as the Table it is
    __table__: ClassVar[Table]


def data_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("UR_KIOSK_DATA") or "var/kiosk")


class ChangeWatch:
    """Whether another connection committed since the last look: PRAGMA
    data_version on a connection of its own costs microseconds, so the sync loop
    can look every few milliseconds and query the outbox only when it changed."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.last: int | None = None

    def changed(self) -> bool:
        v = int(self.conn.execute("PRAGMA data_version").fetchone()[0])
        seen, self.last = self.last, v
        return v != seen

    def close(self) -> None:
        self.conn.close()


class KioskStore:
    """Opens (and creates) the kiosk database in `directory`."""

    def __init__(self, directory: Path | str) -> None:
        self.dir = private_files.private_dir(directory)
        self.path = self.dir / "kiosk.db"
        for name in MODEL_MODULES:
            importlib.import_module(name)
        try:
            self.engine = self._open()
            with self.engine.connect() as c:
                if c.exec_driver_sql("PRAGMA quick_check").scalar() != "ok":
                    raise DatabaseError("quick_check", None, Exception("quick_check failed"))
            self._migrate()
        except DatabaseError:
            kept = self._quarantine()
            raise UrError(
                f"kiosk database {self.path} is corrupt; it was moved aside to {kept} "
                "(nothing deleted). Restore it or re-enroll this kiosk."
            ) from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(sqlite_pragmas.reader(self.engine), expire_on_commit=False)

    def _migrate(self) -> None:
        """Bring the schema to HEAD (one query when it is there already); a store
        made before migrations is adopted (contract/schema_migrations.py)."""
        with self.engine.begin() as conn:
            drift = schema_migrations.bring_to_head(conn, migrations.SCRIPTS, migrations.HEAD, Base.metadata,
                                                    migrations.STAMPED_BEFORE_SCHEMA)
        for d in drift:
            log.warning("adopted kiosk store differs from the models: %s", d)

    def _open(self) -> Engine:
        # PIN hashes, personal data and the outbox: 0600 from the first byte (and the -wal/-shm).
        private_files.private_db(self.path)
        engine = create_engine(f"sqlite:///{self.path}", connect_args={"timeout": 30})
        sqlite_pragmas.install(engine)
        return engine

    def _quarantine(self) -> Path:
        """Keep a corrupt database aside for recovery; never delete it."""
        if getattr(self, "engine", None) is not None:
            self.engine.dispose()
        qdir = self.dir / "quarantine" / time.strftime("%Y%m%dT%H%M%S")
        qdir.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            p = self.path.with_name(self.path.name + suffix)
            if p.exists():
                shutil.move(str(p), qdir / p.name)
        return qdir

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """One write transaction: commit on success, roll back on any error."""
        with self._sessions.begin() as s:
            yield s

    def watch(self) -> ChangeWatch:
        """A cheap "did anyone commit?" probe for loops that poll the store."""
        return ChangeWatch(self.path)

    @contextmanager
    def soft_tx(self) -> Iterator[Session]:
        """A write transaction without fsync (synchronous=NORMAL) for sync
        bookkeeping that is safe to lose on power loss: sent-marks, acks,
        cursors, fetched datasets. Losing one only repeats a send or a fetch,
        which central's inbox and the cursor make harmless; business records
        always go through tx(). The next FULL commit makes these durable too."""
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None, "a checked-out connection has its sqlite3 connection"
            raw.execute("PRAGMA synchronous=NORMAL")
            try:
                with Session(bind=conn, expire_on_commit=False) as s, s.begin():
                    yield s
            finally:
                raw.execute("PRAGMA synchronous=FULL")

    def session(self) -> Session:
        """A read-only session: it never takes the write lock (use tx() to write)."""
        return self._readers()

    def close(self) -> None:
        self.engine.dispose()
