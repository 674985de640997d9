"""home tab and status updates: who opened the Home tab; when the commander was reminded to post an update

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 13:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'home_viewer',
        sa.Column('user_id', sa.String(length=32), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('incidents_page', sa.Integer(), nullable=False),
        sa.Column('items_page', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('user_id'),
    )
    op.create_index(op.f('ix_home_viewer_opened_at'), 'home_viewer', ['opened_at'], unique=False)
    # A plain ADD COLUMN (nullable, no default): no table copy on SQLite.
    op.add_column('incident', sa.Column('update_reminded_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('incident', 'update_reminded_at')
    op.drop_index(op.f('ix_home_viewer_opened_at'), table_name='home_viewer')
    op.drop_table('home_viewer')
