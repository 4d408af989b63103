"""usernames compared NFKC case-folded (users.username_key, unique); API rate windows in the database

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 10:00:00

Existing accounts get their key from their username. Two accounts whose names differ only in case
or width (``Admin``/``admin``) cannot both keep one: the older keeps it, the newer is left
without a key (it can no longer be signed in to by name) and is named in a warning, so that an
administrator can deactivate it or ask its owner to use the older one.
"""
import unicodedata
import warnings

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _key(name):
    """crm.auth.names.username_key as of this revision (a migration must not change with the app)."""
    text = unicodedata.normalize("NFKC", name or "")
    text = "".join(c for c in text
                   if unicodedata.category(c) not in {"Cc", "Cf", "Cn", "Co", "Cs"})
    return unicodedata.normalize("NFKC", text.casefold()).strip()[:64]


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('username_key', sa.String(length=64), nullable=True))

    conn = op.get_bind()
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('username', sa.String),
                     sa.column('username_key', sa.String))
    taken = {}
    for user_id, username in conn.execute(sa.select(users.c.id, users.c.username)
                                          .order_by(users.c.id)).all():
        key = _key(username)
        if not key or key in taken:
            warnings.warn(f"user {user_id} ({username!r}) looks like user {taken.get(key)}: "
                          "left without a sign-in name", stacklevel=1)
            continue
        taken[key] = user_id
        conn.execute(sa.update(users).where(users.c.id == user_id).values(username_key=key))

    # A unique index, not a constraint: on SQLite a constraint means rebuilding the table, and
    # dropping the old users table would cascade into API tokens, reminders and sign-ins.
    op.create_index('ix_users_username_key', 'users', ['username_key'], unique=True)

    op.create_table('rate_windows',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('ends_at', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'ends_at', name=op.f('pk_rate_windows'))
    )


def downgrade():
    op.drop_table('rate_windows')
    op.drop_index('ix_users_username_key', table_name='users')
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+) rather than batch's rebuild of the users table.
    op.execute("ALTER TABLE users DROP COLUMN username_key")
