"""reference transcripts (typed or automatic, and the state of transcription) and the reference check

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('voices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transcript_source', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('transcription', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('detected_language', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('reference_check', sa.JSON(), nullable=True))
    # Before automatic transcription existed, every transcript was typed by a person.
    op.execute("UPDATE voices SET transcript_source = 'typed' WHERE reference_transcript IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('voices', schema=None) as batch_op:
        batch_op.drop_column('reference_check')
        batch_op.drop_column('detected_language')
        batch_op.drop_column('transcription')
        batch_op.drop_column('transcript_source')
