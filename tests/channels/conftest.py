"""Channels fixtures: a fake robot on loopback, channels pointing at it, mobiles on the world."""

import pytest

from crm.channels import services
from crm.extensions import db
from tests.channels.robot import Robot

SECRET = "SECtest0123456789abcdefABCDEF0123456789abcdefABCDEF0123456789ab"
KEYWORD = "招商"


@pytest.fixture
def app_config():
    return {"CRM_WEBHOOK_CONNECT_TIMEOUT": 1, "CRM_WEBHOOK_READ_TIMEOUT": 1}


@pytest.fixture
def robot():
    server = Robot().start()
    yield server
    server.stop()


@pytest.fixture
def cw(world, robot):
    """The world with mobiles on unit a's officers, and channels at the fake robot: unit a on
    WeCom and on DingTalk (signed, with a keyword), unit b on WeCom, the district on DingTalk."""
    world.off_a1.mobile = "13800000001"
    world.off_a2.mobile = "13900000002"
    robot.secrets["ding-a"] = SECRET
    robot.keywords["ding-a"] = KEYWORD
    world.wecom_a = services.add_channel(None, name="孟庄镇企业微信群", kind="wecom",
                                         url=robot.wecom_url("wecom-a"), township=world.a)
    world.ding_a = services.add_channel(None, name="孟庄镇钉钉群", kind="dingtalk",
                                        url=robot.dingtalk_url("ding-a"), township=world.a,
                                        secret=SECRET, keyword=KEYWORD)
    world.wecom_b = services.add_channel(None, name="税郭镇企业微信群", kind="wecom",
                                         url=robot.wecom_url("wecom-b"), township=world.b)
    world.district = services.add_channel(None, name="全区钉钉群", kind="dingtalk",
                                          url=robot.dingtalk_url("ding-district"), township=None)
    db.session.commit()
    return world
