"""Forms of the claim pages: an evidence upload, a review, a resubmission."""

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from crm.claims.models import ATTACHMENT_KIND_LABELS, ATTACHMENT_KINDS
from crm.inputs import InputForm

KIND_CHOICES = [SelectChoice(k, ATTACHMENT_KIND_LABELS[k]) for k in ATTACHMENT_KINDS]


class UploadForm(InputForm):
    #: One of two inputs is used: a file chosen, or a photo taken with the phone's camera.
    file = FileField(_l("选择文件"))
    photo = FileField(_l("拍照上传"))
    kind = SelectField(_l("材料类型"), choices=KIND_CHOICES,
                       default="site_photo")
    #: Optional: the claim the file is evidence for.
    claim_id = HiddenField()


class ReviewForm(InputForm):
    #: The button pressed: ``verify`` (通过) or ``return`` (退回).
    decision = StringField()
    opinion = TextAreaField(_l("审核意见"), validators=[Optional(), Length(max=2000)])


class ResubmitForm(InputForm):
    file = FileField(_l("补充材料"))
    photo = FileField(_l("拍照上传"))
    #: Used only with a file; a resubmission without one (evidence added before) needs none.
    kind = SelectField(_l("材料类型"), choices=KIND_CHOICES,
                       default="other")
