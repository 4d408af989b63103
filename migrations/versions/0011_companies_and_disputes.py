"""companies (投资方) and disputes (撞单); leads linked to their company, with an ownership

Every lead gets a company: one per distinct credit code, else per distinct normalised name
(crm.companies.names, as the application matches them), named as the earliest lead typed it.
The leads keep their own text (``leads.company``) untouched. Existing leads stay ``sole``: no
dispute is opened on history, so no figure an installed district reports changes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 04:00:00

"""
import datetime as dt

from alembic import op
import sqlalchemy as sa

OLD_KINDS = "kind IN ('daily', 'weekly', 'review')"
NEW_KINDS = "kind IN ('daily', 'weekly', 'review', 'dispute')"
OWNERSHIP_CHECK = "ownership IN ('sole', 'disputed', 'merged')"

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('companies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=True),
    sa.Column('origin', sa.String(length=64), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['companies.id'], name=op.f('fk_companies_parent_id_companies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_companies')),
    sa.UniqueConstraint('credit_code', name=op.f('uq_companies_credit_code'))
    )
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_companies_name_key'), ['name_key'], unique=False)

    op.create_table('disputes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('first_lead_id', sa.Integer(), nullable=False),
    sa.Column('second_lead_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('decision', sa.String(length=12), nullable=True),
    sa.Column('ruled_by_id', sa.Integer(), nullable=True),
    sa.Column('ruled_at', sa.DateTime(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('open', 'ruled')", name=op.f('ck_disputes_status')),
    sa.CheckConstraint("decision IS NULL OR decision IN ('keep_first', 'keep_second', 'separate')", name=op.f('ck_disputes_decision')),
    sa.ForeignKeyConstraint(['first_lead_id'], ['leads.id'], name=op.f('fk_disputes_first_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['second_lead_id'], ['leads.id'], name=op.f('fk_disputes_second_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ruled_by_id'], ['users.id'], name=op.f('fk_disputes_ruled_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disputes'))
    )
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disputes_first_lead_id'), ['first_lead_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_disputes_second_lead_id'), ['second_lead_id'], unique=False)
        batch_op.create_index('ix_disputes_status_created_at', ['status', 'created_at'], unique=False)

    # leads: plain ADD COLUMNs (a batch rebuild of leads would cascade deletes into its rows)
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        op.execute("ALTER TABLE leads ADD COLUMN company_id INTEGER "
                   "CONSTRAINT fk_leads_company_id_companies REFERENCES companies (id)")
        op.execute("ALTER TABLE leads ADD COLUMN ownership VARCHAR(12) DEFAULT 'sole' NOT NULL "
                   f"CONSTRAINT ck_leads_ownership CHECK ({OWNERSHIP_CHECK})")
        op.execute("ALTER TABLE leads ADD COLUMN merged_into_id INTEGER "
                   "CONSTRAINT fk_leads_merged_into_id_leads REFERENCES leads (id)")
    else:
        op.add_column('leads', sa.Column('company_id', sa.Integer(), nullable=True))
        op.add_column('leads', sa.Column('ownership', sa.String(length=12), server_default='sole', nullable=False))
        op.add_column('leads', sa.Column('merged_into_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_leads_company_id_companies'), 'leads', 'companies', ['company_id'], ['id'])
        op.create_foreign_key(op.f('fk_leads_merged_into_id_leads'), 'leads', 'leads', ['merged_into_id'], ['id'])
        op.create_check_constraint(op.f('ck_leads_ownership'), 'leads', sa.text(OWNERSHIP_CHECK))
    op.create_index(op.f('ix_leads_company_id'), 'leads', ['company_id'], unique=False)

    _replace_check('reminder_dispatches', 'ck_reminder_dispatches_kind', OLD_KINDS, NEW_KINDS)
    _build_companies()


def _build_companies():
    """One company per credit code, else per normalised name; each lead linked to its own."""
    from crm.companies.names import normalise

    bind = op.get_bind()
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    companies = sa.table('companies', sa.column('id', sa.Integer), sa.column('name'),
                         sa.column('name_key'), sa.column('credit_code'), sa.column('origin'),
                         sa.column('created_at'))
    rows = bind.execute(sa.text(
        "SELECT id, company, credit_code, origin FROM leads ORDER BY created_on, id")).all()
    by_code, by_key, new, links = {}, {}, [], {}
    for lead_id, name, code, origin in rows:
        name, code, origin = name or "", (code or None), origin or ""
        key = normalise(name)[:200]
        company = by_code.get(code) if code else None
        if company is None:
            company = by_key.get(key)
            if company is not None and code and company["credit_code"] not in (None, code):
                company = None  # another legal entity of that name
        if company is None:
            company = {"id": None, "name": name[:200], "name_key": key, "credit_code": code,
                       "origin": origin[:64], "created_at": now}
            new.append(company)
            by_key.setdefault(key, company)
        if code and company["credit_code"] is None:
            company["credit_code"] = code
        if code:
            by_code[code] = company
        if origin and not company["origin"]:
            company["origin"] = origin[:64]
        links[lead_id] = company
    for index, company in enumerate(new, start=1):
        company["id"] = index
    if new:
        bind.execute(companies.insert(), new)
    leads = sa.table('leads', sa.column('id', sa.Integer), sa.column('company_id', sa.Integer))
    update = leads.update().where(leads.c.id == sa.bindparam('lead_id')).values(
        company_id=sa.bindparam('cid'))
    pairs = [{"lead_id": lead_id, "cid": company["id"]} for lead_id, company in links.items()]
    for start in range(0, len(pairs), 1000):
        bind.execute(update, pairs[start:start + 1000])
    if new and bind.dialect.name == 'postgresql':
        bind.execute(sa.text(
            "SELECT setval(pg_get_serial_sequence('companies', 'id'), (SELECT MAX(id) FROM companies))"))


def _replace_check(table, name, old, new):
    """Widen (or narrow back) a CHECK constraint; on SQLite by editing the stored table
    definition in place (a batch rebuild would cascade deletes), as migration 0009 does."""
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
    op.execute("DELETE FROM reminder_dispatches WHERE kind = 'dispute'")
    _replace_check('reminder_dispatches', 'ck_reminder_dispatches_kind', NEW_KINDS, OLD_KINDS)
    op.drop_index(op.f('ix_leads_company_id'), table_name='leads')
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        for column in ('merged_into_id', 'ownership', 'company_id'):
            op.execute(f"ALTER TABLE leads DROP COLUMN {column}")
    else:
        op.drop_constraint(op.f('ck_leads_ownership'), 'leads', type_='check')
        op.drop_constraint(op.f('fk_leads_merged_into_id_leads'), 'leads', type_='foreignkey')
        op.drop_constraint(op.f('fk_leads_company_id_companies'), 'leads', type_='foreignkey')
        op.drop_column('leads', 'merged_into_id')
        op.drop_column('leads', 'ownership')
        op.drop_column('leads', 'company_id')
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.drop_index('ix_disputes_status_created_at')
        batch_op.drop_index(batch_op.f('ix_disputes_second_lead_id'))
        batch_op.drop_index(batch_op.f('ix_disputes_first_lead_id'))
    op.drop_table('disputes')
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_companies_name_key'))
    op.drop_table('companies')
