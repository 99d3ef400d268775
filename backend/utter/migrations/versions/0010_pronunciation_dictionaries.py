"""pronunciation dictionaries: rules for how words are said, in versions; a voice's default; a
generation's text as the engine is given it (issue 18)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pronunciation_dictionaries',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('latest_version_id', sa.Uuid(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('pronunciation_dictionaries', schema=None) as batch_op:
        batch_op.create_index('ix_pronunciation_dictionaries_created_at', ['created_at'], unique=False)
    op.create_table(
        'pronunciation_dictionary_versions',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('dictionary_id', sa.Uuid(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('rules', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['dictionary_id'], ['pronunciation_dictionaries.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('pronunciation_dictionary_versions', schema=None) as batch_op:
        batch_op.create_index('ix_pronunciation_dictionary_versions_dictionary_number', ['dictionary_id', 'number'],
                              unique=True)
    # On SQLite batch mode copies the voices table; migrations connect without PRAGMA foreign_keys,
    # so dropping the old copy does not null the generations' voice_id.
    with op.batch_alter_table('voices', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'pronunciation_dictionary_id', sa.Uuid(),
            sa.ForeignKey('pronunciation_dictionaries.id', name='fk_voices_pronunciation_dictionary_id',
                          ondelete='SET NULL'), nullable=True))
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('spoken_text', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.drop_column('spoken_text')
    with op.batch_alter_table('voices', schema=None) as batch_op:
        batch_op.drop_constraint('fk_voices_pronunciation_dictionary_id', type_='foreignkey')
        batch_op.drop_column('pronunciation_dictionary_id')
    with op.batch_alter_table('pronunciation_dictionary_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_pronunciation_dictionary_versions_dictionary_number')
    op.drop_table('pronunciation_dictionary_versions')
    with op.batch_alter_table('pronunciation_dictionaries', schema=None) as batch_op:
        batch_op.drop_index('ix_pronunciation_dictionaries_created_at')
    op.drop_table('pronunciation_dictionaries')
