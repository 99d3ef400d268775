"""design previews: voices designed from a description are rendered as tasks in the generations queue

A preview is a generations row with kind "design": the description it was made from, the
design it belongs to and which candidate it is. Its voice_id stays NULL until the preview
is saved as a voice, then points at that voice (so a preview is saved at most once).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=False, server_default='speech'))
        batch_op.add_column(sa.Column('description', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('design_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('candidate', sa.Integer(), nullable=True))
        batch_op.create_index('ix_generations_design_id', ['design_id'], unique=False)


def downgrade() -> None:
    # Previews are not speech the history can show: drop them with the columns that describe them.
    op.execute("DELETE FROM generations WHERE kind = 'design'")
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.drop_index('ix_generations_design_id')
        batch_op.drop_column('candidate')
        batch_op.drop_column('design_id')
        batch_op.drop_column('description')
        batch_op.drop_column('kind')
