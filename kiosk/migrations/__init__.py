"""Alembic migrations for the kiosk store (kiosks in the field upgrade in place).

`HEAD` names the newest revision; KioskStore compares it with the database's
`alembic_version` and runs Alembic only when they differ, so a normal start
does not pay for importing Alembic (contract/schema_migrations.py; it also
says how a store made before migrations is adopted). Tests check HEAD matches
the scripts and that the models and the migrations describe the same schema.
"""

from pathlib import Path

HEAD = "0003_at_rest_aes_gcm"
SCRIPTS = Path(__file__).parent
# Release 0.1 stamped stores made by create_all with this empty revision: adopted.
STAMPED_BEFORE_SCHEMA = ("0001_baseline",)
