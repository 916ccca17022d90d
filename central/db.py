"""Central database: one SQLAlchemy metadata, SQLite by default, PostgreSQL at scale.

Each concept module (applications, inbox, catalogue, registry, ledger ...)
declares its tables on `Base`; `MODEL_MODULES` lists them. The same code runs
on both engines. The schema comes from Alembic migrations (central/migrations):
`init_schema`, which every command and worker calls first, upgrades the database
to the newest revision, and adopts one made by create_all before migrations
existed (how: contract/schema_migrations.py). A model change needs a revision;
a test fails while models and migrations differ.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import ClassVar

from sqlalchemy import Table, create_engine, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from central import key_migration, migrations
from contract import private_files, schema_migrations, sqlite_pragmas

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///var/central.db"

# Every module that declares tables; one line per concept keeps merges trivial.
MODEL_MODULES: list[str] = [
    "central.datasets",
    "central.kiosks",
    "central.downlink_key",
    "central.inbox",
    "central.status_feed",
    "central.applications",
    "central.audit",
    "central.casework",
    "central.complaints",
    "central.keys",
    "central.registry",
    "central.letters",
    "central.pki",
    "central.fines",
    "central.ledger",
    "central.pii_key",
    "central.web.accounts",
    "central.partitions",
    "central.queue",
]


class Base(DeclarativeBase):
    # every model here maps one Table (no joins or subqueries), so say so: bulk
    # inserts and Core updates take `Model.__table__` as the Table it is
    __table__: ClassVar[Table]


def resolve_url(url: str | None) -> str:
    return url or os.environ.get("UR_CENTRAL_DB") or DEFAULT_URL


# SQLSTATEs after which the same transaction may simply be run again: PostgreSQL
# chose this one as a deadlock's victim, or could not serialise it with another.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, read from the driver's exception under
    SQLAlchemy's wrapper (psycopg 3: `.sqlstate`; psycopg2: `.pgcode`); None for
    other errors and for SQLite, which has none. Classifying by the code, not by
    the message, because messages change with the server's version and locale."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) else None


def is_retryable(exc: BaseException) -> bool:
    """True for a deadlock or serialization failure: run the transaction again."""
    return sqlstate(exc) in RETRY_SQLSTATES


def redacted_url(url: str) -> str:
    """`url` fit to print or log: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database URL>"


def make_engine(url: str | None = None) -> Engine:
    url = resolve_url(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:" and "?" not in path:
            # The database holds personal data and keys: 0600 from its first byte.
            private_files.private_db(path)
        engine = create_engine(url, connect_args={"timeout": 30})
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=5)
    sqlite_pragmas.install(engine)
    return engine


def load_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)


def init_schema(engine: Engine) -> None:
    """Bring the database to the newest migration (one query when it is there already)."""
    load_models()
    # A database from before the PKCS#11 token still holds private keys: only
    # `ur-central init` may open it, to move them into the token.
    key_migration.refuse_legacy(engine)
    with engine.begin() as conn:
        drift = schema_migrations.bring_to_head(conn, migrations.SCRIPTS, migrations.HEAD, Base.metadata)
    for d in drift:
        log.warning("adopted database differs from the models: %s", d)


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def read_sessions(engine: Engine) -> sessionmaker[Session]:
    """Sessions for reading only: on SQLite they never hold the write lock."""
    return sessionmaker(sqlite_pragmas.reader(engine), expire_on_commit=False)
