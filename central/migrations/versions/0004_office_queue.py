"""Office queue tickets (central/queue.py).

Revision ID: 0004_office_queue
Revises: 0003_partition_leases
"""

import sqlalchemy as sa
from alembic import op

from contract.schema_migrations import create_index, create_table

revision = "0004_office_queue"
down_revision = "0003_partition_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table('queue_tickets',
    sa.Column('tracking', sa.String(length=16), nullable=False),
    sa.Column('office', sa.String(length=64), nullable=False),
    sa.Column('counter_group', sa.String(length=64), nullable=False),
    sa.Column('service_id', sa.String(length=64), nullable=False),
    sa.Column('ticket_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('counter', sa.Integer(), nullable=True),
    sa.Column('called_by', sa.String(length=64), nullable=True),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('called_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('tracking')
    )
    create_index('ix_queue_tickets_line', 'queue_tickets', ['office', 'counter_group', 'status', 'ticket_at'],
                 unique=False)


def downgrade() -> None:
    op.drop_index('ix_queue_tickets_line', table_name='queue_tickets')
    op.drop_table('queue_tickets')
