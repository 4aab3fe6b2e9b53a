"""The demo's story as data: who follows which share link and buys what, when, and what happens
to each order after (paid, shipped, refunded, settled ...), the payouts 小美 asks for, and each
buyer's address and phone. ``shop.demo.orders`` plays it through the real services. A data table
more than code, kept in one file so the story reads in order."""

from dataclasses import dataclass
from datetime import timedelta

from shop.sharing.models import Channel


def ago(days: int = 0, hours: int = 0, minutes: int = 0) -> timedelta:
    return timedelta(days=days, hours=hours, minutes=minutes)


after = ago  # the same thing read forwards: a step's time after its order was placed


@dataclass(frozen=True)
class Visit:
    """A follow of a share link, ``before`` the order was placed. ``product`` is the link's
    target; None means the ordered product."""

    shop: str
    channel: Channel
    before: timedelta
    product: tuple[str, int] | None = None


@dataclass(frozen=True)
class Step:
    """Something done to the order ``after`` it was placed.

    pay, ship (text: carrier, detail: tracking number), confirm, cancel, timeout (the payment
    sweep just after the deadline; ``after`` is not used), refund (text: the buyer's reason),
    approve / reject (a merchant's answer to a refund; text: note), settle (the rebate
    settlement run)."""

    action: str
    after: timedelta = timedelta(0)
    text: str = ""
    detail: str = ""


@dataclass(frozen=True)
class DemoOrder:
    key: str
    buyer: str  #: account
    product: tuple[str, int]  #: (merchant name, index in demo.PRODUCTS)
    quantity: int
    placed: timedelta  #: how long before the seed's ``now``
    visits: tuple[Visit, ...] = ()
    steps: tuple[Step, ...] = ()
    provider: str = "sandbox"


SF, ZTO = "顺丰速运", "中通快递"
TEA, BEAUTY, HOME, BABY, DIGITAL = "山野茶舍", "清禾美妆", "简屋家居", "小象母婴", "极光数码"
XIAOMEI, WANG = "xiaomei", "teacher-wang"
BUYER, AUNTIE, ZHAO, SHARER = "13800000004", "13800000031", "13800000032", "13800000003"
AJIE, TEACHER = "13800000021", "13800000022"  #: the other two sharers buy things too

#: One order per entry, in the order they were placed; the comment says where each one ends.
# fmt: off
ORDERS = (
    # Refunded after its rebate settled: the settled rebate is clawed back.
    DemoOrder(
        "demo-order-12", BUYER, (BEAUTY, 0), 1, ago(34),
        visits=(Visit(XIAOMEI, Channel.WECHAT_GROUP, ago(hours=2)),),
        steps=(
            Step("pay", after(minutes=2)),
            Step("ship", after(days=1), SF, "SF1402733901551"),
            Step("confirm", after(days=2, hours=6)),
            Step("settle", after(days=9, hours=8)),
            Step("refund", after(days=24), "用了两周脸上起了红疹，想退货。"),
            Step("approve", after(days=25), "已同意退款，给您添麻烦了。"),
        ),
    ),
    # 王老师 buys the tea he recommends for himself, from the product page: no link, no rebate.
    DemoOrder(
        "demo-order-17", TEACHER, (TEA, 0), 2, ago(33),
        steps=(
            Step("pay", after(minutes=6)),
            Step("ship", after(days=1), SF, "SF1402733874409"),
            Step("confirm", after(days=4)),
        ),
    ),
    # Completed and settled for 王老师 (周阿姨 reviews it with photos; the merchant replies).
    DemoOrder(
        "demo-order-18", AUNTIE, (TEA, 0), 1, ago(31),
        visits=(Visit(WANG, Channel.WECHAT_GROUP, ago(hours=2)),),
        steps=(
            Step("pay", after(minutes=3)),
            Step("ship", after(days=1), SF, "SF1402733896142"),
            Step("confirm", after(days=3)),
            Step("settle", after(days=10, hours=2)),
        ),
    ),
    # Completed, return window passed, rebate settled.
    DemoOrder(
        "demo-order-05", BUYER, (BEAUTY, 2), 2, ago(30),
        visits=(Visit(XIAOMEI, Channel.WECHAT_GROUP, ago(hours=1)),),
        steps=(
            Step("pay", after(minutes=2)),
            Step("ship", after(days=1), SF, "SF1402733917726"),
            Step("confirm", after(days=3)),
            Step("settle", after(days=10, hours=2)),
        ),
    ),
    # Completed and settled, from a scan of 小美's poster.
    DemoOrder(
        "demo-order-06", AUNTIE, (BEAUTY, 0), 1, ago(28),
        visits=(Visit(XIAOMEI, Channel.POSTER, ago(minutes=10)),),
        steps=(
            Step("pay", after(minutes=3)),
            Step("ship", after(days=1), ZTO, "75312458869201"),
            Step("confirm", after(days=4)),
            Step("settle", after(days=11, hours=3)),
        ),
    ),
    # Bought directly; the fan stops within days (a 1-star review the merchant reports).
    DemoOrder(
        "demo-order-19", AUNTIE, (DIGITAL, 5), 1, ago(27),
        steps=(
            Step("pay", after(minutes=2)),
            Step("ship", after(days=1), ZTO, "75312458730164"),
            Step("confirm", after(days=3)),
        ),
    ),
    # Completed and settled for the other sharer, 王老师.
    DemoOrder(
        "demo-order-07", ZHAO, (TEA, 1), 1, ago(26),
        visits=(Visit(WANG, Channel.WECHAT_GROUP, ago(hours=3)),),
        steps=(
            Step("pay", after(minutes=4)),
            Step("ship", after(days=1), SF, "SF1402734022318"),
            Step("confirm", after(days=3)),
            Step("settle", after(days=10, hours=2)),
        ),
    ),
    # Bought directly, completed (an anonymous review).
    DemoOrder(
        "demo-order-20", ZHAO, (TEA, 0), 1, ago(22),
        steps=(
            Step("pay", after(minutes=8)),
            Step("ship", after(days=1), SF, "SF1402734391587"),
            Step("confirm", after(days=3)),
        ),
    ),
    # Bought directly, completed (a 2-star review the merchant answers).
    DemoOrder(
        "demo-order-21", AJIE, (TEA, 0), 1, ago(20),
        steps=(
            Step("pay", after(minutes=1)),
            Step("ship", after(days=1), ZTO, "75312459906235"),
            Step("confirm", after(days=3)),
        ),
    ),
    # The only click is 20 days old: outside the 15-day window, nobody earns.
    DemoOrder(
        "demo-order-15", ZHAO, (BEAUTY, 0), 1, ago(18),
        visits=(Visit(XIAOMEI, Channel.MOMENTS, ago(days=20)),),
        steps=(
            Step("pay", after(minutes=3)),
            Step("ship", after(days=1), ZTO, "75312460113752"),
            Step("confirm", after(days=3)),
        ),
    ),
    # Bought directly, completed (an abusive review that an admin hides).
    DemoOrder(
        "demo-order-22", AJIE, (HOME, 2), 1, ago(16),
        steps=(
            Step("pay", after(minutes=2)),
            Step("ship", after(days=1), ZTO, "75312460452871"),
            Step("confirm", after(days=3)),
        ),
    ),
    # 小美 buys through her own link: a self-purchase (earns while the platform allows it).
    DemoOrder(
        "demo-order-14", SHARER, (HOME, 4), 2, ago(14),
        visits=(Visit(XIAOMEI, Channel.WECHAT_GROUP, ago(minutes=5)),),
        steps=(
            Step("pay", after(minutes=2)),
            Step("ship", after(days=1), SF, "SF1402735120954"),
            Step("confirm", after(days=3)),
            Step("settle", after(days=10, hours=2)),
        ),
    ),
    # Refunded before shipping, before settlement: the estimated rebate is voided.
    DemoOrder(
        "demo-order-11", AUNTIE, (BEAUTY, 2), 1, ago(12),
        visits=(Visit(XIAOMEI, Channel.MOMENTS, ago(minutes=40)),),
        steps=(
            Step("pay", after(minutes=2)),
            Step("refund", after(hours=1), "拍错了，本来想买洁面乳。"),
            Step("approve", after(hours=5), "已退款，欢迎再来。"),
        ),
    ),
    # Completed inside the return window: the rebate is still estimated. 王老师 was clicked
    # first, 小美 last: the last click wins and 王老师 sees "overwritten".
    DemoOrder(
        "demo-order-04", AUNTIE, (BABY, 0), 2, ago(9),
        visits=(
            Visit(WANG, Channel.WECHAT_GROUP, ago(days=3), product=(BABY, 3)),
            Visit(XIAOMEI, Channel.MOMENTS, ago(minutes=30)),
        ),
        steps=(
            Step("pay", after(minutes=5)),
            Step("ship", after(days=1), ZTO, "75312461207430"),
            Step("confirm", after(days=4)),
        ),
    ),
    # No click at all: bought directly, paid by transfer that the merchant confirmed.
    DemoOrder(
        "demo-order-16", BUYER, (TEA, 3), 1, ago(8),
        provider="manual",
        steps=(
            Step("pay", after(minutes=25)),
            Step("ship", after(days=1), ZTO, "75312461598817"),
            Step("confirm", after(days=4)),
        ),
    ),
    # Refund asked while in transit, rejected by the merchant (the buyer can still confirm).
    DemoOrder(
        "demo-order-13", BUYER, (BABY, 0), 1, ago(7),
        visits=(Visit(XIAOMEI, Channel.MOMENTS, ago(hours=1)),),
        steps=(
            Step("pay", after(minutes=4)),
            Step("ship", after(days=1), ZTO, "75312461874526"),
            Step("refund", after(days=5), "快递太慢了，不想要了。"),
            Step(
                "reject",
                after(days=5, hours=6),
                "包裹已到您所在城市，明天就能送到；收到后不满意可以再申请退货。",
            ),
        ),
    ),
    # Cancelled by the buyer before paying.
    DemoOrder(
        "demo-order-08", BUYER, (HOME, 4), 1, ago(6),
        visits=(Visit(XIAOMEI, Channel.MOMENTS, ago(minutes=30)),),
        steps=(Step("cancel", after(minutes=10)),),
    ),
    # Refund requested after shipping; waiting for 山野茶舍老陈 to decide.
    DemoOrder(
        "demo-order-10", BUYER, (TEA, 5), 3, ago(5),
        visits=(Visit(XIAOMEI, Channel.WECHAT_GROUP, ago(hours=2)),),
        steps=(
            Step("pay", after(minutes=3)),
            Step("ship", after(days=1), ZTO, "75312462330918"),
            Step("refund", after(days=4), "外箱压坏了，有两包茶包受潮。"),
        ),
    ),
    # Never paid: cancelled by the payment sweep at its deadline.
    DemoOrder(
        "demo-order-09", ZHAO, (TEA, 0), 2, ago(4),
        visits=(Visit(WANG, Channel.WECHAT_GROUP, ago(minutes=15)),),
        steps=(Step("timeout"),),
    ),
    # Shipped, on its way.
    DemoOrder(
        "demo-order-03", BUYER, (BEAUTY, 0), 1, ago(3),
        visits=(Visit(XIAOMEI, Channel.WECHAT_GROUP, ago(hours=2)),),
        steps=(
            Step("pay", after(minutes=3)),
            Step("ship", after(hours=20), SF, "SF1402736688201"),
        ),
    ),
    # Paid, waiting for 山野茶舍 to ship.
    DemoOrder(
        "demo-order-02", BUYER, (TEA, 0), 1, ago(1, hours=3),
        visits=(Visit(WANG, Channel.WECHAT_GROUP, ago(hours=1)),),
        steps=(Step("pay", after(minutes=4)),),
    ),
    # Just placed, awaiting payment (its deadline is still ahead).
    DemoOrder(
        "demo-order-01", BUYER, (TEA, 5), 2, ago(minutes=3),
        visits=(Visit(XIAOMEI, Channel.MOMENTS, ago(minutes=20)),),
    ),
)
# fmt: on


@dataclass(frozen=True)
class DemoPayout:
    key: str
    amount_cents: int
    requested: timedelta  #: how long before the seed's ``now``
    decided: timedelta
    paid: bool
    text: str  #: the transfer's reference, or why it was rejected


PAYOUT_ACCOUNT = ("alipay", "林小美", "13800000003")
PAYOUT_ACCOUNT_SAVED = ago(20)
#: 小美's; no open request is left, so the demo sharer can make one herself.
PAYOUTS = (
    DemoPayout("demo-payout-01", 6000, ago(15), ago(14), True, "20880041527736190358"),
    DemoPayout(
        "demo-payout-02", 2500, ago(3), ago(2), False,
        "收款支付宝账户被限制收款，请解除限制后重新申请。",
    ),
)  # fmt: skip

#: (name, phone, province, city, district codes (GB/T 2260), street and number).
ADDRESSES = {
    BUYER: ("李同学", "13800000004", "330000", "330100", "330106", "浙大紫金港校区 蓝田 3 舍 502"),
    AUNTIE: ("周阿姨", "13800000031", "310000", "310100", "310104", "漕溪北路 88 弄 12 号 601 室"),
    ZHAO: ("赵先生", "13800000032", "440000", "440300", "440305", "深南大道 9999 号 A 座 12 楼"),
    SHARER: ("林小美", "13800000003", "320000", "320500", "320506", "星湖街 328 号 5 栋 1201"),
    AJIE: ("陈杰", "13800000021", "110000", "110100", "110108", "西北旺东路 10 号院 中关村软件园"),
    TEACHER: (
        "王建华",
        "13800000022",
        "330000",
        "330100",
        "330105",
        "文晖路 11 号教师公寓 2 幢 301",
    ),
}
#: (User-Agent, address) each buyer's phone sends.
DEVICES = {
    BUYER: (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x18003237) NetType/WIFI "
        "Language/zh_CN",
        "203.0.113.24",
    ),
    AUNTIE: (
        "Mozilla/5.0 (Linux; Android 13; V2227A Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/111.0.5563.116 Mobile Safari/537.36 XWEB/5169 "
        "MMWEBSDK/20230805 MicroMessenger/8.0.42.2460(0x28002A37) WeChat/arm64 Weixin "
        "NetType/4G Language/zh_CN",
        "198.51.100.31",
    ),
    ZHAO: (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2f) NetType/4G "
        "Language/zh_CN",
        "198.51.100.77",
    ),
    SHARER: (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI "
        "Language/zh_CN",
        "203.0.113.58",
    ),
    AJIE: (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.134 Mobile Safari/537.36 XWEB/1260117 "
        "MMWEBSDK/20240404 MicroMessenger/8.0.49.2600(0x28003133) WeChat/arm64 Weixin "
        "NetType/WIFI Language/zh_CN",
        "203.0.113.87",
    ),
    TEACHER: (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 15_8 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.40(0x1800282a) NetType/4G "
        "Language/zh_CN",
        "198.51.100.142",
    ),
}
#: When the demo's share links were first made (the shops exist from demo.SHOPS_SINCE).
LINKS_SINCE = ago(44)
