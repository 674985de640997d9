"""trackers: action items' tracker issues, webhook deliveries seen, published postmortems

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-02 13:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no table copy): the tables keep their AUTOINCREMENT and foreign keys.
    op.add_column('incident', sa.Column('tracker_alert_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('action_item', sa.Column('tracker', sa.String(length=16), nullable=True))
    op.add_column('action_item', sa.Column('tracker_key', sa.String(length=64), nullable=True))
    op.add_column('action_item', sa.Column('tracker_url', sa.String(length=500), nullable=True))
    op.add_column('action_item', sa.Column('tracker_state', sa.String(length=16), nullable=True))
    op.add_column('action_item', sa.Column('tracker_tried_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('action_item', sa.Column('tracker_error', sa.Text(), nullable=True))
    op.create_table(
        'webhook_delivery',
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('delivery_id', sa.String(length=100), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('source', 'delivery_id'),
    )
    op.create_index(op.f('ix_webhook_delivery_received_at'), 'webhook_delivery', ['received_at'], unique=False)
    op.create_table(
        'postmortem_publication',
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('repo', sa.String(length=200), nullable=False),
        sa.Column('path', sa.String(length=300), nullable=False),
        sa.Column('branch', sa.String(length=200), nullable=False),
        sa.Column('pr_number', sa.Integer(), nullable=True),
        sa.Column('pr_url', sa.String(length=500), nullable=True),
        sa.Column('draft_version', sa.Integer(), nullable=True),
        sa.Column('published_by', sa.String(length=32), nullable=True),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id']),
        sa.PrimaryKeyConstraint('incident_id'),
    )


def downgrade() -> None:
    op.drop_table('postmortem_publication')
    op.drop_index(op.f('ix_webhook_delivery_received_at'), table_name='webhook_delivery')
    op.drop_table('webhook_delivery')
    for column in ('tracker_error', 'tracker_tried_at', 'tracker_state', 'tracker_url', 'tracker_key', 'tracker'):
        op.drop_column('action_item', column)
    op.drop_column('incident', 'tracker_alert_at')
