"""generation checks: what hearing each part of a generation back found

checks holds, per part, the word error rate of what a speech recogniser heard against the
part's text, its length against the length expected for that text, how many takes it needed
and whether the kept one passed; null when the generation was not checked.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checks', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.drop_column('checks')
