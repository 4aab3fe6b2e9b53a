"""Demo reviews for `flask seed-demo`: what the buyers of the completed demo orders wrote, the
merchants' replies, readers' reports and the admin's moderation.

As in demo_orders, nothing is written by hand: every review, follow-up (追评), reply, report,
blocked word and decision comes from the service a request would call (``writing``,
``moderation``), acted by the user who would act (the order's buyer, the product's merchant,
the demo admin) at a time in the past inside the windows: a review within days of the
order's completion, a follow-up weeks later, a reply within a day of its review. Whether a
review is published or held is not set here either: the moderation rules decide, as they
would for anyone (the held one contains a phone number and a blocked word).

Idempotent: a review is looked up by its order item and kind. What exists already is left
alone with its whole story (its follow-up, reply, report and decision are not replayed), so a
review the demo's buyer wrote himself, or one an admin has since restored, stays as it is.
The story is timed for the default windows (30 days to review, 180 to follow up, 30 to reply).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from shop.accounts.models import User
from shop.demo.pictures import review_photo
from shop.demo.stories import ORDERS, ago
from shop.orders import checkout
from shop.orders.models import OrderItem
from shop.platform.extensions import db
from shop.reviews import moderation, writing
from shop.reviews.models import BlockedWord, Review, ReviewKind, ReviewStatus
from shop.reviews.rules import REVIEWABLE, Rules

after = ago  # read forwards: after the order's completion, or after the review


@dataclass(frozen=True)
class Later:
    """Something done ``after`` the review was written, and its words."""

    after: timedelta
    text: str


@dataclass(frozen=True)
class DemoReport:
    reporter: str  #: account
    after: timedelta  #: after the review was written
    reason: str  #: a key of shop.reviews.rules.REPORT_REASONS
    details: str = ""


@dataclass(frozen=True)
class DemoReview:
    order: str  #: a shop.demo.stories.ORDERS key; its one item is reviewed by its buyer
    rating: int
    body: str
    after: timedelta  #: after the order was completed
    anonymous: bool = False
    photos: tuple[str, ...] = ()  #: scenes of drawn phone photos (demo_pictures.SCENES)
    followup: Later | None = None
    reply: Later | None = None  #: by the user of the product's merchant
    report: DemoReport | None = None
    hide: Later | None = None  #: by the demo admin; text: the reason, shown to the author


LEO, AZHEN = "13800000014", "13800000012"  #: owners of 极光数码 and 简屋家居

#: Words the admin put on the blocked list, long before the first review.
BLOCKED_WORDS = ("加微信", "刷单", "返现")
BLOCKED_WORDS_ADDED = ago(40)

#: One review per entry, by the buyer of the order. 李同学's tea (demo-order-16) is left for
#: whoever tries the demo to review, and his face-mask review has no follow-up yet.
# fmt: off
REVIEWS = (
    # 山野茶舍's 正山小种 (4 published reviews: the filters for photos, follow-ups and low
    # ratings all have something).
    DemoReview(
        "demo-order-17", 5,
        "给自己和办公室几位老同事各带了一盒。礼盒很正，送人拿得出手。茶汤红亮，松烟香不冲，"
        "泡到第五六泡还有桂圆干一样的回甘。冬天下午泡一壶批作业，舒服。",
        after(days=2, hours=3),
        followup=Later(
            after(days=24),
            "喝了快一个月再来追评：每天一壶没喝腻。原包装放在柜子里，香气没怎么散。"
            "同事喝完又来找我要链接了。",
        ),
    ),
    DemoReview(
        "demo-order-18", 5,
        "听王老师在群里推荐买的。快递两天就到了，外面裹了好几层泡沫，礼盒一点没压坏。"
        "老伴喜欢喝红茶，说比超市买的香，就是要多泡一会儿才出味。",
        after(days=1, hours=2),
        photos=("unboxing", "table"),
        reply=Later(
            after(hours=5),
            "谢谢阿姨的支持！正山小种头两泡可以快一点出汤，第三泡起每泡多闷 5 到 10 秒，"
            "味道会更醇。祝叔叔阿姨身体健康～",
        ),
    ),
    DemoReview(
        "demo-order-20", 4,
        "买来放办公室喝的，甜香像桂圆干，下午犯困来一杯很提神。扣一星是因为快递外箱有点瘪，"
        "好在里面的礼盒没事。",
        after(days=4, hours=1),
        anonymous=True,
    ),
    DemoReview(
        "demo-order-21", 2,
        "第一次喝正山小种，烟熏味比我想象的重太多，有点像腊肉的味道，实在喝不惯。"
        "礼盒倒是挺精致的。可能我更适合不带烟熏的红茶。",
        after(days=1, hours=5),
        reply=Later(
            after(days=1),
            "谢谢您如实反馈。传统正山小种用松木熏焙，松烟香是它的特点，第一次喝确实容易觉得冲。"
            "店里有不熏的金骏眉和冷泡茶，下次可以试试；这盒实在喝不惯的话，联系客服给您换别的茶。",
        ),
    ),
    # 山野茶舍's 龙井: fair, not thrilled; no reply yet.
    DemoReview(
        "demo-order-07", 3,
        "茶是好茶，豆花香明显，头泡很鲜。就是 100g 实际看着不多，这个价位有点小贵。"
        "包装可以再简单点，省下来的让利给买家多好。",
        after(days=2),
    ),
    # 清禾美妆: 李同学's masks with a photo (no follow-up yet: the demo's buyer can add one).
    DemoReview(
        "demo-order-05", 5,
        "期末周熬夜必备！敷完第二天脸不干，上妆也服帖。精华液给得很足，敷完还能抹脖子。"
        "买了两盒和室友分着用，已经快用完了。",
        after(days=3, hours=4),
        photos=("linen",),
    ),
    DemoReview(
        "demo-order-06", 5,
        "换季脸上老是泛红发痒，看小美推荐买的。用了一个星期，泛红明显少了，质地像水一样，"
        "一点不黏。敏感肌可以放心用。",
        after(days=5),
        anonymous=True,
    ),
    # Held: a phone number and a blocked word ("加微信"); waits in the admin's queue.
    DemoReview(
        "demo-order-15", 5,
        "帮老婆买的，她用了两周说脸上泛红少了很多，会回购。想拼单的加微信 zhao_skin88，"
        "或者直接打 139 5712 0846，两瓶一起买更划算。",
        after(days=2, hours=6),
    ),
    # 极光数码: an honest 1-star the merchant answers, and reports; the report waits for an
    # admin (who should approve: it is a verified purchase).
    DemoReview(
        "demo-order-19", 1,
        "给孙子写作业时吹的，用了三天，第四天插上电就不转了，换了充电头也不行。"
        "东西小巧是小巧，质量真不行。",
        after(days=3, hours=2),
        reply=Later(
            after(hours=5),
            "阿姨您好，给您添麻烦了。这款一年内坏了包换新，您在订单里申请售后就行，"
            "来回运费我们出，收到坏的马上给您寄新的。",
        ),
        report=DemoReport(
            LEO, after(days=1), "fake", "买家没有联系过售后，我们同一批货没有收到别的故障反馈。"
        ),
    ),
    # 简屋家居: abuse of a named employee, reported by the merchant and hidden by the admin.
    DemoReview(
        "demo-order-22", 1,
        "什么破枕头，睡一晚脖子更疼了。客服那个姓张的就是个废物，问三句回一句，"
        "这种人也配做客服？奉劝大家别买这家！！！",
        after(hours=2),
        report=DemoReport(AZHEN, after(hours=8), "abuse", "辱骂我们的客服同事。"),
        hide=Later(
            after(days=1, hours=2),
            "评价中有针对客服人员的辱骂。对商品或服务不满意可以如实描述，平台不会因为差评而隐藏评价。",
        ),
    ),
    # 小美's own purchase through her link: readers see the disclosure.
    DemoReview(
        "demo-order-14", 5,
        "买了两个，给爸妈一人一个。早上灌的热水，晚上倒出来还烫嘴，保温确实好。"
        "杯盖密封很严，放包里没漏过。颜色比图片稍微深一点。",
        after(days=1, hours=1),
    ),
    DemoReview(
        "demo-order-04", 4,
        "给小孙子买的，纱布很软，洗了两次没掉毛也没缩水，吸水很快。就是颜色比图片浅一点，"
        "所以给四星。",
        after(days=1, hours=3),
        photos=("linen",),
    ),
)
# fmt: on


class _Story:
    """Runs the missing demo reviews and what follows them, in time order."""

    def __init__(self, *, users: dict[str, User], now: datetime):
        self.users, self.now = users, now
        self.admin = next(user for user in users.values() if user.is_admin)
        self.rules = Rules.current()
        self.buyers = {spec.key: spec.buyer for spec in ORDERS}
        self.written: dict[str, Review] = {}
        self.created = 0  #: reviews and follow-ups
        self.events: list[tuple[datetime, int, Callable, tuple]] = []

    def add(self, at: datetime, action: Callable, *args) -> None:
        # Planned only if it has happened by ``now`` (a story timed for another ``now`` is cut
        # short rather than written in the future).
        if at <= self.now:
            self.events.append((at, len(self.events), action, args))

    def run(self) -> int:
        for at, _seq, action, args in sorted(self.events, key=lambda e: e[:2]):
            action(at, *args)
        return self.created

    def item(self, spec: DemoReview) -> OrderItem | None:
        """The order item ``spec`` reviews, if its order exists and can be reviewed."""
        buyer = self.users[self.buyers[spec.order]]
        found = checkout.existing_checkout(buyer, spec.order)
        if not found:
            return None
        [order] = found
        if order.status not in REVIEWABLE or order.completed_at is None:
            return None  # e.g. the demo's buyer asked for a refund since the last seed
        [item] = order.items
        return item

    def plan(self, spec: DemoReview) -> None:
        item = self.item(spec)
        if (
            item is None
            or db.session.execute(
                select(Review.id).where(
                    Review.order_item_id == item.id, Review.kind == ReviewKind.INITIAL
                )
            ).first()
        ):
            return
        at = item.order.completed_at + spec.after
        self.add(at, self.write, spec, item)
        if spec.followup:
            self.add(at + spec.followup.after, self.write_followup, spec)
        if spec.reply:
            self.add(at + spec.reply.after, self.write_reply, spec)
        if spec.report:
            self.add(at + spec.report.after, self.report, spec)
        if spec.hide:
            self.add(at + spec.hide.after, self.hide, spec)

    def write(self, at: datetime, spec: DemoReview, item: OrderItem) -> None:
        product = item.product
        hue_seed = product.merchant.name + product.title  # as demo's product picture
        self.written[spec.order] = writing.write_review(
            item,
            actor=self.users[self.buyers[spec.order]],
            rating=spec.rating,
            body=spec.body,
            anonymous=spec.anonymous,
            photos=[
                review_photo(product.title, hue_seed, scene, spec.order) for scene in spec.photos
            ],
            now=at,
            rules=self.rules,
        )
        self.created += 1

    def write_followup(self, at: datetime, spec: DemoReview) -> None:
        writing.write_followup(
            self.written[spec.order],
            actor=self.users[self.buyers[spec.order]],
            body=spec.followup.text,
            now=at,
            rules=self.rules,
        )
        self.created += 1

    def shown(self, spec: DemoReview) -> Review | None:
        """The review written for ``spec`` if it was published. It could have been held on a
        database whose admin has since blocked a word in it; then nobody replies, reports or
        hides it."""
        review = self.written[spec.order]
        return review if review.status == ReviewStatus.PUBLISHED else None

    def write_reply(self, at: datetime, spec: DemoReview) -> None:
        if (review := self.shown(spec)) is None:
            return
        writing.write_reply(
            review,
            merchant=review.merchant,
            actor=review.merchant.user,
            body=spec.reply.text,
            now=at,
            rules=self.rules,
        )

    def report(self, at: datetime, spec: DemoReview) -> None:
        if (review := self.shown(spec)) is None:
            return
        writing.report_review(
            review,
            reporter=self.users[spec.report.reporter],
            reason=spec.report.reason,
            details=spec.report.details,
            now=at,
            rules=self.rules,
        )

    def hide(self, at: datetime, spec: DemoReview) -> None:
        if (review := self.shown(spec)) is None:
            return
        moderation.decide(review, "hide", actor=self.admin, reason=spec.hide.text, now=at)

    def add_blocked_word(self, at: datetime, word: str) -> None:
        moderation.add_blocked_word(word, actor=self.admin, now=at)


def seed_reviews(*, users: dict[str, User], now: datetime) -> dict[str, int]:
    """Create the demo reviews (and their follow-ups, replies, reports and decisions) that are
    missing, after the demo orders exist; returns how many reviews, follow-ups included."""
    story = _Story(users=users, now=now)
    have = set(db.session.execute(select(BlockedWord.word)).scalars())
    for word in BLOCKED_WORDS:
        if writing.normalize(word) not in have:
            story.add(now - BLOCKED_WORDS_ADDED, story.add_blocked_word, word)
    for spec in REVIEWS:
        story.plan(spec)
    created = story.run()
    db.session.flush()
    return {"reviews": created}
