"""A supervision order as a Word document (督办单, A4, red header)."""

from flask_babel import gettext as _

from crm import word
from crm.clock import local_time
from crm.supervision.models import SupervisionOrder


def order_docx(order: SupervisionOrder) -> bytes:
    document = word.new_document()
    word.red_header(document, _("市中区招商引资项目督办单"),
                    _("市中招商督〔%(y)s〕第%(n)s号", y=order.year, n=order.number),
                    order.level_label)
    lead = order.lead
    rows = [
        [_("编号"), order.number_text],
        [_("督办级别"), order.level_label],
        [_("承办单位"), order.township.name],
        [_("项目名称"), lead.name],
        [_("投资方"), lead.company],
        [_("督办事由"), order.reason],
        [_("下发日期"), order.issued_on.isoformat()],
        [_("办理期限"), order.due_on.isoformat()],
        [_("状态"), order.status_label],
    ]
    if order.status == "closed":
        rows.append([_("办结意见"), order.closed_note])
    fill = {"yellow": "yellow", "red": "red", "talk": "red"}[order.level]
    word.table(document, [_("项目"), _("内容")], rows,
               [{1: fill} if i == 1 else {} for i in range(len(rows))])
    word.heading(document, _("答复情况"))
    if order.answers:
        word.table(document, [_("答复时间"), _("答复人"), _("整改措施和进展"), _("佐证材料")], [
            [local_time(a.at).strftime("%Y-%m-%d %H:%M"), a.by.display_name if a.by else "",
             a.text, "、".join(f.filename for f in a.files)] for a in order.answers])
    else:
        word.paragraph(document, _("尚未答复。请承办单位于办理期限前书面答复整改措施和进展。"))
    return word.to_bytes(document)
