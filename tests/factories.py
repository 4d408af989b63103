"""Building test data through the app's own services."""

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

from crm.auth.services import create_user
from crm.clock import today
from crm.extensions import db
from crm.industries.services import seed_industries
from crm.leads import services as lead_services
from crm.townships.models import Township

PASSWORD = "correct-horse-1"


def township(name, kind="town"):
    t = Township(name=name, kind=kind)
    db.session.add(t)
    db.session.flush()
    return t


def user(username, role, unit=None, **kw):
    return create_user(username, role=role, email=f"{username}@example.test",
                       password=kw.pop("password", PASSWORD), township=unit,
                       display_name=kw.pop("display_name", username))


def lead(actor, unit, name="测试项目", company="测试有限公司", **data):
    values = {
        "name": name, "company": company, "township_id": unit.id,
        "investment_wan": Decimal(data.pop("investment_wan", 20000)),
    }
    values.update(data)
    return lead_services.create_lead(actor, values)


def build_world():
    seed_industries()  # as migration 0012 installs it (a no-op when the list is there)
    a = township("孟庄镇")
    b = township("税郭镇")
    admin = user("admin", "district_admin")
    viewer = user("viewer", "viewer")
    head_a = user("a-head", "township_head", a)
    off_a1 = user("a-1", "officer", a)
    off_a2 = user("a-2", "officer", a)
    head_b = user("b-head", "township_head", b)
    off_b1 = user("b-1", "officer", b)
    lead_a = lead(off_a1, a, name="宠物食品生产基地", company="烟台中宠食品股份有限公司",
                  created_on=today() - dt.timedelta(days=10))
    lead_a2 = lead(head_a, a, name="智能机器人", company="三维汉界", primary_officer_id=off_a2.id)
    lead_b = lead(off_b1, b, name="专用车制造", company="鑫润泽专用车有限公司")
    return SimpleNamespace(
        a=a, b=b, admin=admin, viewer=viewer, head_a=head_a, off_a1=off_a1, off_a2=off_a2,
        head_b=head_b, off_b1=off_b1, lead_a=lead_a, lead_a2=lead_a2, lead_b=lead_b,
    )


# Breakdown rows in the order a table reads them (crm.stats.breakdowns builds them by keyword).
def group_row(key, created, signed, wan):
    from crm.stats.breakdowns import GroupRow

    return GroupRow(key=key, created=created, signed=signed, signed_investment_wan=wan)


def industry_row(chain, key, created, signed, wan):
    from crm.stats.breakdowns import IndustryRow

    return IndustryRow(chain=chain, key=key, created=created, signed=signed,
                       signed_investment_wan=wan)


def chain_row(chain, created, signed, wan, industries):
    from crm.stats.breakdowns import ChainRow

    return ChainRow(chain=chain, created=created, signed=signed, signed_investment_wan=wan,
                    industries=industries)
