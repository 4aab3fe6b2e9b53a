"""The staff second factor through the web: an admin sent to set it up right after the
password (and nothing else until done), the code at sign-in, a wrong or reused code, a
recovery code once, the requirement on and off, merchants optional, the admin's reset."""

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from shop.accounts.models import User
from shop.accounts.signin_models import SecondFactor
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from tests.factories import DEFAULT_PASSWORD, make_merchant, make_user

ADMIN_PHONE = "13900000001"


def password_step(client, account=ADMIN_PHONE, next_path=None):
    data = {"account": account, "password": DEFAULT_PASSWORD}
    if next_path:
        data["next"] = next_path
    return client.post("/auth/signin", data=data)


def signed_in(client) -> bool:
    return client.get("/auth/account").status_code == 200


def secret_of(app, phone=ADMIN_PHONE) -> str:
    with app.app_context():
        user = db.session.execute(select(User).where(User.phone == phone)).scalar_one()
        return db.session.execute(
            select(SecondFactor.secret).where(SecondFactor.user_id == user.id)
        ).scalar_one()


def code(secret: str, steps_ahead: int = 0) -> str:
    """The code of the current step (+ ``steps_ahead``; the server takes one either side)."""
    return pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30 * steps_ahead))


def enrol(client, app, phone=ADMIN_PHONE):
    """Start and confirm the set-up in ``client``; returns (secret, recovery-codes page)."""
    assert client.post("/auth/second-factor/setup/start").status_code == 302
    page = client.get("/auth/second-factor/setup").get_data(as_text=True)
    assert "data:image/png;base64," in page
    secret = secret_of(app, phone)
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in page
    done = client.post("/auth/second-factor/setup", data={"code": code(secret)})
    assert done.status_code == 200, done.get_data(as_text=True)[:400]
    assert done.headers["Cache-Control"] == "no-store"
    return secret, done.get_data(as_text=True)


@pytest.fixture
def admin_app(app):
    app.config["STAFF_TOTP_REQUIRED"] = True
    with app.app_context():
        make_user(phone=ADMIN_PHONE, is_admin=True)
        db.session.commit()
    return app


def test_admin_is_sent_to_set_up_after_the_password_and_is_not_signed_in(admin_app):
    client = admin_app.test_client()
    response = password_step(client, next_path="/admin/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/second-factor/setup"
    assert not signed_in(client)
    assert client.get("/admin/").status_code == 302  # to the sign-in page: nothing else opens

    secret, page = enrol(client, admin_app)
    assert page.count("<code>") == 10 and 'href="/admin/"' in page
    assert signed_in(client) and client.get("/admin/").status_code == 200
    with admin_app.app_context():
        (entry,) = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "second_factor.enrol")
        ).scalars()
        assert entry.object_type == "user"


def test_enrolled_admin_signs_in_with_a_code_and_a_wrong_or_reused_code_is_refused(admin_app):
    setup = admin_app.test_client()
    password_step(setup)
    secret, _page = enrol(setup, admin_app)

    client = admin_app.test_client()
    client.set_cookie("lang", "en")
    assert password_step(client).headers["Location"] == "/auth/second-factor"
    assert not signed_in(client)
    right = code(secret, 1)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    page = client.post("/auth/second-factor", data={"code": wrong}).get_data(as_text=True)
    assert "This code is not right" in page and not signed_in(client)
    response = client.post("/auth/second-factor", data={"code": right})
    assert response.status_code == 302 and signed_in(client)

    again = admin_app.test_client()
    again.set_cookie("lang", "en")
    password_step(again)
    page = again.post("/auth/second-factor", data={"code": right}).get_data(as_text=True)
    assert "already used" in page and not signed_in(again)


def test_recovery_code_signs_in_once(admin_app):
    setup = admin_app.test_client()
    password_step(setup)
    _secret, page = enrol(setup, admin_app)
    first = page.split("<code>")[1].split("</code>")[0]

    client = admin_app.test_client()
    password_step(client)
    assert client.post("/auth/second-factor", data={"code": first}).status_code == 302
    assert signed_in(client)
    assert "9" in client.get("/auth/second-factor/manage").get_data(as_text=True)

    other = admin_app.test_client()
    other.set_cookie("lang", "en")
    password_step(other)
    page = other.post("/auth/second-factor", data={"code": first}).get_data(as_text=True)
    assert "already used" in page and not signed_in(other)


def test_new_recovery_codes_after_a_current_code(admin_app):
    client = admin_app.test_client()
    password_step(client)
    secret, page = enrol(client, admin_app)
    old = page.split("<code>")[1].split("</code>")[0]
    response = client.post("/auth/second-factor/recovery-codes", data={"code": code(secret, 1)})
    assert response.status_code == 200 and response.get_data(as_text=True).count("<code>") == 10
    other = admin_app.test_client()
    password_step(other)
    other.post("/auth/second-factor", data={"code": old})
    assert not signed_in(other)


def test_the_pending_step_expires_and_dies_with_a_password_change(admin_app):
    setup = admin_app.test_client()
    password_step(setup)
    secret, _page = enrol(setup, admin_app)

    admin_app.config["SECOND_FACTOR_PENDING_SECONDS"] = -1
    client = admin_app.test_client()
    password_step(client)
    response = client.post("/auth/second-factor", data={"code": code(secret, 1)})
    assert response.headers["Location"] == "/auth/signin" and not signed_in(client)

    admin_app.config["SECOND_FACTOR_PENDING_SECONDS"] = 300
    client = admin_app.test_client()
    password_step(client)
    with admin_app.app_context():
        user = db.session.execute(select(User).where(User.phone == ADMIN_PHONE)).scalar_one()
        user.password_changed_at = user.password_changed_at + timedelta(seconds=1)
        db.session.commit()
    client.post("/auth/second-factor", data={"code": code(secret, 1)})
    assert not signed_in(client)


def test_requirement_off_lets_the_admin_in_with_the_password(app):
    with app.app_context():
        make_user(phone=ADMIN_PHONE, is_admin=True)
        db.session.commit()
    client = app.test_client()
    assert password_step(client).headers["Location"] == "/"
    assert signed_in(client) and client.get("/admin/").status_code == 200


def test_admin_signed_in_before_the_requirement_can_only_set_up(app):
    with app.app_context():
        make_user(phone=ADMIN_PHONE, is_admin=True)
        db.session.commit()
    client = app.test_client()
    password_step(client)
    app.config["STAFF_TOTP_REQUIRED"] = True
    response = client.get("/admin/")
    assert response.headers["Location"] == "/auth/second-factor/setup"
    assert client.get("/me/").headers["Location"] == "/auth/second-factor/setup"
    enrol(client, app)
    assert client.get("/admin/").status_code == 200


def test_merchant_may_enrol_and_is_then_asked(admin_app):
    with admin_app.app_context():
        merchant = make_merchant(user=make_user(phone="13900000002"))
        db.session.commit()
        assert merchant.id
    client = admin_app.test_client()
    assert password_step(client, "13900000002").headers["Location"] == "/"
    assert signed_in(client)  # optional: not set up, not asked
    secret, _page = enrol(client, admin_app, phone="13900000002")

    later = admin_app.test_client()
    assert password_step(later, "13900000002").headers["Location"] == "/auth/second-factor"
    later.post("/auth/second-factor", data={"code": code(secret, 1)})
    assert signed_in(later)


def test_buyer_cannot_set_up_a_second_factor(app, user_client):
    with app.app_context():
        buyer = make_user()
        db.session.commit()
    client = user_client(buyer)
    assert client.get("/auth/second-factor/setup").status_code == 403


def test_admin_resets_another_admins_factor_with_a_reason(admin_app):
    enrolled = admin_app.test_client()
    with admin_app.app_context():
        make_user(phone="13900000003", is_admin=True)
        db.session.commit()
    password_step(enrolled, "13900000003")
    enrol(enrolled, admin_app, phone="13900000003")

    admin = admin_app.test_client()
    admin.set_cookie("lang", "en")
    password_step(admin)
    enrol(admin, admin_app)
    page = admin.get("/admin/second-factors").get_data(as_text=True)
    with admin_app.app_context():
        target = db.session.execute(select(User).where(User.phone == "13900000003")).scalar_one()
    assert target.display_name in page
    url = f"/admin/second-factors/{target.id}/reset"
    refused = admin.post(url, data={f"u{target.id}-reason": ""})
    assert refused.status_code == 400 and "Say why" in refused.get_data(as_text=True)
    done = admin.post(url, data={f"u{target.id}-reason": "lost phone, called back"})
    assert done.status_code == 302
    with admin_app.app_context():
        assert (
            db.session.execute(
                select(SecondFactor).where(SecondFactor.user_id == target.id)
            ).first()
            is None
        )
        entry = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "second_factor.reset")
        ).scalar_one()
        assert entry.reason == "lost phone, called back" and entry.object_id == target.id
    # Set up again at the next sign-in.
    again = admin_app.test_client()
    assert password_step(again, "13900000003").headers["Location"] == "/auth/second-factor/setup"


def test_wrong_codes_are_limited_per_account(admin_app):
    admin_app.config["SECOND_FACTOR_LIMIT_PER_ACCOUNT"] = "3 per 5 minutes"
    setup = admin_app.test_client()
    password_step(setup)
    secret, _page = enrol(setup, admin_app)
    client = admin_app.test_client()
    client.set_cookie("lang", "en")
    password_step(client)
    wrong = f"{(int(code(secret, 1)) + 1) % 1_000_000:06d}"
    for _ in range(3):
        assert client.post("/auth/second-factor", data={"code": wrong}).status_code == 200
    response = client.post("/auth/second-factor", data={"code": code(secret, 1)})
    assert response.status_code == 429
    assert "Too many wrong codes" in response.get_data(as_text=True)
    assert not signed_in(client)  # the right code waits too: the limit is per account


def test_a_pending_sign_in_can_be_cancelled(admin_app):
    client = admin_app.test_client()
    password_step(client)
    page = client.get("/auth/second-factor/setup").get_data(as_text=True)
    assert "/auth/second-factor/cancel" in page
    assert client.post("/auth/second-factor/cancel").headers["Location"] == "/auth/signin"
    assert client.get("/auth/second-factor/setup").headers["Location"] == "/auth/signin"


def test_create_admin_explains_the_second_factor(app):
    args = ["create-admin", "--account", "13900000009", "--password", "tea-and-cake-7"]

    def run():
        with app.app_context():  # as the command line runs it
            result = app.test_cli_runner().invoke(args=args)
            db.session.remove()
        assert result.exit_code == 0, result.output
        return result.output

    assert "not required here" in run()
    app.config["STAFF_TOTP_REQUIRED"] = True
    output = run()
    assert "required for administrators" in output and "recovery codes" in output


def test_the_set_up_guard_leaves_shared_media_without_a_session(admin_app, user_client):
    from tests.factories import make_product
    from tests.web.test_delivery import image_url_name

    with admin_app.app_context():
        product = make_product()
        name = image_url_name(product.images[0].image)
        admin = db.session.execute(select(User).where(User.phone == ADMIN_PHONE)).scalar_one()
        db.session.commit()
    admin_app.config["STAFF_TOTP_REQUIRED"] = False
    client = user_client(admin)
    admin_app.config["STAFF_TOTP_REQUIRED"] = True
    with client.get(f"/media/{name}") as answer:
        assert answer.status_code == 200
        assert "Cookie" not in answer.headers.get("Vary", "")
    assert client.get("/").headers["Location"] == "/auth/second-factor/setup"


def test_make_serve_requires_the_second_factor_and_make_run_does_not():
    from shop import PROJECT_ROOT
    from shop.platform.config import Defaults

    makefile = (PROJECT_ROOT / "Makefile").read_text()
    serve = makefile.split("\nserve:")[1].split("\n\n")[0]
    run = makefile.split("\nrun:")[1].split("\n\n")[0]
    assert "SHOP_STAFF_TOTP_REQUIRED=$${SHOP_STAFF_TOTP_REQUIRED:-true}" in serve
    assert "TOTP" not in run and Defaults.STAFF_TOTP_REQUIRED is False
    production = (PROJECT_ROOT / "docs" / "production.md").read_text()
    assert "SHOP_STAFF_TOTP_REQUIRED=true" in production


def test_account_page_offers_the_second_factor_to_staff_only(app, user_client):
    with app.app_context():
        buyer = make_user()
        merchant = make_merchant().user
        admin = make_user(is_admin=True)
        db.session.commit()
    link = "/auth/second-factor/manage"
    assert link not in user_client(buyer).get("/auth/account").get_data(as_text=True)
    assert link in user_client(merchant).get("/auth/account").get_data(as_text=True)
    assert link in user_client(admin).get("/auth/account").get_data(as_text=True)
