"""stats cache: keep each unit's results only, not the stats API's JSON made from them

Revision ID: 0010
Revises: 0006
Create Date: 2026-11-27 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('stats_cache', schema=None) as batch_op:
        batch_op.drop_column('api_json')


def downgrade():
    # The older code reads api_json from every current row: start its cache empty.
    op.execute('DELETE FROM stats_cache')
    with op.batch_alter_table('stats_cache', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_json', sa.Text(), nullable=False, server_default=''))
