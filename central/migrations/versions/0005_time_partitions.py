"""Time partitions for the inbox and the audit trail (central/time_partitions.py).

On PostgreSQL `inbox` becomes partitioned by RANGE(hlc) (a day each) and
`audit_log` by RANGE(at) (a month each), each with a DEFAULT partition; their rows
are copied over. A unique key of a partitioned table must hold the partition key,
so the inbox's exactly-once key becomes (kiosk_id, message_id, hlc) and the audit
chain's (subject, seq, at): a message's HLC and an entry's time never change, so
neither admits anything the old key refused. SQLite keeps plain tables with the
same keys, so one model describes both.

Revision ID: 0005_time_partitions
Revises: 0004_office_queue
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from central import time_partitions

revision = "0005_time_partitions"
down_revision = "0004_office_queue"
branch_labels = None
depends_on = None

INBOX_COLUMNS = "id, kiosk_id, message_id, stream, seq, hlc, received_at, outcome, reason"
AUDIT_COLUMNS = "id, subject, seq, at, actor, origin, action, data, prev_hash, hash"


def _pg_upgrade() -> None:
    # The old table is renamed and its keys dropped, so the new one can take the names.
    op.execute("ALTER TABLE inbox RENAME TO inbox__old")
    op.execute("ALTER TABLE inbox__old DROP CONSTRAINT IF EXISTS uq_inbox_kiosk_message")
    op.execute("ALTER TABLE inbox__old DROP CONSTRAINT IF EXISTS inbox_pkey")
    op.execute(
        "CREATE TABLE inbox ("
        " id INTEGER NOT NULL DEFAULT nextval('inbox_id_seq'::regclass),"
        " kiosk_id VARCHAR(64) NOT NULL, message_id VARCHAR(36) NOT NULL, stream VARCHAR(32) NOT NULL,"
        " seq INTEGER NOT NULL, hlc BIGINT NOT NULL, received_at TIMESTAMP WITH TIME ZONE NOT NULL,"
        " outcome VARCHAR(16) NOT NULL, reason VARCHAR(256) NOT NULL,"
        " CONSTRAINT inbox_pkey PRIMARY KEY (id, hlc),"
        " CONSTRAINT uq_inbox_kiosk_message UNIQUE (kiosk_id, message_id, hlc)"
        ") PARTITION BY RANGE (hlc)")
    op.execute("ALTER SEQUENCE inbox_id_seq OWNED BY inbox.id")

    op.execute("ALTER TABLE audit_log RENAME TO audit_log__old")
    op.execute("ALTER TABLE audit_log__old DROP CONSTRAINT IF EXISTS audit_log_subject_seq_key")
    op.execute("ALTER TABLE audit_log__old DROP CONSTRAINT IF EXISTS audit_log_subject_seq_at_key")
    op.execute("ALTER TABLE audit_log__old DROP CONSTRAINT IF EXISTS audit_log_pkey")
    op.execute("DROP INDEX IF EXISTS ix_audit_log_subject")
    op.execute(
        "CREATE TABLE audit_log ("
        " id INTEGER NOT NULL DEFAULT nextval('audit_log_id_seq'::regclass),"
        " subject VARCHAR(32) NOT NULL, seq INTEGER NOT NULL, at VARCHAR(40) NOT NULL,"
        " actor VARCHAR(128) NOT NULL, origin VARCHAR(128) NOT NULL, action VARCHAR(32) NOT NULL,"
        " data TEXT NOT NULL, prev_hash VARCHAR(64) NOT NULL, hash VARCHAR(64) NOT NULL,"
        " CONSTRAINT audit_log_pkey PRIMARY KEY (id, at),"
        " CONSTRAINT audit_log_subject_seq_at_key UNIQUE (subject, seq, at)"
        ") PARTITION BY RANGE (at)")
    op.execute("ALTER SEQUENCE audit_log_id_seq OWNED BY audit_log.id")
    op.execute("CREATE INDEX ix_audit_log_subject ON audit_log (subject)")

    conn = op.get_bind()
    report = time_partitions.Report()
    time_partitions.ensure_ahead(conn, datetime.now(UTC).date(), time_partitions.DEFAULT_AHEAD_DAYS, report)
    # Rows older than today's partitions go to the default ones (inbox rows there
    # expire by received_at; the audit's stay).
    op.execute(f"INSERT INTO inbox ({INBOX_COLUMNS}) SELECT {INBOX_COLUMNS} FROM inbox__old")
    op.execute(f"INSERT INTO audit_log ({AUDIT_COLUMNS}) SELECT {AUDIT_COLUMNS} FROM audit_log__old")
    op.execute("DROP TABLE inbox__old")
    op.execute("DROP TABLE audit_log__old")


def _inbox(unique: tuple[str, ...]) -> sa.Table:
    return sa.Table(
        "inbox", sa.MetaData(),
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True, nullable=False),
        sa.Column('kiosk_id', sa.String(length=64), nullable=False),
        sa.Column('message_id', sa.String(length=36), nullable=False),
        sa.Column('stream', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('hlc', sa.BigInteger(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=256), nullable=False),
        sa.UniqueConstraint(*unique, name='uq_inbox_kiosk_message'))


def _audit(unique: tuple[str, ...]) -> sa.Table:
    return sa.Table(
        "audit_log", sa.MetaData(),
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True, nullable=False),
        sa.Column('subject', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('at', sa.String(length=40), nullable=False),
        sa.Column('actor', sa.String(length=128), nullable=False),
        sa.Column('origin', sa.String(length=128), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('data', sa.Text(), nullable=False),
        sa.Column('prev_hash', sa.String(length=64), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.UniqueConstraint(*unique),
        sa.Index('ix_audit_log_subject', 'subject'))


def _sqlite(inbox_unique: tuple[str, ...], audit_unique: tuple[str, ...]) -> None:
    # SQLite changes a constraint by copying the table; copy_from names the new shape
    # (the audit key has no name to drop by).
    with op.batch_alter_table("inbox", recreate="always", copy_from=_inbox(inbox_unique)):
        pass
    with op.batch_alter_table("audit_log", recreate="always", copy_from=_audit(audit_unique)):
        pass


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _pg_upgrade()
    else:
        _sqlite(("kiosk_id", "message_id", "hlc"), ("subject", "seq", "at"))


def _pg_downgrade() -> None:
    for table, columns, key, extra in (
            ("inbox", INBOX_COLUMNS, "CONSTRAINT uq_inbox_kiosk_message UNIQUE (kiosk_id, message_id)", ""),
            ("audit_log", AUDIT_COLUMNS, "UNIQUE (subject, seq)", "CREATE INDEX ix_audit_log_subject ON audit_log (subject)")):
        op.execute(f"CREATE TABLE {table}__flat (LIKE {table} INCLUDING DEFAULTS)")
        op.execute(f"INSERT INTO {table}__flat ({columns}) SELECT {columns} FROM {table}")
        op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}__flat.id")
        op.execute(f"DROP TABLE {table} CASCADE")
        op.execute(f"ALTER TABLE {table}__flat RENAME TO {table}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)")
        op.execute(f"ALTER TABLE {table} ADD {key}")
        if extra:
            op.execute(extra)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _pg_downgrade()
    else:
        _sqlite(("kiosk_id", "message_id"), ("subject", "seq"))
