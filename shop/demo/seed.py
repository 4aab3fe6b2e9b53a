"""Realistic Chinese demo content for `flask seed-demo`. Idempotent: every row is found by a
natural key (an account, a slug, a title) before it is created.

The content tells one story in time: accounts first, then merchants, products and shops, then
a few weeks of orders, rebates and payouts (demo_orders), and the buyers' reviews of those
orders with replies, reports and moderation (demo_reviews), up to the ``now`` it is given."""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from shop.accounts import accounts
from shop.accounts.models import User
from shop.catalog import images
from shop.catalog.merchants import USCC_ALPHABET, uscc_check_char
from shop.catalog.models import (
    Category,
    Merchant,
    MerchantStatus,
    Product,
    ProductImage,
    ProductStatus,
)
from shop.demo import orders as demo_orders
from shop.demo import reviews as demo_reviews
from shop.demo import shipping as demo_shipping
from shop.demo import specs as demo_specs
from shop.demo.pictures import product_picture
from shop.platform.extensions import db
from shop.sharing.models import Shop, ShopItem

# How long before ``now`` each part of the story begins (the orders start 34 days back and
# their share links 44 days back: see demo_orders).
USERS_SINCE = timedelta(days=90)
MERCHANTS_SINCE = timedelta(days=70)  #: the first application; the others 3 days apart
PENDING_SINCE = timedelta(days=2)  #: the application still waiting in the admin's queue
PRODUCTS_SINCE = timedelta(days=50)  #: after every approval
SHOPS_SINCE = timedelta(days=45)


@dataclass(frozen=True)
class DemoAccount:
    role: str
    account: str
    name: str
    password: str


ACCOUNTS = (
    DemoAccount("admin", "13800000001", "平台管理员", "admin-demo-2026"),
    DemoAccount("merchant", "13800000002", "山野茶舍老陈", "merchant-demo-2026"),
    DemoAccount("sharer", "13800000003", "小美", "sharer-demo-2026"),
    DemoAccount("buyer", "13800000004", "李同学", "buyer-demo-2026"),
)
# Owners of the other demo merchants and the other sharers (same password pattern).
EXTRA_USERS = (
    ("13800000011", "清禾美妆小林"),
    ("13800000012", "简屋家居阿珍"),
    ("13800000013", "小象母婴王姐"),
    ("13800000014", "极光数码Leo"),
    ("13800000015", "云裳服饰Coco"),
    ("13800000016", "速发百货"),
    ("13800000021", "阿杰"),
    ("13800000022", "王老师"),
    # Buyers of the demo orders besides 李同学.
    ("13800000031", "周阿姨"),
    ("13800000032", "赵先生"),
)
EXTRA_PASSWORD = "demo-user-2026"

CATEGORIES = (
    ("food", "食品生鲜", "Food & fresh", 25),
    ("beauty", "美妆护肤", "Beauty", 340),
    ("home", "家居日用", "Home", 200),
    ("baby", "母婴亲子", "Mother & baby", 45),
    ("digital", "数码家电", "Electronics", 210),
    ("fashion", "服饰鞋包", "Fashion", 280),
)

# (owner account, name, category, status, reason, description)
MERCHANTS = (
    (
        "13800000002",
        "山野茶舍",
        "food",
        MerchantStatus.APPROVED,
        None,
        "福建武夷山自有茶园，三代制茶，产地直发。",
    ),
    (
        "13800000011",
        "清禾美妆",
        "beauty",
        MerchantStatus.APPROVED,
        None,
        "专注敏感肌护理的国货品牌，成分透明。",
    ),
    (
        "13800000012",
        "简屋家居",
        "home",
        MerchantStatus.APPROVED,
        None,
        "简单耐用的日常好物，工厂直供。",
    ),
    (
        "13800000013",
        "小象母婴",
        "baby",
        MerchantStatus.APPROVED,
        None,
        "宝妈创立的母婴用品店，每件都自家娃用过。",
    ),
    (
        "13800000014",
        "极光数码",
        "digital",
        MerchantStatus.APPROVED,
        None,
        "数码配件与小家电，官方授权，全国联保。",
    ),
    (
        "13800000015",
        "云裳服饰",
        "fashion",
        MerchantStatus.PENDING,
        None,
        "原创设计女装，杭州自有工作室。",
    ),
    (
        "13800000016",
        "速发百货",
        "home",
        MerchantStatus.REJECTED,
        "营业执照上的企业名称与申请名称不一致，请核对后重新提交。",
        "各类百货批发。",
    ),
)

# merchant name -> [(title, price fen, original fen or None, stock, rebate bps, description)]
PRODUCTS = {
    "山野茶舍": [
        (
            "武夷山正山小种红茶 250g 礼盒装",
            12800,
            16800,
            120,
            1500,
            "高山茶园春茶，松烟香，回甘足。",
        ),
        ("明前西湖龙井 100g", 19800, 25800, 60, 1200, "清明前采摘，豆花香，汤色嫩绿。"),
        ("云南古树普洱熟茶饼 357g", 16800, None, 80, 1000, "勐海古树料，陈香醇厚，越存越好。"),
        ("安溪铁观音 清香型 250g", 8800, 11800, 150, 1500, "兰花香型，七泡有余香。"),
        ("福鼎白茶 白牡丹 200g", 13800, None, 90, 1200, "日晒工艺，毫香蜜韵。"),
        ("桂花乌龙冷泡茶 12 包", 3990, 5900, 300, 2000, "冷水 2 小时即可，夏天必备。"),
    ],
    "清禾美妆": [
        ("积雪草修护精华 30ml", 15900, 19900, 200, 2500, "舒缓泛红，敏感肌可用。"),
        ("氨基酸洁面乳 120g", 6900, 8900, 500, 2000, "温和清洁不紧绷。"),
        ("玻尿酸补水面膜 10 片", 9900, 12900, 400, 3000, "一片一精华，熬夜急救。"),
        ("清透防晒乳 SPF50+ 50ml", 11900, None, 0, 2500, "轻薄不油腻，军训也能用。"),
        ("神经酰胺保湿面霜 50g", 16900, 21900, 150, 2500, "修护屏障，秋冬必备。"),
        ("植物卸妆油 150ml", 7900, 9900, 260, 2000, "乳化快，不闷痘。"),
    ],
    "简屋家居": [
        ("纯棉四件套 1.8m 床", 29900, 39900, 80, 1200, "A 类新疆长绒棉，亲肤透气。"),
        ("日式陶瓷餐具 8 件套", 13900, 16900, 120, 1500, "釉下彩，可进微波炉。"),
        ("记忆棉慢回弹枕头", 8900, 12900, 200, 1800, "护颈曲线，侧睡仰睡都舒服。"),
        ("可折叠收纳箱 3 个装", 5900, None, 300, 1500, "大容量，换季收纳好帮手。"),
        ("不锈钢保温杯 500ml", 6900, 9900, 250, 1500, "12 小时保温，316 内胆。"),
        ("香薰蜡烛 无火藤条套装", 4900, 6900, 180, 2000, "白茶香，安静治愈。"),
        # Sold in colours and sizes: its SKUs come from SHIRT_SPECS.
        ("纯棉宽松短袖 T 恤", 5900, 7900, 0, 1500, "新疆长绒棉，宽松版型，男女同款。"),
    ],
    "小象母婴": [
        ("婴儿纯棉纱布浴巾 2 条", 7900, 9900, 300, 1500, "六层纱布，吸水柔软。"),
        ("儿童硅胶餐盘 吸盘款", 5900, None, 200, 1500, "食品级硅胶，宝宝摔不掉。"),
        ("宝宝有机米粉 原味 250g", 4500, 5500, 400, 800, "辅食第一口，无添加。"),
        ("儿童绘本 经典童话 10 册", 9900, 14900, 150, 2000, "大字注音，亲子共读。"),
        ("婴儿湿巾 80 抽 10 包", 6900, 8900, 500, 1000, "EDI 纯水，手口可用。"),
        ("儿童保温水壶 带吸管", 8900, 11900, 160, 1500, "防漏设计，上学好用。"),
    ],
    "极光数码": [
        ("65W 氮化镓快充头", 9900, 14900, 300, 1000, "三口快充，手机电脑都能充。"),
        ("真无线降噪蓝牙耳机", 29900, 39900, 100, 800, "主动降噪，续航 30 小时。"),
        ("20000mAh 充电宝 轻薄款", 12900, 15900, 200, 1000, "可带上飞机，双向快充。"),
        ("便携榨汁杯 无线款", 8900, 12900, 150, 1500, "一键榨汁，办公室也能用。"),
        ("智能体脂秤", 7900, 9900, 180, 1200, "APP 记录 13 项身体数据。"),
        ("桌面小风扇 静音款", 4900, None, 250, 1500, "三档风速，USB 供电。"),
    ],
}

SHOPS = (
    # (owner account, slug, name, intro, [(merchant, product index, recommendation, pinned)])
    (
        "13800000003",
        "xiaomei",
        "小美的好物分享",
        "宝妈一枚，只推荐自己用过的好东西 ❤",
        [
            ("清禾美妆", 0, "换季脸泛红就靠它，用了三瓶了。", True),
            ("小象母婴", 0, "我家宝宝洗完澡就裹这个，特别软。", True),
            ("山野茶舍", 5, "夏天冷泡一整壶，全家都爱喝。", False),
            ("简屋家居", 4, "送给爸妈的，保温真的久。", False),
            ("清禾美妆", 2, "熬夜后敷一片，第二天上妆服帖。", False),
        ],
    ),
    (
        "13800000021",
        "ajie-digital",
        "阿杰的数码角",
        "程序员，数码控，踩过的坑帮你避开。",
        [
            ("极光数码", 0, "出差只带这一个充电头就够了。", True),
            ("极光数码", 1, "通勤地铁上降噪效果很明显。", False),
            ("极光数码", 2, "", False),
        ],
    ),
    (
        "13800000022",
        "teacher-wang",
        "王老师的茶与书",
        "喝茶、读书、带娃。",
        [
            ("山野茶舍", 0, "冬天煮一壶，暖到心里。", True),
            ("山野茶舍", 1, "", False),
            ("小象母婴", 3, "女儿每天睡前必读。", False),
        ],
    ),
)


def demo_password(account: str) -> str:
    for demo in ACCOUNTS:
        if demo.account == account:
            return demo.password
    return EXTRA_PASSWORD


def demo_licence_no(seed: str) -> str:
    """A well-formed (check digit correct) but invented credit code for demo merchants."""
    digest = hashlib.sha256(seed.encode()).digest()
    body = "91" + "330100" + "".join(USCC_ALPHABET[b % 31] for b in digest[:9])
    return body + uscc_check_char(body)


def _ensure_user(account: str, name: str, *, now: datetime, is_admin: bool = False) -> User:
    kind, value = accounts.normalize_account(account)
    user = accounts.find_user_by_account(kind, value)
    if user is None:
        user = accounts.register_user(
            account=account,
            display_name=name,
            password=demo_password(account),
            now=now,
            is_admin=is_admin,
        )
    return user


def seed_demo(*, now: datetime) -> dict:
    """Create the demo content that is missing; returns counts of what was created."""
    created = {"users": 0, "merchants": 0, "products": 0, "shops": 0}
    users: dict[str, User] = {}
    before = db.session.execute(select(User.id)).scalars().all()
    for demo in ACCOUNTS:
        users[demo.account] = _ensure_user(
            demo.account, demo.name, now=now - USERS_SINCE, is_admin=demo is ACCOUNTS[0]
        )
    for account, name in EXTRA_USERS:
        users[account] = _ensure_user(account, name, now=now - USERS_SINCE)
    users[ACCOUNTS[0].account].is_admin = True
    created["users"] = len(users) - len(before)

    categories: dict[str, Category] = {}
    for position, (slug, zh, en, _hue) in enumerate(CATEGORIES):
        category = db.session.execute(
            select(Category).where(Category.slug == slug)
        ).scalar_one_or_none()
        if category is None:
            category = Category(slug=slug, name_zh=zh, name_en=en, position=position)
            db.session.add(category)
        categories[slug] = category
    db.session.flush()

    merchants: dict[str, Merchant] = {}
    for index, (owner, name, cat, status, reason, description) in enumerate(MERCHANTS):
        user = users[owner]
        merchant = db.session.execute(
            select(Merchant).where(Merchant.user_id == user.id)
        ).scalar_one_or_none()
        if merchant is None:
            submitted = (
                now - PENDING_SINCE
                if status == MerchantStatus.PENDING
                else now - MERCHANTS_SINCE + timedelta(days=index * 3)
            )
            merchant = Merchant(
                user_id=user.id,
                name=name,
                licence_no=demo_licence_no(name),
                contact_name=user.display_name,
                contact_phone=owner,
                category_id=categories[cat].id,
                description=description,
                status=status,
                status_reason=reason,
                submitted_at=submitted,
                decided_at=None
                if status == MerchantStatus.PENDING
                else submitted + timedelta(days=1),
                created_at=submitted,
            )
            db.session.add(merchant)
            created["merchants"] += 1
        merchants[name] = merchant
    db.session.flush()

    products: dict[tuple[str, int], Product] = {}
    for merchant_name, rows in PRODUCTS.items():
        merchant = merchants[merchant_name]
        for index, (title, price, original, stock, bps, description) in enumerate(rows):
            product = db.session.execute(
                select(Product).where(Product.merchant_id == merchant.id, Product.title == title)
            ).scalar_one_or_none()
            if product is None:
                product = Product(
                    merchant_id=merchant.id,
                    category_id=merchant.category_id,
                    title=title,
                    description=description,
                    price_cents=price,
                    original_price_cents=original,
                    stock=stock,
                    rebate_bps=bps,
                    status=ProductStatus.LISTED,
                    sales_count=(len(title) * 37 + index * 101) % 900,
                    created_at=now - PRODUCTS_SINCE + timedelta(days=index, hours=-len(title)),
                )
                picture = images.store_image(
                    product_picture(title, merchant_name + title), uploaded_by_id=merchant.user_id
                )
                product.images.append(ProductImage(image_id=picture.id, position=0))
                db.session.add(product)
                created["products"] += 1
                if (merchant_name, title) == demo_specs.SHIRT:
                    db.session.flush()
                    demo_specs.seed_shirt_specs(product, merchant)
            products[(merchant_name, index)] = product
    db.session.flush()

    shops: dict[str, Shop] = {}
    for owner, slug, name, intro, items in SHOPS:
        user = users[owner]
        shop = db.session.execute(select(Shop).where(Shop.user_id == user.id)).scalar_one_or_none()
        if shop is None:
            shop = Shop(
                user_id=user.id, slug=slug, name=name, intro=intro, created_at=now - SHOPS_SINCE
            )
            db.session.add(shop)
            db.session.flush()
            for position, (merchant_name, index, text, pinned) in enumerate(items):
                shop.items.append(
                    ShopItem(
                        product_id=products[(merchant_name, index)].id,
                        recommendation=text,
                        position=position,
                        is_pinned=pinned,
                        created_at=now - SHOPS_SINCE,
                    )
                )
            created["shops"] += 1
        shops[slug] = shop
    db.session.flush()

    created |= demo_orders.seed_orders(users=users, products=products, shops=shops, now=now)
    created |= demo_reviews.seed_reviews(users=users, now=now)
    created |= demo_shipping.seed_shipping(merchants=merchants, buyer=users["13800000004"], now=now)
    return created
