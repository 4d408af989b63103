"""The demo district's 待核验 queue: a few pending claims with photos, one returned, one photo
reused on two leads; every other demo milestone verified as history (历史数据)."""

import datetime as dt
import io

import sqlalchemy as sa

from crm.claims import services
from crm.claims.models import STAGE_CLAIMS, Claim, ClaimReview
from crm.clock import utcnow
from crm.extensions import db

HISTORY = "历史数据"


def demo_photo(seed: int, taken: dt.datetime) -> bytes:
    """A small JPEG (made with Pillow at seed time) carrying its capture time in EXIF."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (480, 360), (120 + seed * 17 % 100, 140, 110 + seed * 29 % 120))
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 180, 440, 330), fill=(150, 150, 150))
    draw.rectangle((60 + seed * 20 % 200, 90, 200 + seed * 20 % 200, 180), fill=(200, 120, 60))
    exif = Image.Exif()
    stamp = taken.strftime("%Y:%m:%d %H:%M:%S")
    exif[0x0132] = stamp  # DateTime
    exif[0x9003] = stamp  # DateTimeOriginal
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80, exif=exif)
    return out.getvalue()


def build_queue(reviewer, pending: int = 6) -> None:
    """Turn the demo's freshly made claims into a realistic queue (adds and flushes)."""
    claims = db.session.scalars(
        sa.select(Claim).where(Claim.status == "pending").order_by(Claim.effective_on, Claim.id)
    ).all()
    recent = [c for c in claims if c.kind in STAGE_CLAIMS and c.kind != "signed"][-pending:]
    keep = {c.id for c in recent}
    now = utcnow()
    for claim in claims:
        if claim.id in keep:
            continue
        claim.status, claim.decided_at = "verified", now
        claim.verified_on = claim.effective_on  # history: counted from its own date
        db.session.add(ClaimReview(claim=claim, decision="verify", opinion=HISTORY, by_id=None,
                                   at=now))
    db.session.flush()
    shared = None
    for i, claim in enumerate(recent):
        taken = dt.datetime.combine(claim.effective_on, dt.time(10, 15 + i))
        data = demo_photo(i, taken)
        if i == 3 and shared is not None:
            data = shared  # the same photo claimed for two leads: shown as reused
        shared = shared or data
        uploader = claim.lead.primary_officer or claim.submitted_by
        attachment = services.upload_attachment(uploader, claim.lead, data, f"现场照片{i + 1}.jpg",
                                                "site_photo")
        services.add_evidence(uploader, claim, attachment)
        if i == 1 and reviewer is not None:
            services.review(reviewer, claim, "return",
                            "照片看不出开工迹象，请补充施工许可证或带日期的现场全景照片。")
    db.session.flush()
