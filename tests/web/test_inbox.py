"""The inbox pages, the unread badge (one indexed count for a signed-in page, none for a
visitor), webhook and WeCom settings with bad input kept and explained, the secret shown once,
the test button, preferences, and a notice never slowing the request that caused it."""

import time
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from shop.notify import endpoints
from shop.notify.models import Delivery, Endpoint, Notification
from shop.platform import outbox
from shop.platform.extensions import db
from tests.factories import make_product, make_user
from tests.notify_fakes import Receiver, make_certificate
from tests.services.test_orders import NOW, place, shared_click
from tests.services.test_orders import pay as pay_order


def notice(user_id, kind="rebate_settled", **payload):
    outbox.emit("notify", kind, user_id=user_id, now=NOW, payload=payload)


@pytest.fixture
def people(app):
    with app.app_context():
        reader, other = make_user(), make_user()
        notice(reader.id, order_no="2611240001", amount_cents=1234)
        notice(reader.id, "payout_decided", amount_cents=5000, paid=True, reference="T9")
        notice(other.id, order_no="2611240009", amount_cents=1)
        db.session.commit()
        outbox.process_batch(now=NOW)
        ids = (reader.id, other.id)
        mine = db.session.execute(
            select(Notification.id).where(Notification.user_id == reader.id)
        ).scalars()
        theirs = db.session.execute(
            select(Notification.id).where(Notification.user_id == other.id)
        ).scalar_one()
        return ids, sorted(mine), theirs, reader, other


def count_inbox_queries(app, client, path):
    seen = []

    def listen(_conn, _cursor, statement, *_args):
        if "notifications" in statement:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert response.status_code == 200
    return seen, response.get_data(as_text=True)


def test_the_badge_costs_visitors_nothing_and_a_signed_in_page_one_count(
    app, client, user_client, people
):
    _ids, _mine, _theirs, reader, _other = people
    seen, _html = count_inbox_queries(app, client, "/")
    assert seen == []
    seen, html = count_inbox_queries(app, user_client(reader), "/")
    assert len(seen) == 1 and "count" in seen[0].lower()
    assert 'class="inbox-link"' in html and "2 条未读" in html


def test_messages_mark_read_one_and_all_and_never_anothers(app, english_client, people):
    _ids, mine, theirs, reader, _other = people
    client = english_client(reader)
    html = client.get("/inbox/").get_data(as_text=True)
    assert "Your rebate of ¥12.34 for order 2611240001 has settled" in html
    assert "Your payout of ¥50.00 has been paid (transfer reference T9)" in html
    assert "2611240009" not in html  # the other user's
    response = client.post(f"/inbox/{mine[0]}/read")
    assert response.status_code == 302 and response.location.endswith("/me/earnings")
    assert client.post(f"/inbox/{theirs}/read").status_code == 404
    with app.app_context():
        read = dict(db.session.execute(select(Notification.id, Notification.read_at)).all())
    assert read[mine[0]] is not None and read[mine[1]] is None and read[theirs] is None
    assert client.post("/inbox/read-all").status_code == 302
    with app.app_context():
        unread = db.session.execute(
            select(Notification.id).where(Notification.read_at.is_(None))
        ).scalars()
        assert list(unread) == [theirs]
    assert "unread" not in client.get("/").get_data(as_text=True)


def test_the_inbox_asks_visitors_to_sign_in(client):
    response = client.get("/inbox/")
    assert response.status_code == 302 and "/auth/signin" in response.location


@pytest.mark.parametrize(
    ("url", "chinese", "english"),
    [
        ("https://192.168.1.10/hook", "内网、本机或保留网段", "private, local or reserved network"),
        ("https://[::1]/hook", "内网、本机或保留网段", "private, local or reserved network"),
        ("http://example.com/hook", "必须以 https:// 开头", "must start with https://"),
        ("就是一句话", "请输入完整的网址", "Enter a full web address"),
    ],
)
def test_a_bad_webhook_address_gets_a_clear_message_and_keeps_what_was_typed(
    app, user_client, url, chinese, english
):
    with app.app_context():
        user = make_user()
        db.session.commit()
    client = user_client(user)
    response = client.post("/inbox/webhooks", data={"url": url})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and chinese in html
    assert f'value="{url}"' in html.replace("&#34;", '"')
    client.set_cookie("lang", "en")
    html = client.post("/inbox/webhooks", data={"url": url}).get_data(as_text=True)
    assert english in html
    with app.app_context():
        assert db.session.execute(select(Endpoint)).first() is None


def test_the_secret_is_shown_once_and_the_test_button_queues_a_delivery(app, user_client):
    app.config["NOTIFY_ALLOW_LOOPBACK"] = True
    with app.app_context():
        user, stranger = make_user(), make_user()
        db.session.commit()
    client = user_client(user)
    response = client.post("/inbox/webhooks", data={"url": "https://127.0.0.1:9/hook"})
    html = response.get_data(as_text=True)
    with app.app_context():
        endpoint = db.session.execute(select(Endpoint)).scalar_one()
        secret, endpoint_id = endpoint.secret, endpoint.id
    assert response.status_code == 200 and secret in html and secret.startswith("whsec_")
    assert secret not in client.get("/inbox/webhooks").get_data(as_text=True)
    assert secret not in client.get(f"/inbox/endpoints/{endpoint_id}").get_data(as_text=True)
    started = time.monotonic()
    response = client.post(f"/inbox/endpoints/{endpoint_id}/test")
    assert response.status_code == 302 and time.monotonic() - started < 1
    with app.app_context():
        [queued] = db.session.execute(select(Delivery)).scalars()
        assert (queued.kind, queued.status) == ("test", "pending")
    outsider = user_client(stranger)
    assert outsider.get(f"/inbox/endpoints/{endpoint_id}").status_code == 404
    assert outsider.post(f"/inbox/endpoints/{endpoint_id}/test").status_code == 404
    assert outsider.post(f"/inbox/endpoints/{endpoint_id}/delete").status_code == 404
    assert client.post(f"/inbox/endpoints/{endpoint_id}/delete").status_code == 302
    with app.app_context():
        assert db.session.execute(select(Endpoint)).first() is None


def test_a_wecom_bot_is_added_from_its_address_and_a_bad_one_is_explained(app, user_client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    client = user_client(user)
    response = client.post("/inbox/wecom", data={"key": "https://evil.example/send?key=abcdefgh"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "请粘贴企业微信里机器人的 Webhook 地址" in html
    assert "https://evil.example/send?key=abcdefgh" in html
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aaa-4bc4"
    assert client.post("/inbox/wecom", data={"key": url}).status_code == 302
    with app.app_context():
        bot = db.session.execute(select(Endpoint)).scalar_one()
        assert (bot.channel, bot.target, bot.secret) == ("wecom", "693a91f6-7aaa-4bc4", "")
    assert "693a91…" in client.get("/inbox/webhooks").get_data(as_text=True)


def test_preferences_are_saved_per_kind_and_channel(app, user_client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    client = user_client(user)
    html = client.get("/inbox/preferences").get_data(as_text=True)
    assert "作为分享者" in html and "作为买家" in html and "作为商家" not in html
    assert html.count("checked") == 18  # 6 sharer and buyer kinds x 3 channels, all on
    response = client.post(
        "/inbox/preferences", data={"on": ["order_attributed:inbox", "order_shipped:wecom"]}
    )
    assert response.status_code == 302
    html = client.get("/inbox/preferences").get_data(as_text=True)
    assert html.count("checked") == 2


def test_a_notice_never_slows_the_request_that_caused_it(app, user_client, tmp_path):
    """The buyer's webhook answers after 3 s; the merchant's shipping request writes an outbox
    row and returns at once, and no receiver is called until the worker runs."""
    cert, key = make_certificate(tmp_path)
    fake = Receiver(cert, key, answers=[(500, b"", 3)])
    app.config.update(NOTIFY_ALLOW_LOOPBACK=True, NOTIFY_CA_FILE=str(cert))
    try:
        with app.app_context():
            product = make_product()
            shared_click(product, at=NOW - timedelta(hours=1))
            buyer = make_user()
            [order] = place(buyer, [(product.id, 1)], visitor="v" * 32)
            pay_order(order, NOW)
            endpoints.add_webhook(buyer, fake.base + "/", allow_loopback=True, limit=5, now=NOW)
            db.session.commit()
            outbox.process_batch(now=NOW)
            merchant_user, order_id, buyer_id = product.merchant.user, order.id, buyer.id
        client = user_client(merchant_user)
        started = time.monotonic()
        response = client.post(
            f"/merchant/orders/{order_id}/ship",
            data={"carrier": "顺丰速运", "tracking": "SF1234567890"},
        )
        assert response.status_code in (302, 303) and time.monotonic() - started < 1
        assert fake.requests == []
        with app.app_context():
            [row] = db.session.execute(
                select(outbox.OutboxRow).where(outbox.OutboxRow.kind == "order_shipped")
            ).scalars()
            assert row.user_id == buyer_id and row.done_at is None
    finally:
        fake.stop()


def test_older_messages_page_takes_only_sane_ids(app, user_client, people):
    _ids, mine, _theirs, reader, _other = people
    client = user_client(reader)
    for value in ("9223372036854775808", "-1", "abc", "0"):
        assert client.get(f"/inbox/?before={value}").status_code == 200
    html = client.get(f"/inbox/?before={mine[1]}").get_data(as_text=True)
    assert "2611240001" in html and "T9" not in html  # only the older one
