"""word timings and dialogue lines (issue 18)

timings holds when each word of a finished generation's text is spoken (forced alignment of
the known text to the audio it produced); lines holds a dialogue's script: each line's voice,
text and place in the audio. Both are null on rows that have none.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timings', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('lines', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.drop_column('lines')
        batch_op.drop_column('timings')
