"""stats cache: each unit's yearly aggregates, and the version that tells when they are stale

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 01:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('stats_versions',
    sa.Column('township_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['township_id'], ['townships.id'], name=op.f('fk_stats_versions_township_id_townships'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('township_id', name=op.f('pk_stats_versions'))
    )
    op.create_table('stats_cache',
    sa.Column('township_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('basis', sa.String(length=64), nullable=False),
    sa.Column('mean_attainment', sa.Text(), nullable=True),
    sa.Column('totals', sa.Text(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('api_json', sa.Text(), nullable=False),
    sa.Column('computed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['township_id'], ['townships.id'], name=op.f('fk_stats_cache_township_id_townships'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('township_id', 'year', 'as_of', name=op.f('pk_stats_cache'))
    )
    with op.batch_alter_table('stats_cache', schema=None) as batch_op:
        batch_op.create_index('ix_stats_cache_year_as_of', ['year', 'as_of'], unique=False)


def downgrade():
    with op.batch_alter_table('stats_cache', schema=None) as batch_op:
        batch_op.drop_index('ix_stats_cache_year_as_of')
    op.drop_table('stats_cache')
    op.drop_table('stats_versions')
