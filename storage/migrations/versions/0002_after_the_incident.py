"""after the incident: postmortem drafts, prompt answers, action items

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:53:16.092589
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('action_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=True),
    sa.Column('due', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source_key', sa.String(length=100), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=32), nullable=True),
    sa.Column('snoozed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminder_lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminder_lease_owner', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_key'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('action_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_item_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index('ix_action_item_status_due', ['status', 'due'], unique=False)

    op.create_table('postmortem_draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('template', sa.String(length=100), nullable=False),
    sa.Column('markdown', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('file_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('incident_id', 'version', name='uq_postmortem_draft_version')
    )
    with op.batch_alter_table('postmortem_draft', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_postmortem_draft_incident_id'), ['incident_id'], unique=False)

    op.create_table('prompt_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('topic', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('incident_id', 'user_id', 'topic', name='uq_prompt_answer')
    )
    with op.batch_alter_table('prompt_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prompt_answer_incident_id'), ['incident_id'], unique=False)

    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prompts_sent_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('workspace_url', sa.String(length=200), nullable=True))
    # Incidents resolved before this version count as prompted: recording `resolved` again on one of
    # them must not send prompts (only the first resolution does).
    op.execute("UPDATE incident SET prompts_sent_at = created_at WHERE status = 'resolved'")




def downgrade() -> None:

    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('workspace_url')
        batch_op.drop_column('prompts_sent_at')

    with op.batch_alter_table('prompt_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prompt_answer_incident_id'))

    op.drop_table('prompt_answer')
    with op.batch_alter_table('postmortem_draft', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_postmortem_draft_incident_id'))

    op.drop_table('postmortem_draft')
    with op.batch_alter_table('action_item', schema=None) as batch_op:
        batch_op.drop_index('ix_action_item_status_due')
        batch_op.drop_index(batch_op.f('ix_action_item_incident_id'))

    op.drop_table('action_item')

