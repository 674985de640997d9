"""web view sign-out is real: when each person last signed out, so older sessions (copied cookies) end

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 14:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'web_sign_out',
        sa.Column('user_id', sa.String(length=32), nullable=False),
        sa.Column('signed_out_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('user_id'),
    )


def downgrade() -> None:
    op.drop_table('web_sign_out')
