"""The earnings page shows its two sums with terms that add up to what it says, and each
order's dates: paid, when it should settle (or "N days after receipt"), settled, voided or
clawed back."""

import re
from datetime import timedelta

import pytest

from shop.money import payouts
from shop.platform.extensions import db
from tests.factories import make_user
from tests.services.test_earnings_statement import NOW, Sharer, refund


@pytest.fixture
def user_client(english_client):
    return english_client


def amount(page, element_id):
    found = re.search(rf'id="{element_id}">¥(-?[\d,]+\.\d\d)<', page)
    assert found, element_id
    return int(round(float(found.group(1).replace(",", "")) * 100))


def test_the_cards_add_up_and_each_row_gives_its_dates(app, user_client):
    with app.app_context():
        sharer = Sharer()
        sharer.paid_order()
        completed = sharer.completed()
        refund(sharer.paid_order(), NOW + timedelta(days=1))
        sharer.settled()
        sharer.settled()
        refund(sharer.settled(), NOW + timedelta(days=9))
        paid = sharer.payout(1000, "page-paid-key")
        payouts.decide(paid, True, actor=make_user(is_admin=True), reference="T1", now=NOW)
        sharer.payout(1000, "page-pending-key")
        db.session.commit()
        user = sharer.user
        completed_at = completed.completed_at
    page = user_client(user).get("/me/earnings").get_data(as_text=True)
    estimated, voided = amount(page, "sum-estimated"), amount(page, "sum-voided")
    settled_out, awaiting = amount(page, "sum-settled-out"), amount(page, "balance-estimated")
    assert (estimated, voided, settled_out, awaiting) == (6000, 1000, 3000, 2000)
    assert estimated - voided - settled_out == awaiting
    settled, clawed = amount(page, "balance-settled"), amount(page, "sum-clawback")
    paid_out, held = amount(page, "balance-paid"), amount(page, "sum-held")
    available = amount(page, "balance-available")
    assert (settled, clawed, paid_out, held, available) == (3000, 1000, 1000, 1000, 0)
    assert settled - clawed - paid_out - held == available
    assert "Settled (all time, before clawbacks)" in page
    assert "settles 7 days after the buyer confirms receipt" in page  # paid, not received
    expected = (completed_at + timedelta(days=7) + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    assert f"settles on {expected}" in page
    assert page.count("settled 2026-") == 3  # the two settled rows and the clawed-back one
    assert page.count("voided 2026-") == 1 and page.count("clawed back 2026-") == 1
    assert page.count("Paid 2026-") == 6
