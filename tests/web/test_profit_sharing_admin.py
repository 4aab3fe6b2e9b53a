# ruff: noqa: F811  (the partner fixture is imported, and named by the tests)
"""The admin page of profit sharings (分账) that failed or were given up: admins only, a retry
through the page's form (CSRF), audited; the runs leave a given-up sharing alone."""

from sqlalchemy import select

from shop.money import profit_sharing
from shop.money.models import ProfitShare
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from tests.factories import make_user
from tests.services.test_gateway_adapters import key_pairs  # noqa: F401 (fixture)
from tests.web.test_profit_returns import paid, posts
from tests.web.test_wechatpay_partner import (
    SUB,
    partner,  # noqa: F401 (fixture)
    run,
    settle,
)


def test_admin_page_lists_given_up_sharings_and_retries_them_audited(
    app,
    partner,
    user_client,
    english_client,
):
    order_id, number = paid(app, partner, user_client)
    settle(app, order_id)
    partner.sharing_failure = (403, "NO_AUTH")
    for _ in range(profit_sharing.MAX_ATTEMPTS):
        run(app)
    with app.app_context():
        share = db.session.get(ProfitShare, order_id)
        assert (share.state, share.attempts) == ("given_up", profit_sharing.MAX_ATTEMPTS)
        admin, someone = make_user(is_admin=True), make_user()
        db.session.commit()
    assert run(app)["failed"] == 0  # given up: the runs leave it alone
    # Only admins.
    stranger = english_client(someone)
    assert stranger.get("/admin/profit-sharing").status_code == 403
    assert stranger.post(f"/admin/profit-sharing/{order_id}/retry").status_code == 403
    client = english_client(admin)
    page = client.get("/admin/profit-sharing").get_data(as_text=True)
    assert number in page and "NO_AUTH" in page and "Given up" in page and SUB in page
    # CSRF: a post without the form's token is refused, and nothing is sent.
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert client.post(f"/admin/profit-sharing/{order_id}/retry").status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert client.post("/admin/profit-sharing/999999/retry").status_code == 404
    partner.sharing_failure = None
    retried = client.post(f"/admin/profit-sharing/{order_id}/retry", follow_redirects=True)
    assert "WeChat Pay accepted the profit sharing" in retried.get_data(as_text=True)
    assert "No profit sharing has failed." in retried.get_data(as_text=True)
    with app.app_context():
        share = db.session.get(ProfitShare, order_id)
        assert share.state == "sent"
        entry = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "profit_share.retry")
        ).scalar_one()
        assert entry.object_id == order_id and entry.before["state"] == "given_up"
        assert entry.after["state"] == "sent"
    assert client.post(f"/admin/profit-sharing/{order_id}/retry").status_code == 303  # no-op
    assert len(posts(partner, "/v3/profitsharing/orders")) == profit_sharing.MAX_ATTEMPTS + 1
