"""remote calls per chunk: a remote engine speaks a long text one call per chunk, so it can stream

remote_call_id holds the calls' ids in chunk order, separated by spaces (a design preview
has one); 17 chunks of 5,000 characters do not fit in the old 128 characters.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.alter_column('remote_call_id', existing_type=sa.String(length=128), type_=sa.Text(),
                              existing_nullable=True)


def downgrade() -> None:
    # The older code makes one call for the whole text: a list of chunk calls means nothing to it.
    # Such a task, if still running, is spoken again from the start.
    op.execute("UPDATE generations SET remote_call_id = NULL WHERE remote_call_id LIKE '% %'")
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.alter_column('remote_call_id', existing_type=sa.Text(), type_=sa.String(length=128),
                              existing_nullable=True)
