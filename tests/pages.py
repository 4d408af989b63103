"""Every page of the app, for every role, on a world with something on each of them.

Shared by the accessibility test (axe-core on every page), the query-count test (no page's number
of statements grows with the data) and scripts/screenshots.py.

HOW TO ADD A PAGE: one ``Page(...)`` line in ``PAGES`` below: a label, the path (``{name}`` is
filled from ``build_world()``: lead, signed, visit, unit, company, order, claim, dispute, issue,
permit, user, channel, industry, screen_token, revoked_token, unsubscribe), the roles that open it
(keys of ``ROLES``) and the status it answers (200 unless an error page).
"""

import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from PIL import Image

from crm.bulletin import issues as bulletin_issues
from crm.bulletin.models import ScreenLink
from crm.channels import services as channel_services
from crm.claims import services as claim_services
from crm.clock import today, utcnow
from crm.companies.models import Dispute
from crm.extensions import db
from crm.industries.models import Industry
from crm.leads import services as lead_services
from crm.moveback import services as moveback_services
from crm.permits import services as permit_services
from crm.reminders.mail import unsubscribe_token
from crm.supervision import services as supervision_services
from crm.targets import services as target_services
from crm.targets.models import Target
from crm.visits import services as visit_services
from tests import factories

#: role key -> username in the world (None: not signed in).
ROLES = {"admin": "admin", "viewer": "viewer", "head": "a-head", "officer": "a-1",
         "reviewer": "reviewer", "anon": None}
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}

ALL = ("admin", "viewer", "head", "officer", "reviewer")
UNIT = ("admin", "head", "officer")          # who works on leads
HEADS_UP = ("admin", "viewer", "head", "reviewer")
DISTRICT = ("admin", "viewer", "reviewer")
BUREAU = ("admin", "reviewer")               # claims and disputes queues
ADMIN = ("admin",)
ANON = ("anon",)


@dataclass(frozen=True)
class Page:
    label: str
    path: str
    roles: tuple
    status: int = 200


# --- THE PAGES -----------------------------------------------------------------------------------
PAGES = [
    Page("登录", "/login", ANON),
    Page("首页", "/", ALL),
    Page("我的工作", "/my", ("head", "officer")),
    Page("项目列表", "/leads/", ALL),
    Page("项目列表（筛选）", "/leads/?stage=active&q=食品", ALL),
    Page("项目页", "/leads/{lead}", ALL),
    Page("编辑项目", "/leads/{lead}/edit", UNIT),
    Page("变更阶段", "/leads/{lead}/move", UNIT),
    Page("分配负责人", "/leads/{lead}/assign", ("admin", "head")),
    Page("新建项目", "/leads/new", UNIT),
    Page("看板", "/board", ALL),
    Page("退回申请", "/move-back/", ("admin", "head")),
    Page("退回申请的项目", "/leads/{signed}", ("admin", "head", "officer")),
    Page("离线", "/offline", ALL + ANON),
    Page("记走访", "/leads/{lead}/visits", UNIT),
    Page("改走访", "/leads/{lead}/visits/{visit}/edit", ("officer",)),
    Page("统计总览", "/stats/", HEADS_UP),
    Page("单位统计", "/stats/unit/{unit}", HEADS_UP),
    Page("目标", "/targets/", HEADS_UP),
    Page("目标历史", "/targets/history/{unit}", ("admin", "head")),
    Page("红黄蓝通报", "/bulletin", HEADS_UP),
    Page("已发布通报", "/bulletins/", DISTRICT),
    Page("通报一期", "/bulletins/{issue}", DISTRICT),
    Page("月报", "/reports/monthly", HEADS_UP),
    Page("核验队列", "/claims/", BUREAU),
    Page("核验申报", "/claims/{claim}", ALL),
    Page("撞单队列", "/disputes/", BUREAU),
    Page("撞单裁定", "/disputes/{dispute}", BUREAU),
    Page("投资方", "/companies/", ALL),
    Page("投资方页", "/companies/{company}", ALL),
    Page("督办", "/supervision/", ALL),
    Page("督办单", "/supervision/{order}", ALL),
    Page("下督办单", "/leads/{lead}/supervision", ADMIN),
    Page("手续逾期", "/permits/overdue", HEADS_UP),
    Page("改手续", "/permits/{permit}/edit", UNIT),
    Page("导入", "/imports/leads", UNIT),
    Page("大屏", "/screen", DISTRICT),
    Page("大屏链接", "/screen/links", ADMIN),
    Page("大屏（链接）", "/screen/{screen_token}", ANON),
    Page("大屏（已撤销）", "/screen/{revoked_token}", ANON, 410),
    Page("退订提醒", "/reminders/unsubscribe/{unsubscribe}", ANON),
    Page("用户", "/admin/users", ADMIN),
    Page("新建用户", "/admin/users/new", ADMIN),
    Page("用户页", "/admin/users/{user}", ADMIN),
    Page("编辑用户", "/admin/users/{user}/edit", ADMIN),
    Page("重设密码", "/admin/users/{user}/password", ADMIN),
    Page("全部令牌", "/admin/tokens", ADMIN),
    Page("登录记录", "/admin/signins", ADMIN),
    Page("产业", "/admin/industries/", ADMIN),
    Page("编辑产业", "/admin/industries/{industry}/edit", ADMIN),
    Page("待归类产业", "/admin/industries/unsorted", ADMIN),
    Page("群机器人", "/admin/channels/", ADMIN),
    Page("新建机器人", "/admin/channels/new", ADMIN),
    Page("编辑机器人", "/admin/channels/{channel}/edit", ADMIN),
    Page("机器人消息", "/admin/channels/messages", ADMIN),
    Page("提醒发送", "/reminders/admin", ADMIN),
    Page("我的提醒", "/reminders/", ALL),
    Page("提醒设置", "/reminders/preferences", ALL),
    Page("修改密码", "/password", ALL),
    Page("API 令牌", "/account/tokens", ALL),
    Page("404", "/leads/99999999", ALL, 404),
    Page("404（未登录）", "/no-such-page", ANON, 404),
    Page("403", "/admin/users", ("officer",), 403),
]


def pages_for(role: str) -> list[Page]:
    return [page for page in PAGES if role in page.roles]


# --- the world -----------------------------------------------------------------------------------

def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 60)).save(out, "JPEG")
    return out.getvalue()


def build_world() -> dict:
    """The factories' world with something on every page: visits, contacts, blockers, funds,
    permits, claims, a dispute, supervision orders, a published bulletin, targets, a red lead,
    screen links, a robot. Returns the names ``PAGES`` fills in."""
    w = factories.build_world()
    reviewer = factories.user("reviewer", "reviewer")
    day = today()
    for officer, lead in ((w.off_a1, w.lead_a), (w.off_b1, w.lead_b)):
        visit = visit_services.log_visit(officer, lead, {
            "kind": "visit", "summary": "与企业负责人面谈，确认用地需求", "visited_on": day})
        lead_services.add_contact(officer, lead, "王经理", "总经理", "13800000000")
        lead_services.add_blocker(officer, lead, "land", "用地指标待落实")
        lead_services.add_funds(officer, lead, day, Decimal("700"))
        permit = permit_services.add_permit(officer, lead, {
            "kind": "environment", "due_on": day - dt.timedelta(days=40),
            "responsible_unit": "区行政审批局", "note": "环评批复"})
        if lead is w.lead_a:
            visit_a, permit_a = visit, permit
    red = factories.lead(w.admin, w.a, name="鲁南超算中心", company="鲁南数据科技有限公司",
                         stage="negotiation", created_on=day - dt.timedelta(days=100),
                         planned_sign_date=day - dt.timedelta(days=45),
                         primary_officer_id=w.off_a1.id)
    signed = factories.lead(w.head_a, w.a, name="新材料产业园", company="山东新材料有限公司",
                            stage="signed", primary_officer_id=w.off_a1.id)
    claim_services.upload_attachment(w.off_a1, signed, _jpeg(), "现场.jpg", "site_photo")
    moveback_services.request_move_back(w.off_a1, signed, "negotiation", "投资方要求重新商谈条款")
    factories.lead(w.head_b, w.b, name="宠物食品出口基地", company="（山东）烟台中宠食品有限公司",
                   primary_officer_id=w.off_b1.id)  # 撞单 with lead_a
    for unit, value in ((w.a, 10), (w.b, 20)):
        target_services.set_targets(w.admin, unit.id, day.year, {"visits": Decimal(value)})
    for metric, value in (("new_leads", 1), ("signed_100m", 10), ("funds_arrived_wan", 150000)):
        db.session.add(Target(township_id=w.a.id, year=day.year, metric=metric, value=value))
    order = supervision_services.issue_order(w.admin, w.lead_a, "yellow", "跟进不及时，请说明情况")
    supervision_services.issue_order(w.admin, red, "red", "签约逾期，请限期推进")
    issue = bulletin_issues.publish(w.admin, day - dt.timedelta(days=1))
    link, screen_token = ScreenLink.issue(w.admin, "区政务服务中心大厅")
    revoked, revoked_token = ScreenLink.issue(w.admin, "旧屏")
    revoked.revoked_at = utcnow()
    db.session.add_all([link, revoked])
    channel = channel_services.add_channel(
        w.admin, name="孟庄镇招商群", kind="wecom", township=w.a,
        url="http://127.0.0.1:9/cgi-bin/webhook/send?key=a11y")
    w.off_a1.reminder_daily = True
    db.session.flush()
    return {
        "lead": w.lead_a.id, "signed": signed.id, "visit": visit_a.id, "unit": w.a.id,
        "company": w.lead_a.company_id,
        "order": order.id, "claim": signed.claims[0].id, "issue": issue.id,
        "dispute": db.session.scalar(sa.select(Dispute.id).limit(1)),
        "permit": permit_a.id, "user": w.off_a2.id, "channel": channel.id,
        "industry": db.session.scalar(sa.select(Industry.id).order_by(Industry.id).limit(1)),
        "screen_token": screen_token, "revoked_token": revoked_token,
        "unsubscribe": unsubscribe_token(w.off_a1, "daily"), "reviewer": reviewer.id,
    }


