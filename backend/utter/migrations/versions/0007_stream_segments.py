"""stream segments: a generation's audio is stored for listeners as it is made, not only per chunk

segments counts the stream segments stored so far (several per chunk when the engine
streams); /stream reads that many. chunks_done keeps counting finished chunks.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('segments', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    # The older code stores one segment per chunk and reads chunks_done of them; a generation that
    # is running through the downgrade is spoken again from the start by its next attempt.
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.drop_column('segments')
