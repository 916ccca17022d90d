"""Central's schema migrations, on SQLite and on PostgreSQL (a fresh schema per test).

- the models and the migrations describe the same schema (`alembic check`);
- a database at the baseline that holds data is upgraded to head with its data;
- a database made by create_all before migrations existed, lacking what was
  added since, is adopted with its data; one that cannot be is refused by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from central import db, migrations
from contract import schema_migrations
from contract.errors import UrError
from tests import support

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else support.sqlite_url(tmp_path / "c.db")
    e = db.make_engine(url)
    db.load_models()
    try:
        yield e
    finally:
        e.dispose()


def _version(engine: sa.Engine) -> str | None:
    with engine.connect() as c:
        return schema_migrations.current_revision(c)


def _put_rows(conn: sa.Connection) -> None:
    conn.execute(sa.text(
        "INSERT INTO kiosks (kiosk_id, kiosk_code, office, public_key, enrolled_at, clock_skew_ms, heartbeat) "
        "VALUES ('K1', 1, 'Office A', 'ab', :t, 5, '{}')"), {"t": NOW})
    conn.execute(sa.text(
        "INSERT INTO applications (tracking, kiosk_id, message_id, service_id, catalogue_version, fee_total, "
        "fields, submitted_at, received_at, status, status_at, routed) "
        "VALUES ('T1', 'K1', 'm1', 'svc', 1, 500, '{}', :t, :t, 'received', :t, :r)"), {"t": NOW, "r": True})


def _assert_rows(engine: sa.Engine) -> None:
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT kiosk_id, office, clock_skew_ms FROM kiosks")).all() == [("K1", "Office A", 5)]
        assert c.execute(sa.text("SELECT tracking, fee_total FROM applications")).all() == [("T1", 500)]


def test_head_constant_matches_the_revision_scripts() -> None:
    script = ScriptDirectory.from_config(schema_migrations.config(migrations.SCRIPTS))
    assert script.get_current_head() == migrations.HEAD


def test_models_and_migrations_agree(engine: sa.Engine) -> None:
    """`alembic check` on a database built by the migrations alone: a model change
    without a revision (or a revision without the model change) fails here."""
    db.init_schema(engine)
    assert _version(engine) == migrations.HEAD
    with engine.begin() as conn:
        command.check(schema_migrations.config(migrations.SCRIPTS, conn))  # raises on any difference
        assert schema_migrations.drift(conn, db.Base.metadata) == []


def test_database_at_the_baseline_with_data_upgrades_to_head(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        command.upgrade(schema_migrations.config(migrations.SCRIPTS, conn), "0001_baseline")
        _put_rows(conn)
    db.init_schema(engine)
    assert _version(engine) == migrations.HEAD
    _assert_rows(engine)
    with engine.begin() as conn:
        assert schema_migrations.drift(conn, db.Base.metadata) == []


def test_database_made_before_migrations_is_adopted_with_its_data(engine: sa.Engine) -> None:
    """As an older release's create_all left it: no enrollment_codes or pki_certs
    table, no kiosks.revoked_at column, no alembic_version."""
    with engine.begin() as conn:
        db.Base.metadata.create_all(conn)
        conn.execute(sa.text("DROP TABLE enrollment_codes"))
        conn.execute(sa.text("DROP TABLE pki_certs"))
        conn.execute(sa.text("ALTER TABLE kiosks DROP COLUMN revoked_at"))
        _put_rows(conn)
    db.init_schema(engine)
    assert _version(engine) == migrations.HEAD
    _assert_rows(engine)
    with engine.begin() as conn:
        assert {"enrollment_codes", "pki_certs"} <= set(sa.inspect(conn).get_table_names())
        assert "revoked_at" in {c["name"] for c in sa.inspect(conn).get_columns("kiosks")}
        assert schema_migrations.drift(conn, db.Base.metadata) == []


def test_database_too_old_to_adopt_is_refused_by_name(engine: sa.Engine) -> None:
    """A missing NOT NULL column has no value to fill in: refused, nothing changed."""
    with engine.begin() as conn:
        db.Base.metadata.create_all(conn)
        conn.execute(sa.text("DROP INDEX ix_applications_routed"))
        conn.execute(sa.text("ALTER TABLE applications DROP COLUMN routed"))
    with pytest.raises(UrError, match="table applications lacks column routed"):
        db.init_schema(engine)
    assert _version(engine) is None
