"""Partition leases and the living workers (central/partitions.py).

Revision ID: 0003_partition_leases
Revises: 0002_staff_users
"""

import sqlalchemy as sa
from alembic import op

from contract.schema_migrations import create_table

revision = "0003_partition_leases"
down_revision = "0002_staff_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table('partition_leases',
    sa.Column('partition', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=True),
    sa.Column('token', sa.BigInteger(), nullable=False),
    sa.Column('expires_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('partition')
    )
    create_table('partition_workers',
    sa.Column('worker_id', sa.String(length=64), nullable=False),
    sa.Column('expires_ms', sa.BigInteger(), nullable=False),
    sa.Column('broker_ok', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('worker_id')
    )


def downgrade() -> None:
    op.drop_table('partition_workers')
    op.drop_table('partition_leases')
