"""voice consents (OpenAI's custom-voice API) and the speed a generation was asked for

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'voice_consents',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('language', sa.String(length=35), nullable=False),
        sa.Column('recording_key', sa.Text(), nullable=False),
        sa.Column('recording_seconds', sa.Float(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('voice_consents', schema=None) as batch_op:
        batch_op.create_index('ix_voice_consents_created_at', ['created_at'], unique=False)
    # On SQLite batch mode copies the voices table; migrations connect without PRAGMA foreign_keys,
    # so dropping the old copy does not null the generations' voice_id.
    with op.batch_alter_table('voices', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'consent_id', sa.Uuid(),
            sa.ForeignKey('voice_consents.id', name='fk_voices_consent_id', ondelete='RESTRICT'), nullable=True))
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('speed', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.drop_column('speed')
    with op.batch_alter_table('voices', schema=None) as batch_op:
        batch_op.drop_constraint('fk_voices_consent_id', type_='foreignkey')
        batch_op.drop_column('consent_id')
    with op.batch_alter_table('voice_consents', schema=None) as batch_op:
        batch_op.drop_index('ix_voice_consents_created_at')
    op.drop_table('voice_consents')
