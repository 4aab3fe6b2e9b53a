"""The attribution rule, with explicit times."""

from datetime import datetime, timedelta

import pytest

from shop.sharing.attribution import ClickFact, Reason, decide

ORDER_AT = datetime(2026, 11, 20, 12, 0, 0)
WINDOW = timedelta(days=15)
BUYER = 99


def click(click_id, sharer, ago, counted=True):
    return ClickFact(click_id, sharer, ORDER_AT - ago, counted)


def run(clicks, *, buyer=BUYER, allow_self=True, window=WINDOW):
    return decide(
        clicks, order_at=ORDER_AT, buyer_id=buyer, window=window, allow_self_purchase=allow_self
    )


def test_no_clicks_earns_nothing():
    decision = run([])
    assert decision.reason == Reason.NO_CLICK and not decision.earns
    assert decision.click_id is None and decision.others == {}


def test_a_click_inside_the_window_earns():
    decision = run([click(1, 7, timedelta(days=3))])
    assert (decision.reason, decision.click_id, decision.sharer_id) == (Reason.ATTRIBUTED, 1, 7)
    assert decision.earns


@pytest.mark.parametrize(
    ("age", "earns"),
    [
        (timedelta(days=15), True),  # exactly at the edge: still inside
        (timedelta(days=15, seconds=1), False),
        (timedelta(days=14, hours=23, minutes=59, seconds=59), True),
        (timedelta(0), True),  # the same instant as the order
    ],
)
def test_window_edges(age, earns):
    decision = run([click(1, 7, age)])
    assert decision.earns is earns
    if not earns:
        assert decision.reason == Reason.OUTSIDE_WINDOW and decision.others == {
            7: Reason.OUTSIDE_WINDOW
        }


def test_a_click_after_the_order_is_ignored():
    decision = run([click(1, 7, -timedelta(seconds=1))])
    assert decision.reason == Reason.NO_CLICK


def test_the_latest_click_wins_and_earlier_sharers_are_overwritten():
    decision = run(
        [
            click(1, 7, timedelta(days=5)),
            click(2, 8, timedelta(days=1)),
            click(3, 9, timedelta(days=20)),
        ]
    )
    assert (decision.reason, decision.sharer_id, decision.click_id) == (Reason.ATTRIBUTED, 8, 2)
    assert decision.others == {7: Reason.OVERWRITTEN, 9: Reason.OUTSIDE_WINDOW}


def test_the_same_sharers_earlier_click_is_not_reported_against_them():
    decision = run([click(1, 7, timedelta(days=5)), click(2, 7, timedelta(days=1))])
    assert decision.click_id == 2 and decision.others == {}


def test_ties_in_time_go_to_the_later_row():
    at = timedelta(hours=2)
    decision = run([click(5, 7, at), click(6, 8, at)])
    assert decision.click_id == 6 and decision.others == {7: Reason.OVERWRITTEN}


def test_bot_and_duplicate_clicks_never_earn_nor_overwrite():
    decision = run([click(1, 7, timedelta(days=2)), click(2, 8, timedelta(hours=1), counted=False)])
    assert (decision.reason, decision.sharer_id) == (Reason.ATTRIBUTED, 7)
    assert decision.others == {8: Reason.BOT}


def test_only_bot_clicks():
    decision = run([click(1, 8, timedelta(hours=1), counted=False)])
    assert decision.reason == Reason.BOT and not decision.earns


def test_self_purchase_allowed_is_marked():
    decision = run([click(1, BUYER, timedelta(days=1))], allow_self=True)
    assert decision.reason == Reason.SELF_PURCHASE and decision.earns
    assert decision.sharer_id == BUYER


def test_self_purchase_not_allowed_earns_nothing():
    decision = run(
        [click(1, 7, timedelta(days=3)), click(2, BUYER, timedelta(days=1))], allow_self=False
    )
    assert decision.reason == Reason.SELF_PURCHASE_NOT_ALLOWED and not decision.earns
    assert decision.others == {7: Reason.OVERWRITTEN}


def test_a_signed_out_buyer_is_never_a_self_purchase():
    decision = run([click(1, 7, timedelta(days=1))], buyer=None, allow_self=False)
    assert decision.reason == Reason.ATTRIBUTED


def test_the_window_is_a_setting():
    decision = run([click(1, 7, timedelta(days=3))], window=timedelta(days=2))
    assert decision.reason == Reason.OUTSIDE_WINDOW
