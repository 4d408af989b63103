"""key projects (leads.key_level), permit checklists, rate targets and targets' due dates

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-02 04:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

KEY_LEVELS = "key_level IN ('none', 'district', 'city', 'province')"
OLD_METRICS = ("metric IN ('new_leads', 'signed_100m', 'signed_1b', 'signed_5b', 'started_100m', "
               "'producing', 'signed_investment_wan', 'visits', 'funds_arrived_wan')")
NEW_METRICS = ("metric IN ('new_leads', 'signed_100m', 'signed_1b', 'signed_5b', 'started_100m', "
               "'producing', 'signed_investment_wan', 'visits', 'funds_arrived_wan', "
               "'start_rate', 'stats_inclusion_rate', 'stats_included_investment_wan')")


def upgrade():
    bind = op.get_bind()
    # leads: never rebuilt on SQLite (a batch rebuild would cascade deletes into its children)
    if bind.dialect.name == 'sqlite':
        bind.exec_driver_sql(
            "ALTER TABLE leads ADD COLUMN key_level VARCHAR(16) DEFAULT 'none' NOT NULL "
            f"CONSTRAINT ck_leads_key_level CHECK ({KEY_LEVELS})")
    else:
        op.add_column('leads', sa.Column('key_level', sa.String(length=16),
                                         server_default='none', nullable=False))
        op.create_check_constraint(op.f('ck_leads_key_level'), 'leads', sa.text(KEY_LEVELS))

    op.add_column('targets', sa.Column('due_on', sa.Date(), nullable=True))
    _replace_check('targets', 'ck_targets_metric', OLD_METRICS, NEW_METRICS)

    op.create_table('permits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('responsible_unit', sa.String(length=64), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('done_on', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('filing', 'land', 'planning', 'construction', 'environment', 'energy', 'safety', 'fire', 'other')", name=op.f('ck_permits_kind')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_permits_created_by_id_users')),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_permits_lead_id_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_permits'))
    )
    with op.batch_alter_table('permits', schema=None) as batch_op:
        batch_op.create_index('ix_permits_done_due', ['done_on', 'due_on'], unique=False)
        batch_op.create_index('ix_permits_lead_due', ['lead_id', 'due_on'], unique=False)


def _replace_check(table, name, old, new):
    """Change a CHECK constraint's condition from ``old`` to ``new`` (as 0009 does: on SQLite the
    stored table definition is edited in place, never rebuilt; every row stays valid)."""
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        op.drop_constraint(op.f(name), table, type_='check')
        op.create_check_constraint(op.f(name), table, sa.text(new))
        return
    sql = bind.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
                       {"t": table}).scalar()
    if old not in sql:
        raise RuntimeError(f"{table}: constraint {name} is not as expected")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.execute(sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :t"),
                 {"sql": sql.replace(old, new), "t": table})
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def downgrade():
    with op.batch_alter_table('permits', schema=None) as batch_op:
        batch_op.drop_index('ix_permits_lead_due')
        batch_op.drop_index('ix_permits_done_due')
    op.drop_table('permits')

    op.execute("DELETE FROM targets WHERE metric IN "
               "('start_rate', 'stats_inclusion_rate', 'stats_included_investment_wan')")
    _replace_check('targets', 'ck_targets_metric', NEW_METRICS, OLD_METRICS)
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        # SQLite ≥ 3.35 drops a column that no index or constraint other than its own names
        bind.exec_driver_sql("ALTER TABLE targets DROP COLUMN due_on")
        _drop_sqlite_column_check('leads', 'key_level')
        bind.exec_driver_sql("ALTER TABLE leads DROP COLUMN key_level")
    else:
        op.drop_column('targets', 'due_on')
        op.drop_constraint(op.f('ck_leads_key_level'), 'leads', type_='check')
        op.drop_column('leads', 'key_level')
    # the stats cache holds rows with the new metrics: start it empty
    op.execute('DELETE FROM stats_cache')


def _drop_sqlite_column_check(table, column):
    """Remove the column's inline CHECK from the stored definition, so SQLite can drop it."""
    bind = op.get_bind()
    sql = bind.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
                       {"t": table}).scalar()
    inline = f" CONSTRAINT ck_{table}_{column} CHECK ({KEY_LEVELS})"
    if inline not in sql:
        return
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.execute(sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :t"),
                 {"sql": sql.replace(inline, ""), "t": table})
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
