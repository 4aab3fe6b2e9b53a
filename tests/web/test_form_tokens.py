"""The form token (shop.web.forms.csrf_token): the signed token of a session's raw token is
kept per process while tokens do not expire, so a page with a form does not sign it again; a
session with another raw token never gets it, a kept token is accepted like a fresh one, and
with an expiry every page signs anew."""

import re

import pytest
from itsdangerous import URLSafeTimedSerializer

from shop.platform.extensions import db
from shop.web import forms
from tests.factories import make_user

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def signing(app, monkeypatch):
    """CSRF on (tests run without it), and each time Flask-WTF signs a token."""
    app.config["WTF_CSRF_ENABLED"] = True
    forms._SIGNED.clear()
    calls = []
    real = forms.generate_csrf

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(forms, "generate_csrf", counting)
    yield calls
    forms._SIGNED.clear()


def _raw(app, token: str) -> str:
    serializer = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token")
    return serializer.loads(token)


def _token(client, path="/auth/signin") -> str:
    page = client.get(path)
    assert page.status_code == 200
    return TOKEN.search(page.get_data(as_text=True))[1]


def test_a_session_s_token_is_signed_once_and_still_accepted(app, signing):
    client = app.test_client()
    first = _token(client)
    assert _token(client) == first and _token(client, "/auth/signup") == first
    assert len(signing) == 1
    with client.session_transaction() as session:
        assert _raw(app, first) == session["csrf_token"]
    with app.app_context():
        make_user(phone="13700001111")
        db.session.commit()
    answer = client.post(
        "/auth/signin",
        data={"csrf_token": first, "account": "13700001111", "password": "wrong-password-1"},
    )
    assert answer.status_code == 200 and "已过期" not in answer.get_data(as_text=True)
    refused = client.post("/auth/signin", data={"csrf_token": first + "x", "account": "1"})
    assert refused.status_code == 400


def test_another_raw_token_gets_its_own_signed_token(app, signing):
    one, other = app.test_client(), app.test_client()
    mine, theirs = _token(one), _token(other)
    assert _raw(app, mine) != _raw(app, theirs)
    # The session's raw token replaced (a new session): the kept token of the old one is
    # never given for it, and the old one is refused.
    with one.session_transaction() as session:
        session["csrf_token"] = "0" * 40
    fresh = _token(one)
    assert fresh != mine and _raw(app, fresh) == "0" * 40
    assert one.post("/auth/signin", data={"csrf_token": mine, "account": "1"}).status_code == 400


def test_tokens_that_expire_are_signed_on_every_page(app, signing):
    app.config["WTF_CSRF_TIME_LIMIT"] = 3600
    client = app.test_client()
    _token(client)
    _token(client)
    assert len(signing) == 2 and forms._SIGNED == {}


def test_a_form_with_its_own_secret_gets_flask_wtf_s_token(app, signing):
    from flask_wtf.csrf import validate_csrf

    class OwnSecret(forms.FlaskForm):
        class Meta:
            csrf_secret = b"a secret of its own"

    with app.test_request_context("/"):
        token = OwnSecret().csrf_token.current_token
        validate_csrf(token, secret_key=b"a secret of its own")
        assert forms._SIGNED == {}


def test_a_form_with_its_own_time_limit_never_gets_a_kept_expired_token(app, monkeypatch):
    """A review's case: a form whose Meta (or whose options when made) sets its own time
    limit or secret gets Flask-WTF's own token, not the one kept for the settings."""
    import time

    from flask import session
    from flask_wtf.csrf import validate_csrf

    from shop.web import forms

    app.config["WTF_CSRF_ENABLED"] = True
    forms._SIGNED.clear()

    class Timed(forms.FlaskForm):
        class Meta:
            csrf_time_limit = 60

    start = time.time()
    with app.test_request_context("/"):
        session["csrf_token"] = "a" * 40
        forms.csrf_token()  # a page with a form, at `start`: kept
    monkeypatch.setattr(time, "time", lambda: start + 600)
    with app.test_request_context("/"):
        session["csrf_token"] = "a" * 40
        form = Timed()
        validate_csrf(form.csrf_token.current_token, time_limit=form.meta.csrf_time_limit)
    with app.test_request_context("/"):
        session["csrf_token"] = "a" * 40
        form = forms.FlaskForm(meta={"csrf_secret": b"another secret"})
        validate_csrf(form.csrf_token.current_token, secret_key=b"another secret")
    forms._SIGNED.clear()


def test_a_label_resolved_under_another_locale_is_not_kept_for_this_one(app):
    from flask_babel import force_locale
    from flask_babel import lazy_gettext as _l

    from shop.web import forms
    from shop.web.common import page_translations

    label = _l("Quantity")
    forms._LABELS.clear()
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        page_translations()
        with force_locale("zh_Hans_CN"):
            assert forms.choice_label(label) == "数量"
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert forms.choice_label(label) == "Quantity"
    forms._LABELS.clear()
