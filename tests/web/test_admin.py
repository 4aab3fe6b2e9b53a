from shop.catalog.models import Merchant, MerchantStatus, ProductStatus
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from tests.factories import make_merchant, make_product, make_user


def test_admin_pages_are_for_admins_only(app, client, user_client):
    with app.app_context():
        user = make_user()
        merchant_id = make_merchant(status=MerchantStatus.PENDING).id
        db.session.commit()
    assert client.get("/admin/merchants").status_code == 302
    plain = user_client(user)
    for url in ("/admin/", "/admin/merchants", f"/admin/merchants/{merchant_id}", "/admin/audit"):
        assert plain.get(url).status_code == 403
    assert (
        plain.post(f"/admin/merchants/{merchant_id}/decide", data={"action": "approve"}).status_code
        == 403
    )
    with app.app_context():
        assert db.session.get(Merchant, merchant_id).status == MerchantStatus.PENDING


def test_queue_lists_pending_oldest_first_with_waiting_time(app, user_client):
    from datetime import timedelta

    from shop.platform.base import utcnow

    with app.app_context():
        admin = make_user(is_admin=True)
        make_merchant(name="新来的", status=MerchantStatus.PENDING, submitted_at=utcnow())
        make_merchant(
            name="等很久", status=MerchantStatus.PENDING, submitted_at=utcnow() - timedelta(days=3)
        )
        db.session.commit()
    page = user_client(admin).get("/admin/merchants").get_data(as_text=True)
    assert page.index("等很久") < page.index("新来的")
    assert "已等待 3天" in page or "已等待 3 天" in page


def test_approve_reject_and_audit_page(app, user_client):
    with app.app_context():
        admin = make_user(is_admin=True, display_name="审核员")
        first = make_merchant(status=MerchantStatus.PENDING)
        second = make_merchant(status=MerchantStatus.PENDING, name="第二家")
        db.session.commit()
        first_id, second_id = first.id, second.id
    client = user_client(admin)
    response = client.post(
        f"/admin/merchants/{first_id}/decide",
        data={"action": "approve", "expected_status": "pending"},
    )
    assert response.status_code == 302
    # Rejecting without a reason changes nothing and says why.
    client.post(
        f"/admin/merchants/{second_id}/decide",
        data={"action": "reject", "expected_status": "pending", "reason": " "},
    )
    page = client.get(f"/admin/merchants/{second_id}").get_data(as_text=True)
    assert "请填写原因" in page
    client.post(
        f"/admin/merchants/{second_id}/decide",
        data={"action": "reject", "expected_status": "pending", "reason": "资质不符"},
    )
    with app.app_context():
        assert db.session.get(Merchant, first_id).status == MerchantStatus.APPROVED
        assert db.session.get(Merchant, second_id).status == MerchantStatus.REJECTED
        assert db.session.execute(db.select(db.func.count(AuditEntry.id))).scalar_one() == 2
    audit = client.get("/admin/audit").get_data(as_text=True)
    assert "merchant.approve" in audit and "merchant.reject" in audit and "资质不符" in audit
    assert "审核员" in audit


def test_a_stale_page_cannot_decide(app, user_client):
    with app.app_context():
        admin = make_user(is_admin=True)
        merchant = make_merchant(status=MerchantStatus.APPROVED)
        db.session.commit()
        merchant_id = merchant.id
    client = user_client(admin)
    client.post(
        f"/admin/merchants/{merchant_id}/decide",
        data={"action": "suspend", "expected_status": "pending", "reason": "x"},
    )
    with app.app_context():
        assert db.session.get(Merchant, merchant_id).status == MerchantStatus.APPROVED


def test_unknown_merchant_is_404(app, user_client):
    with app.app_context():
        admin = make_user(is_admin=True)
        db.session.commit()
    client = user_client(admin)
    assert client.get("/admin/merchants/999999").status_code == 404
    assert (
        client.post("/admin/merchants/999999/decide", data={"action": "approve"}).status_code == 404
    )


def test_suspension_hides_products_and_reinstatement_restores_them(app, user_client):
    with app.app_context():
        admin = make_user(is_admin=True)
        product = make_product(title="极光耳机", status=ProductStatus.LISTED)
        db.session.commit()
        product_id, merchant_id = product.id, product.merchant_id
    client = user_client(admin)
    client.post(
        f"/admin/merchants/{merchant_id}/decide",
        data={"action": "suspend", "expected_status": "approved", "reason": "投诉较多"},
    )
    gone = client.get(f"/p/{product_id}")
    assert gone.status_code == 410 and "已下架" in gone.get_data(as_text=True)
    assert "极光耳机" not in client.get("/").get_data(as_text=True)
    client.post(
        f"/admin/merchants/{merchant_id}/decide",
        data={"action": "reinstate", "expected_status": "suspended"},
    )
    assert client.get(f"/p/{product_id}").status_code == 200
    assert "极光耳机" in client.get("/").get_data(as_text=True)
