"""Sign-in and sign-up by SMS code (console provider, demo code on the page): the happy paths,
every bad input of the issue, the send limits, and a provider that fails."""

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.accounts.models import SmsCode, User, UserSession
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.sms_fakes import fake_gateway

PHONE = "13800138000"
OTHER = "13900139000"


@pytest.fixture
def sms_app(app):
    app.config.update(SMS_PROVIDER="console", DEMO_MODE=True)
    return app


def english(app):
    client = app.test_client()
    client.set_cookie("lang", "en")
    return client


def send(client, phone=PHONE, path="/auth/code", **extra):
    return client.post(path, data={"phone": phone, "action": "send", **extra})


def demo_code(response) -> str:
    page = response.get_data(as_text=True)
    found = re.search(r'id="demo-code"[^>]*>[^<]*<strong>(\d{6})</strong>', page)
    assert found, page[:3000]
    return found.group(1)


def verify(client, code, phone=PHONE, next_="", **extra):
    return client.post(
        "/auth/code", data={"phone": phone, "code": code, "action": "verify", "next": next_}
    )


def codes_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(SmsCode))


def age_codes(app, seconds: int, phone=PHONE) -> None:
    """Move every code of ``phone`` ``seconds`` into the past (sent and expiry)."""
    with app.app_context():
        for row in db.session.execute(select(SmsCode).where(SmsCode.phone == phone)).scalars():
            row.sent_at -= timedelta(seconds=seconds)
            row.expires_at -= timedelta(seconds=seconds)
        db.session.commit()


# --- the two ways in ------------------------------------------------------------------------


def test_a_new_number_and_six_digits_make_an_account_without_a_password(sms_app):
    client = sms_app.test_client()
    page = client.get("/auth/signin?next=/p/1")
    assert 'name="phone"' in page.get_data(as_text=True)  # the code form leads
    sent = send(client, "+86 138-0013-8000", next="/p/1")
    assert sent.status_code == 200
    text = sent.get_data(as_text=True)
    assert "演示验证码" in text and 'value="+86 138-0013-8000"' in text  # the phone is kept
    assert 'data-countdown="60"' in text
    response = verify(client, demo_code(sent), next_="/p/1")
    assert response.status_code == 302 and response.headers["Location"] == "/p/1"
    with sms_app.app_context():
        user = db.session.execute(select(User).where(User.phone == PHONE)).scalar_one()
        assert user.password_hash is None and user.display_name.startswith("用户")
        session_row = db.session.execute(select(UserSession)).scalar_one()
        assert session_row.address_hash and "127.0.0.1" not in session_row.address_hash
        code_row = db.session.execute(select(SmsCode)).scalar_one()
        assert code_row.used_at is not None and len(code_row.code_hash) == 64
    assert client.get("/auth/account").status_code == 200


def test_a_returning_buyer_signs_in_with_a_code_and_goes_back_where_they_were(sms_app):
    with sms_app.app_context():
        make_user(phone=PHONE, display_name="老顾客")
        db.session.commit()
    client = sms_app.test_client()
    response = verify(client, demo_code(send(client)), next_="/s/shop/p/3?ref=AbC")
    assert response.headers["Location"] == "/s/shop/p/3?ref=AbC"
    with sms_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1
    # The sign-in page of this browser remembers the number for next time.
    client.post("/auth/signout")
    assert f'value="{PHONE}"' in client.get("/auth/signin").get_data(as_text=True)


def test_an_account_without_a_password_never_signs_in_by_password(sms_app):
    with sms_app.app_context():
        make_user(phone=PHONE, password_hash=None)
        db.session.commit()
    client = english(sms_app)
    for password in ("", "None", DEFAULT_PASSWORD, "!"):
        response = client.post("/auth/signin", data={"account": PHONE, "password": password})
        assert response.status_code == 200
    assert client.get("/auth/account").status_code == 302


def test_without_a_provider_the_page_offers_the_password_only(app):
    page = app.test_client().get("/auth/signin").get_data(as_text=True)
    assert 'name="password"' in page and 'name="phone"' not in page
    assert app.test_client().post("/auth/code", data={"phone": PHONE}).status_code == 302


def test_the_demo_code_is_only_on_the_page_in_the_demo(sms_app, caplog):
    sms_app.config["DEMO_MODE"] = False
    with caplog.at_level("WARNING", logger="shop.sms"):
        page = send(sms_app.test_client()).get_data(as_text=True)
    assert "演示验证码" not in page and "已发送至 138****8000" in page
    (line,) = [r.getMessage() for r in caplog.records if r.name == "shop.sms"]
    code = re.search(r"(\d{6})$", line).group(1)
    assert verify(sms_app.test_client(), code).status_code == 302


# --- bad codes ------------------------------------------------------------------------------


def test_a_wrong_code_says_how_many_tries_are_left_and_the_sixth_is_refused(sms_app):
    client = english(sms_app)
    code = demo_code(send(client))
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        page = verify(client, wrong).get_data(as_text=True)
        assert f"The code is wrong. {left} tries left for this code." in page
        assert f'value="{PHONE}"' in page  # nothing typed is lost
    page = verify(client, wrong).get_data(as_text=True)
    assert "Too many wrong tries for this code. Get a new one." in page
    page = verify(client, code).get_data(as_text=True)  # even the right code now
    assert "Too many wrong tries for this code. Get a new one." in page
    with sms_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_an_expired_code_is_refused(sms_app):
    client = english(sms_app)
    code = demo_code(send(client))
    age_codes(sms_app, 301)
    page = verify(client, code).get_data(as_text=True)
    assert "This code has expired. Get a new one." in page


def test_a_code_is_used_once(sms_app):
    client = english(sms_app)
    code = demo_code(send(client))
    assert verify(client, code).status_code == 302
    again = english(sms_app)
    page = verify(again, code).get_data(as_text=True)
    assert "This code has already been used. Get a new one." in page


def test_a_code_sent_to_another_phone_is_refused(sms_app):
    client = english(sms_app)
    code = demo_code(send(client, OTHER))
    page = verify(client, code, phone=PHONE).get_data(as_text=True)
    assert "No code was sent to this number." in page
    with sms_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_a_code_is_bound_to_its_purpose(sms_app):
    with sms_app.app_context():
        make_user(phone=PHONE)
        db.session.commit()
    client = english(sms_app)
    reset_code = demo_code(send(client, path="/auth/reset"))
    page = verify(client, reset_code).get_data(as_text=True)
    assert "No code was sent to this number." in page


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦"])
def test_a_code_that_is_not_six_digits_gets_a_field_message(sms_app, code):
    client = english(sms_app)
    send(client)
    page = verify(client, code).get_data(as_text=True)
    assert "Enter the 6-digit code from the text message." in page


# --- phone numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["+86 138 0013 8000", "138-0013-8000", "１３８００１３８０００", "008613800138000"]
)
def test_phone_numbers_are_accepted_as_people_write_them(sms_app, typed):
    client = english(sms_app)
    sent = send(client, typed)
    assert "sent to 138****8000" in sent.get_data(as_text=True)
    assert verify(client, demo_code(sent), phone=typed).status_code == 302
    with sms_app.app_context():
        assert db.session.execute(select(User.phone)).scalar_one() == PHONE


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("010-12345678", "This looks like a landline number."),
        ("0571 8888 6666", "This looks like a landline number."),
        ("1380013", "A mobile number has 11 digits; this one has 7."),
        ("23800138000", "Enter an 11-digit mainland mobile number"),
        ("+1 415 555 0100", "Only mainland China mobile numbers (+86)"),
        ("١٣٨٠٠١٣٨٠٠٠", "A mobile number has digits only"),
        ("", "Enter your mobile number."),
    ],
)
def test_landlines_short_and_foreign_numbers_get_a_clear_message(sms_app, typed, message):
    page = send(english(sms_app), typed).get_data(as_text=True)
    assert message in page and f'value="{typed}"' in page.replace('value=""', 'value=""')
    assert codes_count(sms_app) == 0


# --- send limits ----------------------------------------------------------------------------


def test_one_code_a_minute_then_five_an_hour_then_ten_a_day_per_phone(sms_app):
    client = english(sms_app)
    send(client)
    page = send(client).get_data(as_text=True)
    assert "A code was just sent. You can ask for another in" in page
    assert re.search(r'data-countdown="(\d+)"', page)
    assert codes_count(sms_app) == 1
    for _ in range(4):
        age_codes(sms_app, 61)
        assert "sent to 138****8000" in send(client).get_data(as_text=True)
    age_codes(sms_app, 61)
    page = send(client).get_data(as_text=True)
    assert "Too many codes were sent to this number. Try again in" in page
    assert codes_count(sms_app) == 5
    age_codes(sms_app, 3600)
    for _ in range(5):
        age_codes(sms_app, 61)
        send(client)
    age_codes(sms_app, 3600)
    page = send(client).get_data(as_text=True)
    assert "Too many codes were sent to this number today." in page
    assert codes_count(sms_app) == 10


def test_sends_are_limited_per_address(sms_app):
    sms_app.config["SMS_SENDS_PER_ADDRESS_PER_HOUR"] = 3
    client = english(sms_app)
    for n in range(3):
        assert "sent to" in send(client, f"1370000000{n}").get_data(as_text=True)
    page = send(client, "13700000009").get_data(as_text=True)
    assert "Too many codes were asked for from this network." in page
    # Another address is not touched.
    other = client.post(
        "/auth/code",
        data={"phone": "13700000009", "action": "send"},
        environ_base={"REMOTE_ADDR": "203.0.113.5"},
    )
    assert "sent to" in other.get_data(as_text=True)


@pytest.mark.parametrize("kind", ["aliyun", "tencent"])
def test_a_failing_provider_uses_nothing_up(app, kind):
    with fake_gateway(kind) as fake:
        app.config.update(fake.settings())
        fake.mode = "error"
        page = send(app.test_client()).get_data(as_text=True)
        assert "短信发送失败，请稍后再试" in page and f'value="{PHONE}"' in page
        assert codes_count(app) == 0
        page = send(english(app)).get_data(as_text=True)  # no minute to wait: nothing was used
        assert "The text message could not be sent. Please try again later." in page
        fake.mode = "ok"
        page = send(english(app)).get_data(as_text=True)
        assert "sent to 138****8000" in page and "Demo code" not in page
        assert codes_count(app) == 1
        assert all(seen["signature_ok"] for seen in fake.received)


def test_a_provider_that_refuses_the_connection_uses_nothing_up(app):
    app.config.update(
        SMS_PROVIDER="aliyun",
        ALIYUN_SMS_ACCESS_KEY_ID="id",
        ALIYUN_SMS_ACCESS_KEY_SECRET="secret",
        ALIYUN_SMS_SIGN_NAME="x",
        ALIYUN_SMS_TEMPLATE="SMS_1",
        ALIYUN_SMS_ENDPOINT="http://127.0.0.1:9/",
        SMS_TIMEOUT_SECONDS=1,
    )
    page = send(app.test_client()).get_data(as_text=True)
    assert "短信发送失败，请稍后再试" in page
    assert codes_count(app) == 0


def test_codes_are_stored_hashed(sms_app):
    code = demo_code(send(sms_app.test_client()))
    with sms_app.app_context():
        row = db.session.execute(select(SmsCode)).scalar_one()
        assert code not in row.code_hash and row.attempts == 0 and row.purpose == "signin"
        assert row.expires_at - row.sent_at == timedelta(seconds=300)
        assert row.sent_at <= utcnow()


def test_a_code_typed_in_full_width_digits_is_read(sms_app):
    client = sms_app.test_client()
    code = demo_code(send(client))
    full_width = "".join(chr(ord(d) + 0xFEE0) for d in code)
    assert verify(client, f" {full_width} ").status_code == 302


@pytest.mark.parametrize("path", ["/auth/code", "/auth/reset", "/auth/account/phone"])
@pytest.mark.parametrize(
    "value", ["\x00", "x" * 5000, "+", "+86", "8" * 40, "<script>", "13800138000\n1"]
)
def test_hostile_values_get_a_page_not_an_error(sms_app, path, value):
    with sms_app.app_context():
        make_user(phone=OTHER)
        db.session.commit()
    client = sms_app.test_client()
    if path == "/auth/account/phone":
        client.post("/auth/signin", data={"account": OTHER, "password": DEFAULT_PASSWORD})
    for action in ("send", "verify", "reset", "change"):
        response = client.post(
            path,
            data={"phone": value, "code": value, "new_password": value, "action": action},
        )
        assert response.status_code in (200, 302, 400), (action, response.status_code)
        assert "<script>" not in response.get_data(as_text=True)


def test_sends_at_the_same_moment_to_one_phone_send_one_code(sms_app):
    """Four "Get code" taps at once (a double tap, two tabs): the limits are checked and the
    code stored under the phone's lock, so exactly one passes."""
    barrier = threading.Barrier(4)
    pages = []

    def tap():
        client = english(sms_app)
        barrier.wait()
        pages.append(send(client).get_data(as_text=True))

    threads = [threading.Thread(target=tap) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(pages) == 4
    assert sum("sent to 138****8000" in page for page in pages) == 1
    assert sum("A code was just sent." in page for page in pages) == 3
    assert codes_count(sms_app) == 1


def test_enter_in_the_code_field_without_javascript_uses_the_code(sms_app):
    """Without JavaScript, Enter submits with the first button ("Get code"): six digits typed
    mean "sign in"; with JavaScript (js=1) the button asks for a code as pressed."""
    client = english(sms_app)
    code = demo_code(send(client))
    with_js = client.post(
        "/auth/code", data={"phone": PHONE, "code": code, "action": "send", "js": "1"}
    )
    assert "A code was just sent." in with_js.get_data(as_text=True)
    enter = client.post("/auth/code", data={"phone": PHONE, "code": code, "action": "send"})
    assert enter.status_code == 302


def test_a_new_number_from_an_invite_joins_the_team_and_an_existing_one_does_not(sms_app):
    from tests.web.test_teams import leader_of, make_leader

    with sms_app.app_context():
        leader_id, code = make_leader()
        make_user(phone=OTHER)
        db.session.commit()
    client = sms_app.test_client()
    client.get(f"/join/{code}")
    assert verify(client, demo_code(send(client))).status_code == 302
    assert leader_of(sms_app, PHONE) == leader_id
    existing = sms_app.test_client()
    existing.get(f"/join/{code}")
    assert verify(existing, demo_code(send(existing, OTHER)), phone=OTHER).status_code == 302
    assert leader_of(sms_app, OTHER) is None


def test_a_send_drops_the_phones_rows_older_than_two_days(sms_app):
    client = english(sms_app)
    send(client)
    send(client, OTHER)
    age_codes(sms_app, 3 * 24 * 3600)
    age_codes(sms_app, 3 * 24 * 3600, phone=OTHER)
    send(client)
    with sms_app.app_context():
        phones = sorted(db.session.execute(select(SmsCode.phone)).scalars())
    assert phones == [PHONE, OTHER]  # the old row of PHONE went; OTHER's waits for its next send
