"""What the security tests share: an app with CSRF on, signing in through the real form, the
CSRF token of a client's session, a fingerprint of every table, and where results are written."""

import hashlib
import json

import pytest
from sqlalchemy import select

from bench.common import hidden_fields
from shop import PROJECT_ROOT
from shop.platform.extensions import db
from tests.conftest import build_app
from tests.factories import DEFAULT_PASSWORD

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "security"


@pytest.fixture
def secure_app(database_url, tmp_path):
    """The app as it runs in production as far as these tests care: CSRF tokens required."""
    application = build_app(database_url, tmp_path / "instance", WTF_CSRF_ENABLED=True)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def csrf_token(client) -> str:
    """A valid token for ``client``'s session: signed in, every page's footer form carries one;
    signed out, the sign-in form does (an anonymous home page stores nothing in the session)."""
    for page in ("/", "/auth/signin"):
        token = hidden_fields(client.get(page).get_data(as_text=True)).get("csrf_token")
        if token:
            return token
    raise AssertionError("no csrf_token on the home page or the sign-in page")


def signed_in(app, account: str, password: str = DEFAULT_PASSWORD):
    """A test client signed in through the form, CSRF token and all, reading English."""
    client = app.test_client()
    client.set_cookie("lang", "en")
    page = client.get("/auth/signin").get_data(as_text=True)
    form = {**hidden_fields(page), "account": account, "password": password}
    answer = client.post("/auth/signin", data=form)
    assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
    return client


def anonymous(app):
    client = app.test_client()
    client.set_cookie("lang", "en")
    return client


def fingerprint() -> dict[str, dict]:
    """Every row of every table, by table and primary key, as a digest (inside an app
    context). Two fingerprints are equal exactly when no row was inserted, changed or
    deleted."""
    result = {}
    for table in db.metadata.sorted_tables:
        keys = list(table.primary_key.columns) or list(table.columns)
        rows = db.session.execute(select(table).order_by(*keys)).all()
        by_key = {}
        for row in rows:
            values = row._mapping
            key = tuple(str(values[c.name]) for c in keys)
            digest = hashlib.sha256(
                json.dumps([str(v) for v in values.values()], ensure_ascii=False).encode()
            ).hexdigest()
            by_key[key] = (digest, dict(values))
        result[table.name] = by_key
    db.session.rollback()  # end the read transaction: the next request sees fresh data
    return result


def diff(before: dict, after: dict) -> dict[str, dict]:
    """{table: {"inserted": [...rows], "deleted": [...keys], "updated": {key: [columns]}}}."""
    changes = {}
    for table, rows in after.items():
        old = before.get(table, {})
        inserted = [rows[k][1] for k in rows.keys() - old.keys()]
        deleted = sorted(old.keys() - rows.keys())
        updated = {}
        for key in rows.keys() & old.keys():
            if rows[key][0] != old[key][0]:
                a, b = old[key][1], rows[key][1]
                updated[key] = sorted(c for c in a if str(a[c]) != str(b[c]))
        if inserted or deleted or updated:
            changes[table] = {"inserted": inserted, "deleted": deleted, "updated": updated}
    return changes


def write_artifact(name: str, text: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_text(text, encoding="utf-8")
