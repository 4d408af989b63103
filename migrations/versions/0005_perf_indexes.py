"""indexes for statistics at province scale

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-25 20:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index('ix_leads_stage_changed_on', ['stage_changed_on'], unique=False)


def downgrade():
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index('ix_leads_stage_changed_on')
