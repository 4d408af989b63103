"""move_back_requests (申请退回: an officer asks the unit's head to move a lead back a stage);
the reminder log's kind ``move_back`` (the request's and the decision's mail)

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-02 06:40:00

"""
from alembic import op
import sqlalchemy as sa


OLD_KINDS = "kind IN ('daily', 'weekly', 'review', 'dispute', 'supervision')"
NEW_KINDS = "kind IN ('daily', 'weekly', 'review', 'dispute', 'supervision', 'move_back')"
STAGES = "('contact', 'negotiation', 'signed', 'started', 'producing')"

# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('move_back_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('from_stage', sa.String(length=16), nullable=False),
    sa.Column('to_stage', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'approved', 'refused')", name=op.f('ck_move_back_requests_status')),
    sa.CheckConstraint(f"from_stage IN {STAGES}", name=op.f('ck_move_back_requests_from_stage')),
    sa.CheckConstraint(f"to_stage IN {STAGES}", name=op.f('ck_move_back_requests_to_stage')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_move_back_requests_decided_by_id_users')),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_move_back_requests_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_move_back_requests_requested_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_move_back_requests'))
    )
    op.create_index('ix_move_back_requests_lead_status', 'move_back_requests', ['lead_id', 'status'], unique=False)
    _replace_check('reminder_dispatches', 'ck_reminder_dispatches_kind', OLD_KINDS, NEW_KINDS)


def _replace_check(table, name, old, new):
    """Change a CHECK constraint's condition from ``old`` to ``new`` (as in 0009: on SQLite the
    stored table definition is edited in place; a rebuild would cascade deletes)."""
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
    op.execute("DELETE FROM reminder_dispatches WHERE kind = 'move_back'")
    _replace_check('reminder_dispatches', 'ck_reminder_dispatches_kind', NEW_KINDS, OLD_KINDS)
    op.drop_index('ix_move_back_requests_lead_status', table_name='move_back_requests')
    op.drop_table('move_back_requests')
