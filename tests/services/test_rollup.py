"""The click rollups: kept as clicks are written (synchronously, by the click writer, and by
many writers at once), equal to a recount from the raw rows, and re-runnable."""

import threading
from datetime import date, datetime, timedelta

from sqlalchemy import insert, select

from shop.platform import db as dbsetup
from shop.platform.extensions import db
from shop.sharing import clicks, links, rollup
from shop.sharing.models import Channel, Click, ClickDay, ShareLink, SharerVisitor
from tests.factories import make_product, make_shop
from tests.services.test_links_and_clicks import facts

BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1)"
#: 15:59 UTC is 23:59 in China; 16:00 UTC is the next China day.
LATE = datetime(2026, 11, 20, 15, 59, 0)
NEXT_DAY = datetime(2026, 11, 20, 16, 0, 0)


def snapshot():
    """Both rollup tables as comparable sets."""
    days = {
        (r.day, r.link_id, r.sharer_id, r.product_id, r.channel)
        + (r.clicks, r.counted, r.scans, r.bots, r.repeats)
        for r in db.session.execute(select(ClickDay)).scalars()
    }
    visitors = {
        (r.sharer_id, r.visitor_id, r.first_seen_at, r.last_seen_at, r.prior_seen_at, r.clicks)
        for r in db.session.execute(select(SharerVisitor)).scalars()
    }
    return days, visitors


def recounted():
    with dbsetup.writing():
        rollup.recount(db.session.connection())
    return snapshot()


def follow(link, visitor, at, ua=None, flooded=False):
    kwargs = {"ua": ua} if ua else {}
    return clicks.record_click(
        link, facts(**kwargs), visitor_id=visitor, ip_secret="s", flooded=flooded, now=at
    )


def two_links():
    shop = make_shop()
    product = make_product()
    group = links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=LATE)
    poster = links.get_or_create_link(shop, product, Channel.POSTER, now=LATE)
    return shop, product, group, poster


def test_clicks_fill_the_day_rows_by_china_day_with_each_kind_counted(ctx):
    shop, product, group, poster = two_links()
    follow(group, "a" * 32, LATE)
    follow(group, "a" * 32, LATE + timedelta(seconds=30))  # repeat within 10 minutes
    follow(group, "b" * 32, LATE, ua=BOT_UA)
    follow(group, "c" * 32, NEXT_DAY, flooded=True)
    follow(poster, "d" * 32, NEXT_DAY)  # a scan
    days, visitors = snapshot()
    sharer = shop.user_id
    assert days == {
        (date(2026, 11, 20), group.id, sharer, product.id, "wechat_group", 3, 1, 0, 1, 1),
        (date(2026, 11, 21), group.id, sharer, product.id, "wechat_group", 1, 0, 0, 0, 1),
        (date(2026, 11, 21), poster.id, sharer, product.id, "poster", 1, 1, 1, 0, 0),
    }
    assert visitors == {
        (sharer, "a" * 32, LATE, LATE, None, 1),
        (sharer, "d" * 32, NEXT_DAY, NEXT_DAY, None, 1),
    }


def test_a_recount_from_the_raw_clicks_gives_the_same_rows_and_can_run_again(ctx):
    _shop, _product, group, poster = two_links()
    for n in range(12):
        follow(group, f"{n % 4:032d}", LATE + timedelta(minutes=7 * n))
        follow(poster, f"{n % 3:032d}", NEXT_DAY + timedelta(hours=n))
    follow(group, "e" * 32, LATE, ua=BOT_UA)
    kept = snapshot()
    assert kept == recounted() == recounted()


def test_a_recount_of_recent_days_leaves_older_days_alone(ctx):
    _shop, _product, group, _poster = two_links()
    follow(group, "a" * 32, LATE - timedelta(days=3))
    follow(group, "b" * 32, LATE)
    before = snapshot()
    with dbsetup.writing():
        rollup.recount(db.session.connection(), since=date(2026, 11, 20))
    assert snapshot() == before


def test_the_click_writer_keeps_the_rollups_in_its_batch(app):
    with app.app_context():
        _shop, _product, group, poster = two_links()
        db.session.commit()
        targets = [links.resolve(group.code), links.resolve(poster.code)]
    with app.app_context():
        writer = clicks.ClickWriter(db.engine, interval=60)
        for n in range(40):
            clicks.record_click(
                targets[n % 2], facts(), visitor_id=f"{n % 7:032d}", ip_secret="s",
                flooded=False, now=LATE + timedelta(minutes=n), writer=writer,
            )  # fmt: skip
        writer.flush()
        db.session.remove()
        kept = snapshot()
        assert sum(row[5] for row in kept[0]) == 40
        assert kept == recounted()


def test_many_writers_at_once_add_up_to_the_recount(app):
    """Eight threads, each writing its clicks in transactions of its own, on the same links,
    days and visitors: the increments must add up, none lost, none doubled."""
    with app.app_context():
        _shop, _product, group, poster = two_links()
        db.session.commit()
        link_ids = [group.id, poster.id]
    barrier = threading.Barrier(8)
    errors = []

    def run(worker):
        with app.app_context():
            try:
                targets = [db.session.get(ShareLink, i) for i in link_ids]
                db.session.rollback()
                barrier.wait()
                for n in range(25):
                    with dbsetup.writing():
                        follow(
                            targets[(worker + n) % 2],
                            f"{(worker * 3 + n) % 10:032d}",
                            LATE + timedelta(minutes=11 * n),
                        )
                        db.session.commit()
            except Exception as error:  # noqa: BLE001 (reported below)
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with app.app_context():
        kept = snapshot()
        assert sum(row[5] for row in kept[0]) == 200
        assert kept == recounted()


def test_the_migration_counts_the_clicks_recorded_before_it(app):
    """Upgrading a database that already has clicks fills the rollups as a recount would."""
    from flask_migrate import downgrade, upgrade

    with app.app_context():
        _shop, _product, group, poster = two_links()
        follow(group, "a" * 32, LATE)
        follow(group, "a" * 32, LATE + timedelta(minutes=1))
        follow(poster, "b" * 32, NEXT_DAY)
        follow(group, "c" * 32, NEXT_DAY, ua=BOT_UA)
        follow(poster, "a" * 32, NEXT_DAY + timedelta(days=1))  # "a" again two days later
        db.session.commit()
        expected = snapshot()
        assert (group.shop.user_id, "a" * 32, LATE, NEXT_DAY + timedelta(days=1), LATE, 2) in (
            expected[1]
        )
        db.session.remove()
        downgrade(revision="16aa2e3118b5")  # before the rollup tables
        upgrade()
        assert snapshot() == expected


def test_each_visitor_keeps_their_last_click_on_an_earlier_day(ctx):
    """``prior_seen_at``: the last counted click on a China day before the last click's day,
    kept click by click, in batches whose rows are out of order, and equal to a recount."""
    shop, _product, group, poster = two_links()
    sharer = shop.user_id

    def prior_of(visitor):
        return db.session.execute(
            select(SharerVisitor.prior_seen_at).where(
                SharerVisitor.sharer_id == sharer, SharerVisitor.visitor_id == visitor
            )
        ).scalar_one()

    a = "a" * 32
    follow(group, a, LATE - timedelta(hours=2))
    follow(group, a, LATE)  # 23:59 China time, the same day
    assert prior_of(a) is None
    follow(poster, a, NEXT_DAY)  # the next China day: the 23:59 click becomes the prior one
    assert prior_of(a) == LATE
    follow(group, a, NEXT_DAY + timedelta(hours=3))  # same day again: unchanged
    assert prior_of(a) == LATE
    follow(group, a, NEXT_DAY + timedelta(days=2))
    assert prior_of(a) == NEXT_DAY + timedelta(hours=3)
    follow(group, a, NEXT_DAY + timedelta(days=2, hours=1), ua=BOT_UA)  # not counted
    assert prior_of(a) == NEXT_DAY + timedelta(hours=3)

    # One batch out of order across three days, for a visitor already seen two days back.
    b = "b" * 32
    follow(group, b, LATE - timedelta(days=1))
    rows = [
        {"link_id": group.id, "clicked_at": at, "visitor_id": b, "is_scan": False,
         "uncounted_reason": None}
        for at in (NEXT_DAY + timedelta(hours=5), LATE - timedelta(hours=1),
                   NEXT_DAY + timedelta(hours=1), LATE - timedelta(hours=3))
    ]  # fmt: skip
    connection = db.session.connection()
    connection.execute(insert(Click), [r | {"ip_hash": "x", "ua_family": "wechat"} for r in rows])
    rollup.add_clicks(connection, rows)
    assert prior_of(b) == LATE - timedelta(hours=1)
    # A late batch with only older rows: the prior click can move, the last one cannot.
    late = [rows[0] | {"clicked_at": LATE - timedelta(minutes=30)}]
    connection.execute(insert(Click), [r | {"ip_hash": "x", "ua_family": "wechat"} for r in late])
    rollup.add_clicks(connection, late)
    assert prior_of(b) == LATE - timedelta(minutes=30)
    # The last click's day again, with an earlier day's click in the same batch: both the row
    # and the batch have a prior click; the later one stays.
    again = [
        rows[0] | {"clicked_at": NEXT_DAY + timedelta(hours=6)},
        rows[0] | {"clicked_at": LATE - timedelta(minutes=10)},
    ]
    connection.execute(insert(Click), [r | {"ip_hash": "x", "ua_family": "wechat"} for r in again])
    rollup.add_clicks(connection, again)
    assert prior_of(b) == LATE - timedelta(minutes=10)
    assert snapshot() == recounted()
