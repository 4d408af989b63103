"""channels: WeCom and DingTalk group robots, their message log and send slots; users.mobile

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-02 04:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('township_id', sa.Integer(), nullable=True),
    sa.Column('url_secret', sa.Text(), nullable=False),
    sa.Column('url_hint', sa.String(length=300), nullable=False),
    sa.Column('signing_secret', sa.Text(), server_default='', nullable=False),
    sa.Column('signing_hint', sa.String(length=8), server_default='', nullable=False),
    sa.Column('keyword', sa.String(length=64), server_default='', nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('sends_total', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('wecom', 'dingtalk')", name=op.f('ck_channels_kind')),
    sa.ForeignKeyConstraint(['township_id'], ['townships.id'], name=op.f('fk_channels_township_id_townships'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channels')),
    sa.UniqueConstraint('name', name=op.f('uq_channels_name'))
    )
    op.create_index(op.f('ix_channels_township_id'), 'channels', ['township_id'], unique=False)

    op.create_table('channel_dispatches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('mentions', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("kind IN ('daily', 'claim', 'bulletin', 'supervision')", name=op.f('ck_channel_dispatches_kind')),
    sa.CheckConstraint("status IN ('pending', 'sent')", name=op.f('ck_channel_dispatches_status')),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_channel_dispatches_channel_id_channels'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_dispatches')),
    sa.UniqueConstraint('channel_id', 'kind', 'ref', name=op.f('uq_channel_dispatches_channel_id_kind_ref'))
    )
    op.create_index('ix_channel_dispatches_status_next', 'channel_dispatches', ['status', 'next_attempt_at'], unique=False)

    op.create_table('channel_sends',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_channel_sends_channel_id_channels'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_sends'))
    )
    op.create_index('ix_channel_sends_channel_at', 'channel_sends', ['channel_id', 'at'], unique=False)

    # A plain ADD COLUMN: rebuilding the users table on SQLite (batch mode) would cascade deletes
    # into the rows that refer to users.
    op.add_column('users', sa.Column('mobile', sa.String(length=11), nullable=True))


def downgrade():
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+) rather than batch's rebuild of the users table.
    op.execute("ALTER TABLE users DROP COLUMN mobile")
    op.drop_index('ix_channel_sends_channel_at', table_name='channel_sends')
    op.drop_table('channel_sends')
    op.drop_index('ix_channel_dispatches_status_next', table_name='channel_dispatches')
    op.drop_table('channel_dispatches')
    op.drop_index(op.f('ix_channels_township_id'), table_name='channels')
    op.drop_table('channels')
