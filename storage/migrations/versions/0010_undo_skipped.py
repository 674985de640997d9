"""undo passes over a change that someone changed again: when `/incident undo` refused it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 14:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('activity', sa.Column('undo_skipped_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('activity', 'undo_skipped_at')
