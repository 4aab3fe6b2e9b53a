"""What an admin reads before deciding an appeal (shop.money.appeals): the rule applied to
the appellant, the other candidates as "other 1", "other 2"... (never a name or id), and the
buyer's clicks before the order with their times, whether each was counted and in the
window, and which one won."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from shop.money.models import Appeal
from shop.orders import checkout
from shop.orders.models import Order
from shop.platform.extensions import db
from shop.sharing.models import Click


@dataclass(frozen=True)
class ClickLine:
    clicked_at: datetime
    who: str  #: "appellant", "winner" or "other N": never a name or id
    counted: bool
    in_window: bool
    is_winner: bool


@dataclass(frozen=True)
class Evidence:
    order: Order | None
    reason: str | None  #: the appellant's reason frozen on the order
    winner: str  #: "appellant", "another sharer" or "none"
    others: list[tuple[str, str]]  #: (anonymised sharer, their reason), not the appellant's
    clicks: list[ClickLine]
    window_days: int


def evidence(appeal: Appeal, *, window: timedelta) -> Evidence:
    """What an admin reads: the rule applied to the appellant, the other candidates as
    "sharer 1", "sharer 2"..., and the buyer's clicks (the visitor of the winning click or
    of the picked click) before the order, with times, whether counted and in the window."""
    order = appeal.order
    names: dict[int, str] = {appeal.sharer_id: "appellant"}

    def who(sharer_id: int | None) -> str:
        if sharer_id is None:
            return "none"
        return names.setdefault(sharer_id, f"other {len(names)}")

    visitor = None
    if order is not None and order.click_id is not None:
        visitor = db.session.get(Click, order.click_id)
    if visitor is None and appeal.click is not None:
        visitor = appeal.click
    lines: list[ClickLine] = []
    if order is not None:
        who(order.sharer_id)
    if visitor is not None:
        before = order.placed_at if order is not None else appeal.created_at
        for fact in sorted(
            checkout.attribution_clicks(visitor.visitor_id, before=before, window=window),
            key=lambda f: f.clicked_at,
        ):
            lines.append(
                ClickLine(
                    fact.clicked_at,
                    who(fact.sharer_id),
                    fact.counted,
                    before - fact.clicked_at <= window,
                    order is not None and fact.click_id == order.click_id,
                )
            )
    others = []
    if order is not None:
        for sharer_id, reason in sorted((order.attribution_others or {}).items()):
            if int(sharer_id) != appeal.sharer_id:  # the appellant's rule is shown apart
                others.append((who(int(sharer_id)), reason))
    reason = None
    if order is not None:
        if order.sharer_id == appeal.sharer_id:
            reason = order.attribution_reason
        else:
            reason = (order.attribution_others or {}).get(str(appeal.sharer_id))
    return Evidence(
        order=order,
        reason=reason,
        winner=who(order.sharer_id) if order is not None else "none",
        others=others,
        clicks=lines,
        window_days=window.days,
    )
