"""Kiosk schema migrations: new stores are built by the migrations, old ones
(unstamped, or stamped by release 0.1 at its empty baseline) are adopted with
their data, and the models and the migrations describe the same schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

import kiosk.store as store_mod
from contract import schema_migrations
from kiosk import migrations
from kiosk.migrations import HEAD
from kiosk.store import Base, KioskStore


def test_head_constant_matches_the_revision_scripts() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store_mod.__file__).with_name("migrations")))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


def test_new_store_is_at_head_and_an_unstamped_old_store_is_adopted(tmp_path: Path) -> None:
    KioskStore(tmp_path / "a").close()
    with sqlite3.connect(tmp_path / "a" / "kiosk.db") as c:
        assert c.execute("SELECT version_num FROM alembic_version").fetchone()[0] == HEAD
        c.execute("DROP TABLE alembic_version")  # a store from before migrations existed
        c.execute("INSERT INTO stream_seq (stream, last_seq) VALUES ('applications', 7)")
    KioskStore(tmp_path / "a").close()
    with sqlite3.connect(tmp_path / "a" / "kiosk.db") as c:
        assert c.execute("SELECT version_num FROM alembic_version").fetchone()[0] == HEAD
        assert c.execute("SELECT last_seq FROM stream_seq").fetchone()[0] == 7  # data kept


def test_models_and_migrations_agree(tmp_path: Path) -> None:
    """`alembic check` on a store the migrations built: a model change without a
    revision (or a revision without the model change) fails here."""
    store = KioskStore(tmp_path / "k")
    try:
        with store.engine.begin() as conn:
            command.check(schema_migrations.config(migrations.SCRIPTS, conn))  # raises on any difference
            assert schema_migrations.drift(conn, Base.metadata) == []
    finally:
        store.close()


def test_store_stamped_by_release_0_1_is_adopted_with_its_data(tmp_path: Path) -> None:
    """Release 0.1 made tables with create_all and stamped the empty 0001_baseline;
    a table and a column added since are missing here."""
    KioskStore(tmp_path / "k").close()  # loads the models
    path = tmp_path / "old" / "kiosk.db"
    path.parent.mkdir()
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        Base.metadata.create_all(conn)
        conn.exec_driver_sql("DROP TABLE alarms")
        conn.exec_driver_sql("ALTER TABLE outbox DROP COLUMN reject_reason")
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('0001_baseline')")
        conn.exec_driver_sql("INSERT INTO stream_seq (stream, last_seq) VALUES ('applications', 7)")
    engine.dispose()
    store = KioskStore(path.parent)
    try:
        with store.engine.begin() as conn:
            assert schema_migrations.current_revision(conn) == HEAD
            assert conn.exec_driver_sql("SELECT last_seq FROM stream_seq").scalar() == 7  # data kept
            assert "alarms" in sa.inspect(conn).get_table_names()
            assert "reject_reason" in {c["name"] for c in sa.inspect(conn).get_columns("outbox")}
            assert schema_migrations.drift(conn, Base.metadata) == []
    finally:
        store.close()
