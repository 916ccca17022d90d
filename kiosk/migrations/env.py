"""Alembic environment for the kiosk store: on the connection KioskStore hands in,
or, from the `alembic` command line (alembic.ini here), on $UR_KIOSK_DATA/kiosk.db."""

from __future__ import annotations

from sqlalchemy import create_engine

from contract import schema_migrations
from kiosk import store

for _name in store.MODEL_MODULES:
    __import__(_name)
schema_migrations.run_env(
    store.Base.metadata, render_as_batch=True,
    connect=lambda: create_engine(f"sqlite:///{store.data_dir(None) / 'kiosk.db'}").connect())
