"""curation: hidden entries, people's edits, log posts, added messages, the activity log

The entry table gains the hidden flag, who edited its text (a person's edit wins over a later Slack
edit), the bot's post of a `/incident log` entry, and where a message added from another channel was
said; the activity table records every change with before and after.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 13:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('before', sa.Text(), nullable=False),
    sa.Column('after', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undoes', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_activity_incident_actor_at', 'activity', ['incident_id', 'actor', 'at'], unique=False)
    # Plain ADD COLUMN (no table copy): every new column is nullable or has a server default.
    op.add_column('entry', sa.Column('hidden', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('entry', sa.Column('text_edited_by', sa.String(length=32), nullable=True))
    op.add_column('entry', sa.Column('post_channel_id', sa.String(length=32), nullable=True))
    op.add_column('entry', sa.Column('post_ts', sa.String(length=32), nullable=True))
    op.add_column('entry', sa.Column('source_channel_id', sa.String(length=32), nullable=True))
    op.add_column('entry', sa.Column('source_ts', sa.String(length=32), nullable=True))
    op.add_column('entry', sa.Column('permalink', sa.String(length=500), nullable=True))
    op.create_index('ix_entry_post', 'entry', ['post_channel_id', 'post_ts'], unique=False)
    # a unique index, not a table constraint: SQLite cannot add a constraint without copying the table
    op.create_index('uq_entry_incident_source', 'entry', ['incident_id', 'source_channel_id', 'source_ts'],
                    unique=True)


def downgrade() -> None:
    op.drop_index('uq_entry_incident_source', table_name='entry')
    op.drop_index('ix_entry_post', table_name='entry')
    for column in ('permalink', 'source_ts', 'source_channel_id', 'post_ts', 'post_channel_id', 'text_edited_by',
                   'hidden'):
        op.drop_column('entry', column)
    op.drop_index('ix_activity_incident_actor_at', table_name='activity')
    op.drop_table('activity')
