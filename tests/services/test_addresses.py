"""The address book: checking, saving, the one default, editing and deleting; the data
migration of addresses saved before the picker."""

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from shop.orders import addresses
from shop.orders.models import Address
from shop.platform.base import utcnow
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from tests.factories import make_user

WEST_LAKE = ("330000", "330100", "330106")
NANSHAN = ("440000", "440300", "440305")


def check(name="王小二", phone="13912345678", region=WEST_LAKE, detail="文三路 90 号"):
    return addresses.check_address(name, phone, *region, detail)


@pytest.mark.parametrize(
    "typed",
    [
        "13912345678",
        "+86 139 1234 5678",
        "139-1234-5678",
        "１３９１２３４５６７８",
        "0086 13912345678",
    ],
)
def test_phone_numbers_are_normalised(typed):
    assert addresses.normalize_phone(typed) == "13912345678"


@pytest.mark.parametrize("typed", ["", "12345", "23912345678", "a@b.cn", "139123456789"])
def test_bad_phone_numbers_are_refused_on_the_phone_field(typed):
    with pytest.raises(ValidationError) as caught:
        addresses.normalize_phone(typed)
    assert caught.value.field == "phone"


def test_the_first_address_is_the_default_and_only_one_stays_default(ctx):
    buyer = make_user()
    first = addresses.save_address(buyer, check(), now=utcnow())
    second = addresses.save_address(buyer, check(region=NANSHAN), now=utcnow())
    assert first.is_default and not second.is_default
    assert addresses.save_address(buyer, check(), now=utcnow()).id == first.id  # no duplicate
    addresses.set_default(second)
    db.session.expire_all()
    assert [a.id for a in addresses.addresses_of(buyer)] == [second.id, first.id]
    defaults = db.session.execute(
        select(Address).where(Address.user_id == buyer.id, Address.is_default.is_(True))
    ).all()
    assert len(defaults) == 1
    assert addresses.default_address(buyer).id == second.id


def test_deleting_the_default_makes_the_newest_other_the_default(ctx):
    buyer = make_user()
    a = addresses.save_address(buyer, check(), now=utcnow())
    b = addresses.save_address(buyer, check(region=NANSHAN), now=utcnow())
    c = addresses.save_address(buyer, check(detail="文二路 1 号"), now=utcnow())
    addresses.delete_address(a)
    db.session.expire_all()
    assert db.session.get(Address, c.id).is_default and not db.session.get(Address, b.id).is_default


def test_editing_picks_new_codes_and_clears_the_legacy_mark(ctx):
    buyer = make_user()
    address = addresses.save_address(buyer, check(), now=utcnow())
    address.is_legacy = True
    addresses.update_address(address, check(region=NANSHAN), make_default=True)
    assert address.region == "广东省 深圳市 南山区" and address.district_code == "440305"
    assert not address.is_legacy and address.is_default


def test_someone_elses_address_is_not_found(ctx):
    owner, other = make_user(), make_user()
    address = addresses.save_address(owner, check(), now=utcnow())
    with pytest.raises(addresses.NotFound):
        addresses.own_address(other, address.id)


def test_old_addresses_are_kept_as_legacy_and_old_orders_get_no_shipping(app):
    with app.app_context():
        user_id = make_user().id
        db.session.commit()
        downgrade(revision="689f6ecba346")
        with db.engine.begin() as conn:
            for i, region in ((1, "浙江 杭州"), (2, "上海 徐汇")):
                conn.execute(
                    text(
                        "INSERT INTO addresses (id, user_id, name, phone, region, detail,"
                        " created_at) VALUES (:i, :u, '王', '13912345678', :r, '文三路 90 号',"
                        " CURRENT_TIMESTAMP)"
                    ),
                    {"i": i, "u": user_id, "r": region},
                )
        upgrade()
        rows = db.session.execute(
            select(Address.id, Address.region, Address.is_legacy, Address.is_default).order_by(
                Address.id
            )
        ).all()
        assert rows == [(1, "浙江 杭州", True, False), (2, "上海 徐汇", True, True)]
        db.session.rollback()


def test_address_rules():
    address = addresses.check_address(
        " 王 小二 ", "+86 139-1234-5678", "330000", "330100", "330106", "文三路 90 号"
    )
    assert address.phone == "13912345678" and address.region == "浙江省 杭州市 西湖区"
    assert address.region_code == "330106"
    west_lake = ("330000", "330100", "330106")
    for bad, field in (
        (("", "13912345678", *west_lake, "文三路 90 号"), "name"),
        (("王", "1391234567", *west_lake, "文三路 90 号"), "phone"),
        (("王", "23912345678", *west_lake, "文三路 90 号"), "phone"),
        (("王", "13912345678", "", "", "", "文三路 90 号"), "province"),
        (("王", "13912345678", "330000", "", "", "文三路 90 号"), "city"),
        (("王", "13912345678", "330000", "440300", "", "文三路 90 号"), "city"),
        (("王", "13912345678", "330000", "330100", "", "文三路 90 号"), "district"),
        (("王", "13912345678", "330000", "330100", "440305", "文三路 90 号"), "district"),
        (("王", "13912345678", *west_lake, "短"), "detail"),
    ):
        with pytest.raises(ValidationError) as caught:
            addresses.check_address(*bad)
        assert caught.value.field == field
