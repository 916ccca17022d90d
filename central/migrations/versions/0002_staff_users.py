"""Staff accounts for the web console (central/web/accounts.py).

Revision ID: 0002_staff_users
Revises: 0001_baseline
"""

import sqlalchemy as sa
from alembic import op

from contract.schema_migrations import create_index, create_table

revision = "0002_staff_users"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table('staff_users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=128), nullable=False),
    sa.Column('agency', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('totp_secret', sa.String(length=64), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    create_index(op.f('ix_staff_users_agency'), 'staff_users', ['agency'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_staff_users_agency'), table_name='staff_users')
    op.drop_table('staff_users')
