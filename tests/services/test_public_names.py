"""Names that read as the platform speaking (平台管理员, 官方客服, admin, ...) are kept for
administrators: one rule (accounts.check_public_name) for display names and shop names."""

from datetime import datetime

import pytest

from shop.accounts import accounts
from shop.platform.errors import ValidationError
from shop.sharing import shops
from tests.factories import make_user

NOW = datetime(2026, 11, 24, 8, 0, 0)

RESERVED = [
    "平台管理员",
    "官方客服",
    "管理员",
    "客服",
    "官方",
    "admin",
    "Administrator",
    "Fenxiang official",
    "分享小店官方",
    # Spelled around: spaces, punctuation, full-width letters, case, a word inside a name.
    "官 方 客 服",
    "官·方",
    "ＡＤＭＩＮ",
    "a d m i n",
    "小美（客服）",
    "Admin小美",
    "xiaomei_admin",
    "FenXiang-Official",
    "分享小店 官方 旗舰",
    "平台管理員",
]
ALLOWED = ["小美", "阿杰的数码角", "Badminton 小店", "管家小美", "方圆客栈", "Fenxiang fan"]


@pytest.mark.parametrize("name", RESERVED)
def test_reserved_words_are_refused_to_everyone_but_admins(name):
    with pytest.raises(ValidationError) as refused:
        accounts.check_public_name(name, field="display_name", by_admin=False)
    assert refused.value.field == "display_name"
    accounts.check_public_name(name, field="display_name", by_admin=True)


@pytest.mark.parametrize("name", ALLOWED)
def test_ordinary_names_pass(name):
    accounts.check_public_name(name, field="name", by_admin=False)


def test_sign_up_refuses_a_reserved_display_name_but_an_admin_may_have_one(ctx):
    with pytest.raises(ValidationError) as refused:
        accounts.register_user(
            account="13800138000", display_name="官方客服", password="tea-and-cake-7", now=NOW
        )
    assert refused.value.field == "display_name"
    admin = accounts.create_admin(
        account="13800138001", display_name="平台管理员", password="tea-and-cake-7", now=NOW
    )
    assert admin.is_admin and admin.display_name == "平台管理员"


def test_shop_names_follow_the_same_rule(ctx):
    sharer, admin = make_user(), make_user(is_admin=True)
    with pytest.raises(ValidationError) as refused:
        shops.save_shop(
            sharer, name="分享小店官方", slug="guanfang", intro="", avatar=None, now=NOW
        )
    assert refused.value.field == "name"
    assert shops.shop_of(sharer) is None
    shop = shops.save_shop(
        admin, name="分享小店官方", slug="guanfang", intro="", avatar=None, now=NOW
    )
    assert shop.name == "分享小店官方"
