"""Alembic environment for central: on the connection `db.init_schema` hands in,
or, from the `alembic` command line (alembic.ini here), on UR_CENTRAL_DB."""

from __future__ import annotations

from central import db
from contract import schema_migrations

db.load_models()
schema_migrations.run_env(db.Base.metadata, connect=lambda: db.make_engine().connect())
