"""managed industries; stage moves credited to the lead's primary officer at the time

The industry list (``industries``) is created with the district's chains (the frozen data of
crm/industries/initial.py). Each lead's free-text industry is mapped once, by name or alias
(NFKC, case and spaces ignored), to ``leads.industry_id``; text that matches nothing stays as
it is with ``industry_id`` NULL (待归类) for an admin to sort. The text itself is never changed.

``stage_changes.credited_officer_id`` is filled from the audit trail of assignments: a move is
credited to the primary officer the lead had at the time (the old value of the first change of
primary officer after it), else to the lead's current primary officer.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-02 04:10:00

"""
import json
import re
import unicodedata

from alembic import op
import sqlalchemy as sa

from crm.industries.initial import INDUSTRIES

# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

LEAD_FK = 'fk_leads_industry_id_industries'
CREDIT_FK = 'fk_stage_changes_credited_officer_id_users'


def _key(text):
    """As crm.industries.lookup.key when this migration was written (frozen here)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or "")).casefold()


def upgrade():
    industries = op.create_table(
        'industries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('chain', sa.String(length=64), nullable=False),
        sa.Column('aliases', sa.Text(), nullable=False),
        sa.Column('sort_order', sa.Integer(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_industries')),
        sa.UniqueConstraint('name', name=op.f('uq_industries_name')),
    )
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        # ADD COLUMN with its reference: no table rebuild (a rebuild's DROP TABLE would cascade
        # into every row that hangs off the leads).
        op.execute(f'ALTER TABLE leads ADD COLUMN industry_id INTEGER '
                   f'CONSTRAINT {LEAD_FK} REFERENCES industries (id)')
        op.execute(f'ALTER TABLE stage_changes ADD COLUMN credited_officer_id INTEGER '
                   f'CONSTRAINT {CREDIT_FK} REFERENCES users (id)')
    else:
        op.add_column('leads', sa.Column('industry_id', sa.Integer(), nullable=True))
        op.create_foreign_key(LEAD_FK, 'leads', 'industries', ['industry_id'], ['id'])
        op.add_column('stage_changes', sa.Column('credited_officer_id', sa.Integer(),
                                                 nullable=True))
        op.create_foreign_key(CREDIT_FK, 'stage_changes', 'users', ['credited_officer_id'],
                              ['id'])
    op.create_index('ix_leads_industry_id', 'leads', ['industry_id'], unique=False)
    op.create_index('ix_stage_changes_credited_officer_id', 'stage_changes',
                    ['credited_officer_id'], unique=False)

    op.bulk_insert(industries, [
        {'name': name, 'chain': chain, 'aliases': '\n'.join(aliases), 'sort_order': n * 10,
         'active': True}
        for n, (chain, name, aliases) in enumerate(INDUSTRIES, start=1)
    ])
    _map_industries(bind)
    _credit_moves(bind)


def _map_industries(bind):
    """Each distinct free text, matched once by name or alias; the rest stays 待归类."""
    ids = {}
    for industry_id, name, aliases in bind.execute(sa.text(
            'SELECT id, name, aliases FROM industries ORDER BY sort_order, id')):
        for text in (name, *aliases.split('\n')):
            if text:
                ids.setdefault(_key(text), industry_id)
    texts = [t for (t,) in bind.execute(sa.text(
        "SELECT DISTINCT industry FROM leads WHERE industry <> ''"))]
    update = sa.text('UPDATE leads SET industry_id = :i WHERE industry = :t AND industry_id IS NULL')
    for text in texts:
        if _key(text) in ids:
            bind.execute(update, {'i': ids[_key(text)], 't': text})


def _credit_moves(bind):
    """credited_officer_id of every stage change: the primary officer at the time of the move."""
    current = dict(bind.execute(sa.text('SELECT id, primary_officer_id FROM leads')).all())
    #: lead → [(at, old primary)] of each change of primary officer, in order
    changes = {}
    for lead_id, at, raw in bind.execute(sa.text(
            "SELECT lead_id, created_at, changes FROM audit_log "
            "WHERE action = 'lead.assign' AND lead_id IS NOT NULL ORDER BY created_at, id")):
        data = json.loads(raw) if isinstance(raw, str) else (raw or {})
        primary = data.get('primary_officer_id') if isinstance(data, dict) else None
        if isinstance(primary, list) and len(primary) == 2:
            changes.setdefault(lead_id, []).append((at, primary[0]))
    update = sa.text('UPDATE stage_changes SET credited_officer_id = :o WHERE id = :i')
    params = []
    for change_id, lead_id, at in bind.execute(sa.text(
            'SELECT id, lead_id, created_at FROM stage_changes')):
        officer = current.get(lead_id)
        for changed_at, old in changes.get(lead_id, ()):
            if changed_at > at:
                officer = old
                break
        if officer is not None:
            params.append({'o': officer, 'i': change_id})
    if params:
        bind.execute(update, params)


def downgrade():
    op.drop_index('ix_stage_changes_credited_officer_id', table_name='stage_changes')
    op.drop_index('ix_leads_industry_id', table_name='leads')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE stage_changes DROP COLUMN credited_officer_id')
        op.execute('ALTER TABLE leads DROP COLUMN industry_id')
    else:
        op.drop_constraint(CREDIT_FK, 'stage_changes', type_='foreignkey')
        op.drop_column('stage_changes', 'credited_officer_id')
        op.drop_constraint(LEAD_FK, 'leads', type_='foreignkey')
        op.drop_column('leads', 'industry_id')
    op.drop_table('industries')
