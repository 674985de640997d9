"""reminders: postmortem nudge state on incidents (claimed with a lease, sent once)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:58:10.785404
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nudged_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('nudge_lease_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('nudge_lease_owner', sa.String(length=64), nullable=True))
    # Incidents resolved before drafts existed would all look draftless: no nudge about those.
    op.execute("UPDATE incident SET nudged_at = created_at WHERE status = 'resolved'")


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('nudge_lease_owner')
        batch_op.drop_column('nudge_lease_until')
        batch_op.drop_column('nudged_at')
