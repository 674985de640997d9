"""a log entry notes that its post is still to be queued, so `/incident log` is one statement

`/incident log` used to store the entry and the outbox job that posts it in one transaction of four
statements; it now stores the entry alone, marked `to_post`, and the outbox turns marked entries into
jobs (storage/post_sql.py). Entries stored before this revision are not posted again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 16:40:00.000000
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no table copy): the column has a server default.
    op.add_column('entry', sa.Column('to_post', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index('ix_entry_to_post', 'entry', ['id'], unique=False, sqlite_where=sa.text('to_post'),
                    postgresql_where=sa.text('to_post'))


def downgrade() -> None:
    # The code before this revision has no feeder: an entry acknowledged but not yet queued would never
    # be posted. Queue its post as that code did (storage.outbox_jobs.enqueue's row), in entry order.
    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None).isoformat(" ", "microseconds")  # as the models store times there
    op.execute(sa.text(
        "INSERT INTO outbox (kind, payload, attempts, next_attempt_at, failed, created_at) "
        "SELECT 'log_post', '{\"entry_id\":' || CAST(id AS VARCHAR(20)) || ',\"post\"\\:true}', 0, :now, :failed, :now "
        "FROM entry WHERE to_post ORDER BY id").bindparams(now=now, failed=False))
    op.drop_index('ix_entry_to_post', table_name='entry')
    op.drop_column('entry', 'to_post')
