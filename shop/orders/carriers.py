"""The common Chinese parcel carriers (a vendored list): their codes, names, Kuaidi100 company
codes, loose tracking-number patterns and public tracking pages.

An order stores the carrier's ``code`` (``SF``, ``ZTO`` ...). Orders shipped before this list
existed hold the carrier's name as it was typed; :func:`label` shows those as they are.
Tracking numbers are checked loosely (letters and digits, a length range per carrier): the
carriers change their formats, and a merchant should never be stuck with a real parcel.
"""

import re
from dataclasses import dataclass
from urllib.parse import quote

from flask_babel import lazy_gettext as _l

from shop.platform.errors import ValidationError


@dataclass(frozen=True)
class Carrier:
    code: str  #: what an order stores, and what the bulk CSV names
    name: str  #: shown to people (the carriers' own Chinese names)
    kuaidi100: str  #: the company code of Kuaidi100's query API
    min_len: int
    max_len: int
    #: the carrier's own public tracking page, ``{number}`` filled in; "" when it has none that
    #: takes a number in its address (Kuaidi100's public query page is used then)
    page: str = ""
    aliases: tuple[str, ...] = ()


#: Kuaidi100's public query page, for carriers without their own page that takes a number.
KUAIDI100_PAGE = "https://www.kuaidi100.com/chaxun?com={com}&nu={number}"

CARRIERS: tuple[Carrier, ...] = (
    Carrier("SF", "顺丰速运", "shunfeng", 10, 20,
            "https://www.sf-express.com/chn/sc/waybill/waybill-detail/{number}",
            ("顺丰", "顺丰快递", "SF Express")),
    Carrier("ZTO", "中通快递", "zhongtong", 10, 20, aliases=("中通",)),
    Carrier("YTO", "圆通速递", "yuantong", 10, 20, aliases=("圆通", "圆通快递")),
    Carrier("YD", "韵达快递", "yunda", 10, 20, aliases=("韵达",)),
    Carrier("STO", "申通快递", "shentong", 10, 20, aliases=("申通",)),
    Carrier("JTSD", "极兔速递", "jtexpress", 10, 20, aliases=("极兔", "J&T")),
    Carrier("EMS", "中国邮政 EMS", "ems", 10, 20, aliases=("邮政", "EMS", "中国邮政")),
    Carrier("YZPY", "邮政快递包裹", "youzhengguonei", 10, 20, aliases=("邮政包裹",)),
    Carrier("JD", "京东物流", "jd", 10, 20, aliases=("京东", "京东快递")),
    Carrier("DBL", "德邦快递", "debangkuaidi", 8, 20, aliases=("德邦", "德邦物流")),
    Carrier("HTKY", "百世快递", "huitongkuaidi", 10, 20, aliases=("百世",)),
    Carrier("ZJS", "宅急送", "zhaijisong", 10, 20),
    Carrier("DNWL", "丹鸟", "danniao", 10, 20),
    Carrier("KYSY", "跨越速运", "kuayue", 8, 20, aliases=("跨越",)),
    Carrier("CNSD", "菜鸟速递", "cainiaoexpress", 10, 20, aliases=("菜鸟",)),
)  # fmt: skip

_BY_KEY: dict[str, Carrier] = {}
for _c in CARRIERS:
    for _key in (_c.code, _c.name, *_c.aliases):
        _BY_KEY[_key.strip().upper()] = _c

_NUMBER = re.compile(r"[A-Z0-9]+")


def find(code_or_name: str | None) -> Carrier | None:
    """The carrier by its code, name or a common alias (any case), or None."""
    return _BY_KEY.get(" ".join((code_or_name or "").split()).upper())


def normalize_number(number: str | None) -> str:
    """The tracking number as carriers print it: no spaces, upper case."""
    return "".join((number or "").split()).upper()


def number_ok(carrier: Carrier, number: str) -> bool:
    """Whether ``number`` (normalized) looks like one of ``carrier``'s tracking numbers."""
    return bool(_NUMBER.fullmatch(number)) and carrier.min_len <= len(number) <= carrier.max_len


def checked(carrier: str, number: str) -> tuple[Carrier, str]:
    """The carrier chosen and its tracking number (normalized), or a ValidationError on the
    field at fault: ``carrier`` or ``tracking``. Shipping and returns check alike."""
    found = find(carrier)
    if found is None:
        raise ValidationError(_l("Choose the carrier from the list."), "carrier")
    number = normalize_number(number)
    if not number_ok(found, number):
        raise ValidationError(
            _l(
                "Enter the tracking number: %(min)s to %(max)s letters or digits.",
                min=found.min_len,
                max=found.max_len,
            ),
            "tracking",
        )
    return found, number


def label(stored: str) -> str:
    """What to show for an order's stored carrier: the name for a code, else the text as is."""
    carrier = find(stored)
    return carrier.name if carrier is not None else stored


def tracking_url(stored: str, number: str) -> str:
    """The public page where anyone can follow the parcel, or "" for an unknown carrier."""
    carrier = find(stored)
    if carrier is None or not number:
        return ""
    if carrier.page:
        return carrier.page.format(number=quote(number, safe=""))
    return KUAIDI100_PAGE.format(com=carrier.kuaidi100, number=quote(number, safe=""))
