"""visits.client_id: a UUID made by the client, so a phone can resend a visit safely

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 06:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN (no table rebuild); the visits on file keep NULL, which a unique index
    # allows any number of times on SQLite and PostgreSQL alike.
    op.add_column('visits', sa.Column('client_id', sa.String(length=36), nullable=True))
    op.create_index('ix_visits_client_id', 'visits', ['client_id'], unique=True)


def downgrade():
    op.drop_index('ix_visits_client_id', table_name='visits')
    op.execute("ALTER TABLE visits DROP COLUMN client_id")
