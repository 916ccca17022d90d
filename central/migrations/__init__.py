"""Alembic migrations for central's database (SQLite or PostgreSQL).

`HEAD` names the newest revision: `db.init_schema` compares it with the
database's `alembic_version` and runs Alembic only when they differ (see
contract/schema_migrations.py, which also says how a database made before
migrations existed is adopted). A test checks HEAD matches the scripts and
that the models and the migrations describe the same schema.
"""

from pathlib import Path

HEAD = "0005_time_partitions"
SCRIPTS = Path(__file__).parent
