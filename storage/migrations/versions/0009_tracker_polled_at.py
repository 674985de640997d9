"""tracker polling rotates: when each item's issue was last read by a poll

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 14:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('action_item', sa.Column('tracker_polled_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('action_item', 'tracker_polled_at')
