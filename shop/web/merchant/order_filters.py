"""The merchant's order filters (a GET form): the tab, a search by order number or receiver's
phone, a date range and a product. Every value is checked; a bad one gets a message at its
field, keeps what was typed and is left out of the query, so a URL can never cause an error
page, and a product id of another merchant finds nothing and says so like any unknown id."""

from datetime import date

from flask_babel import lazy_gettext as _l
from wtforms import Form, HiddenField, SelectField, StringField

from shop.orders import merchant_orders
from shop.orders.merchant_orders import OrderFilter

#: The tabs, in the order shown: key, label.
TABS = (
    ("all", _l("All")),
    ("unpaid", _l("To pay")),
    ("unshipped", _l("To ship")),
    ("shipped", _l("To receive")),
    ("completed", _l("Completed")),
    ("aftersale", _l("After-sales")),
)
#: Links made before the tabs (?status=paid) and the tab each status is under.
STATUS_TABS = {
    status.value: tab
    for tab, statuses in merchant_orders.TAB_STATUSES.items()
    if tab != "all"
    for status in statuses
}
EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)


class OrderFilterForm(Form):
    tab = HiddenField()
    q = StringField(
        _l("Order number or receiver's phone"),
        render_kw={
            "type": "search",
            "inputmode": "numeric",
            "maxlength": 24,
            "placeholder": _l("Order no. / phone / last 4"),
            "autocomplete": "off",
        },
    )
    start = StringField(_l("Placed from"), render_kw={"type": "date"})
    end = StringField(_l("Placed until"), render_kw={"type": "date"})
    product = SelectField(_l("Product"), choices=[], validate_choice=False)


def _date(field) -> date | None:
    raw = (field.data or "").strip()
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        value = None
    if value is None or not EARLIEST <= value <= LATEST:
        field.errors.append(_l("Enter a date like 2026-12-06."))
        return None
    return value


def parse(args, merchant_id: int) -> tuple[OrderFilterForm, OrderFilter, str]:
    """The form filled from ``args`` with a message at every bad field, the filter made of
    the good values, and the tab."""
    form = OrderFilterForm(args)
    form.product.choices = [
        ("", str(_l("All products"))),
        *((str(pid), title) for pid, title in merchant_orders.product_choices(merchant_id)),
    ]
    for field in form:
        field.errors = []
    tab = form.tab.data or STATUS_TABS.get(args.get("status", ""), "all")
    if tab not in merchant_orders.TAB_STATUSES:
        form.tab.errors.append(_l("There is no such tab: all orders are shown."))
        tab = "all"
    form.tab.data = tab if tab != "all" else ""

    form.q.data = (form.q.data or "").strip()
    query = "".join(form.q.data.split())  # "138 0013 8000" as people copy it
    if query and not (query.isascii() and query.isdigit() and 4 <= len(query) <= 24):
        form.q.errors.append(
            _l("Search by an order number, a phone number or its last 4 digits (digits only).")
        )
        query = ""

    start, end = _date(form.start), _date(form.end)
    if start and end and end < start:
        form.end.errors.append(_l("The end date is before the start date."))
        end = None

    product_id = None
    raw = (form.product.data or "").strip()
    if raw:
        if raw.isascii() and raw.isdigit() and len(raw) < 10:
            product_id = int(raw)
        if product_id is None or not merchant_orders.owns_product(merchant_id, product_id):
            form.product.errors.append(_l("Choose one of your products."))
            product_id = None
    return form, OrderFilter(query=query, start=start, end=end, product_id=product_id), tab


def has_errors(form: OrderFilterForm) -> bool:
    return any(field.errors for field in form)


def kept_params(form: OrderFilterForm, *, tab: str | None = None) -> dict[str, str]:
    """The query arguments that keep the current filters on a link (bad values are left
    behind: a link never carries an error on)."""
    params = {
        name: (getattr(form, name).data or "")
        for name in ("q", "start", "end", "product")
        if not getattr(form, name).errors
    }
    params["tab"] = tab if tab is not None else (form.tab.data or "")
    return {k: v for k, v in params.items() if v and v != "all"}
