"""reminders in the outbox: an idempotency key on outbox jobs; the reminder and nudge leases go

Reminder digests and postmortem nudges are outbox jobs now, queued at most once per person (per
incident for a nudge) while unfinished, so the leases on action items and incidents that the sweep
used to claim them are no longer read or written.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 08:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

UNFINISHED = sa.text('done_at IS NULL')


def upgrade() -> None:
    op.add_column('outbox', sa.Column('idempotency_key', sa.String(length=100), nullable=True))
    op.create_index('uq_outbox_unfinished_key', 'outbox', ['idempotency_key'], unique=True,
                    sqlite_where=UNFINISHED, postgresql_where=UNFINISHED)
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+, which RETURNING needs already): no table copy,
    # so the AUTOINCREMENT of action_item and incident and the foreign keys to them stay as they are.
    op.drop_column('action_item', 'reminder_lease_owner')
    op.drop_column('action_item', 'reminder_lease_until')
    op.drop_column('incident', 'nudge_lease_owner')
    op.drop_column('incident', 'nudge_lease_until')


def downgrade() -> None:
    # The leases come back empty: a lease only ever held a claim for the minutes of one sweep.
    op.add_column('incident', sa.Column('nudge_lease_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('incident', sa.Column('nudge_lease_owner', sa.String(length=64), nullable=True))
    op.add_column('action_item', sa.Column('reminder_lease_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('action_item', sa.Column('reminder_lease_owner', sa.String(length=64), nullable=True))
    op.drop_index('uq_outbox_unfinished_key', table_name='outbox')
    op.drop_column('outbox', 'idempotency_key')
