"""Release 0.1's stamp: that release made the schema with create_all on every
open and stamped stores with this empty revision. Kept so such stores are
known; the schema itself is created (or adopted) by 0002_schema.

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
