"""Alembic migrations for the kiosk store (kiosks in the field upgrade in place).

`HEAD` names the newest revision; KioskStore compares it with the database's
`alembic_version` and runs Alembic only when they differ, so a normal start
does not pay for importing Alembic. A test checks HEAD matches the scripts.
"""

HEAD = "0001_baseline"
