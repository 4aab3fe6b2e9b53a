"""A buyer's address book: several addresses, one of them the default, each with a province,
city and district picked from the national divisions (shop.orders.regions)."""

import unicodedata
from dataclasses import dataclass
from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, bindparam, case, func, select, update

from shop.accounts.accounts import normalize_account
from shop.accounts.models import User
from shop.orders import regions
from shop.orders.models import Address
from shop.platform.errors import NotFound, ValidationError
from shop.platform.extensions import db

MAX_ADDRESSES = 20


@dataclass(frozen=True)
class ShippingAddress:
    name: str
    phone: str
    region: str  #: the names as text, "浙江省 杭州市 西湖区"
    detail: str
    province_code: str = ""
    city_code: str = ""
    district_code: str = ""

    @property
    def region_code(self) -> str:
        """The deepest code picked ("" for an address from before the picker)."""
        return self.district_code or self.city_code or self.province_code


def normalize_phone(raw: str) -> str:
    """A mainland mobile number as 11 digits: full-width digits, spaces, dashes, brackets and
    +86 / 0086 allowed; ValidationError for the ``phone`` field otherwise."""
    value = unicodedata.normalize("NFKC", raw or "").strip()
    message = _l("Enter an 11-digit mainland mobile number, e.g. 13800138000.")
    if "@" in value:
        raise ValidationError(message, "phone")
    try:
        _kind, digits = normalize_account(value)
    except ValidationError:
        raise ValidationError(message, "phone") from None
    return digits


FIELD_MESSAGES = {
    "province": _l("Choose the province."),
    "city": _l("Choose the city."),
    "district": _l("Choose the district."),
}


def check_address(
    name: str, phone: str, province: str, city: str, district: str, detail: str
) -> ShippingAddress:
    """Cleaned address fields; ValidationError naming the first bad field ("name", "phone",
    "province", "city", "district", "detail"). The region must be picked from the national
    divisions, each level the child of the one before."""
    name = " ".join((name or "").split())
    detail = " ".join((detail or "").split())
    if not name or len(name) > 40:
        raise ValidationError(_l("Enter the recipient's name (at most 40 characters)."), "name")
    phone = normalize_phone(phone)
    chosen = regions.check_choice(province or "", city or "", district or "")
    if isinstance(chosen, str):
        raise ValidationError(FIELD_MESSAGES[chosen], chosen)
    if len(detail) < 4 or len(detail) > 200:
        raise ValidationError(
            _l("Enter the street and house number (4 to 200 characters)."), "detail"
        )
    return ShippingAddress(
        name, phone, chosen.text, detail, chosen.province, chosen.city, chosen.district
    )


def as_shipping(address: Address) -> ShippingAddress:
    return ShippingAddress(
        address.name,
        address.phone,
        address.region,
        address.detail,
        address.province_code,
        address.city_code,
        address.district_code,
    )


@cache
def _addresses() -> Select:
    """addresses_of's statement, built once at its first use (every checkout asks, and
    building a statement costs more Python than running it)."""
    return (
        select(Address)
        .where(Address.user_id == bindparam("user_id"))
        .order_by(Address.is_default.desc(), Address.id.desc())
    )


def addresses_of(user: User) -> list[Address]:
    """The buyer's addresses, the default first, then the newest."""
    return list(db.session.execute(_addresses(), {"user_id": user.id}).scalars())


@cache
def _address_rows() -> Select:
    """address_rows' statement, built once: addresses_of's, of the table's columns."""
    return (
        select(*Address.__table__.c)
        .where(Address.user_id == bindparam("user_id"))
        .order_by(Address.is_default.desc(), Address.id.desc())
    )


def address_rows(user: User) -> list:
    """addresses_of as read-only rows with the same attributes (``id``, ``name``, ``region``,
    ``province_code``, ``is_legacy``...), read fresh; for pages that only read them (the
    checkout: every checkout asks, and ORM objects cost it more than the query). Nothing
    pending needs flushing first: the caller writes no address before it reads them."""
    return list(db.session.connection().execute(_address_rows(), {"user_id": user.id}))


def default_address(user: User) -> Address | None:
    return db.session.execute(
        select(Address)
        .where(Address.user_id == user.id)
        .order_by(Address.is_default.desc(), Address.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def own_address(user: User, address_id: int | None) -> Address:
    address = db.session.get(Address, address_id or 0)
    if address is None or address.user_id != user.id:
        raise NotFound(_l("This address does not exist."))
    return address


def _fields(address: ShippingAddress) -> dict:
    return {
        "name": address.name,
        "phone": address.phone,
        "region": address.region,
        "detail": address.detail,
        "province_code": address.province_code,
        "city_code": address.city_code,
        "district_code": address.district_code,
    }


@cache
def _book_and_match():
    """save_address's one query, built once: how many addresses the buyer has, and the id of
    the one with every field as given (None when there is none)."""
    same = and_(*(getattr(Address, k) == bindparam(f"same_{k}") for k in _FIELD_NAMES))
    return select(func.count(Address.id), func.max(case((same, Address.id)))).where(
        Address.user_id == bindparam("user_id")
    )


_FIELD_NAMES = ("name", "phone", "region", "detail", "province_code", "city_code", "district_code")


def save_address(
    user: User, address: ShippingAddress, *, now, make_default: bool = False
) -> Address:
    """Keep the address in the book, unless the same one is there already. The first address
    becomes the default, as does one saved with ``make_default``."""
    fields = _fields(address)
    count, same_id = db.session.execute(
        _book_and_match(), {"user_id": user.id, **{f"same_{k}": v for k, v in fields.items()}}
    ).one()
    if same_id is not None:
        existing = db.session.get(Address, same_id)  # held already when the book was read
        if make_default:
            set_default(existing)
        return existing
    if count >= MAX_ADDRESSES:
        raise ValidationError(
            _l("At most %(n)d addresses. Delete one first.", n=MAX_ADDRESSES), "name"
        )
    # The first address is the default from the start: there is no other to clear.
    saved = Address(user_id=user.id, created_at=now, is_default=count == 0, **fields)
    db.session.add(saved)
    db.session.flush()
    if make_default and count > 0:
        set_default(saved)
    return saved


def update_address(address: Address, new: ShippingAddress, *, make_default: bool) -> Address:
    for key, value in _fields(new).items():
        setattr(address, key, value)
    address.is_legacy = False
    db.session.flush()
    if make_default:
        set_default(address)
    return address


def set_default(address: Address) -> None:
    """Make ``address`` its owner's only default (the old one cleared first: a unique index
    allows one default per buyer)."""
    db.session.execute(
        update(Address)
        .where(Address.user_id == address.user_id, Address.is_default.is_(True))
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    db.session.execute(
        update(Address)
        .where(Address.id == address.id)
        .values(is_default=True)
        .execution_options(synchronize_session="fetch")
    )
    db.session.flush()


def delete_address(address: Address) -> None:
    """Delete it; when it was the default, the newest other address becomes the default.
    Orders keep their own copy of the address."""
    user_id, was_default = address.user_id, address.is_default
    db.session.delete(address)
    db.session.flush()
    if was_default:
        newest = db.session.execute(
            select(Address).where(Address.user_id == user_id).order_by(Address.id.desc()).limit(1)
        ).scalar_one_or_none()
        if newest is not None:
            set_default(newest)
