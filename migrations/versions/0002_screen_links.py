"""screen links (亮屏公示)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 17:30:00.000000

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('screen_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_screen_links_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screen_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_screen_links_token_hash'))
    )


def downgrade():
    op.drop_table('screen_links')
