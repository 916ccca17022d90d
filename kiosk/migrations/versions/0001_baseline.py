"""Baseline: the schema as `Base.metadata.create_all` makes it in release 0.1.

New kiosks get the schema from create_all and are stamped at head; kiosks
upgraded in place run the revisions after the one they are stamped with.
Purely additive changes (a new table) are also covered by create_all on open;
any change to an existing table needs a revision here (batch mode for SQLite).

Revision ID: 0001_baseline
Revises:
"""

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
