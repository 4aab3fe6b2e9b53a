"""The merchant console: apply, then (once approved) manage products."""

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from shop.catalog import merchants, products
from shop.catalog.catalog import rebate_cents, whole_number
from shop.catalog.models import Category, MerchantStatus, Product, ProductStatus
from shop.money import fee_rules
from shop.platform.errors import DomainError
from shop.platform.extensions import db, login_manager
from shop.teams import teams
from shop.web.common import confirm_first, money, now, show_domain_error, upload_limit
from shop.web.merchant import bp, spec_table
from shop.web.merchant.forms import (
    ActionForm,
    ApplicationForm,
    EmptyForm,
    ImagesForm,
    ProductEditForm,
    ProductForm,
)

#: Pages any signed-in user may open; the rest need an approved merchant.
OPEN_ENDPOINTS = frozenset({"merchant.apply"})


@bp.before_request
def _guard():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    g.merchant = merchants.merchant_of(current_user)
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if g.merchant is None or g.merchant.status != MerchantStatus.APPROVED:
        if g.merchant is not None and g.merchant.status == MerchantStatus.SUSPENDED:
            flash(_("Your merchant account is suspended."), "error")
        return redirect(url_for("merchant.apply"))
    return None


def load_own_product(product_id: int) -> Product:
    """The signed-in merchant's product, or 404 (another merchant's id looks like none)."""
    product = db.session.get(Product, product_id)
    if product is None or product.merchant_id != g.merchant.id:
        abort(404)
    return product


def _category_choices():
    locale = str(get_locale())
    rows = db.session.execute(db.select(Category).order_by(Category.position)).scalars()
    return [(c.id, c.name_for(locale)) for c in rows]


def _uploads(field_name: str) -> list[bytes]:
    return [f.read() for f in request.files.getlist(field_name) if f and f.filename]


# --- application ---------------------------------------------------------------------------


@bp.route("/apply", methods=["GET", "POST"])
@upload_limit
def apply():
    merchant = g.merchant
    if merchant is not None and merchant.status != MerchantStatus.REJECTED:
        return render_template("merchant/application_status.html", merchant=merchant)
    form = ApplicationForm(obj=merchant if request.method == "GET" else None)
    form.category_id.choices = [(0, _("Choose…")), *_category_choices()]
    if form.validate_on_submit():
        data = merchants.Application(
            name=form.name.data,
            licence_no=form.licence_no.data,
            contact_name=form.contact_name.data,
            contact_phone=form.contact_phone.data,
            category_id=form.category_id.data or None,
            description=form.description.data or "",
        )
        logo = request.files.get("logo")
        try:
            merchants.submit_application(
                current_user._get_current_object(),
                data,
                logo=logo.read() if logo and logo.filename else None,
                now=now(),
            )
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
        else:
            db.session.commit()
            flash(_("Application submitted. We will review it soon."), "success")
            return redirect(url_for("merchant.apply"))
    return render_template("merchant/apply.html", form=form, merchant=merchant)


# --- products ------------------------------------------------------------------------------


@bp.route("/")
def product_list():
    status = request.args.get("status")
    try:
        selected = ProductStatus(status) if status else None
    except ValueError:
        selected = None
    return render_template(
        "merchant/products.html",
        products=products.merchant_products(g.merchant, selected),
        counts=products.status_counts(g.merchant),
        selected=selected,
        statuses=list(ProductStatus),
        action_form=EmptyForm(),
        rebate_cents=rebate_cents,
    )


def _product_input(form: ProductForm) -> products.ProductInput:
    return products.ProductInput(
        title=form.title.data or "",
        description=form.description.data or "",
        category_id=form.category_id.data or None,
        price=form.price.data,
        original_price=form.original_price.data,
        stock=form.stock.data,
        rebate_percent=form.rebate_percent.data,
    )


def _show_errors(form, errors) -> None:
    for error in errors:
        show_domain_error(form, error)


def _table_only() -> bool:
    """The "Update the table" / "Set all" buttons: the form comes back, nothing saved."""
    return request.method == "POST" and request.form.get("op") in ("table", "bulk")


def _save_errors(form, table, errors) -> None:
    for error in errors:
        if not spec_table.put_error(table, error):
            show_domain_error(form, error)
    if table.errors:
        flash(_("Check the specs: some rows need a fix."), "error")


@bp.route("/products/new", methods=["GET", "POST"])
@upload_limit
def product_new():
    form = ProductForm()
    form.category_id.choices = [(0, _("Choose…")), *_category_choices()]
    table = spec_table.from_product(None)
    if request.method == "GET":
        form.category_id.data = g.merchant.category_id or 0
        form.stock.data = "0"
    else:
        table = spec_table.from_request(request, bulk=request.form.get("op") == "bulk")
    if not _table_only() and form.validate_on_submit():
        rows = spec_table.check(table, None)
        fields, errors = products.check_input(_product_input(form), rows)
        if errors or table.errors:
            _save_errors(form, table, errors)
        else:
            try:
                _check_rebate(fields, rows)
                product = products.create_product(
                    g.merchant,
                    fields,
                    uploads=_uploads("images"),
                    now=now(),
                    dimensions=table.dimensions,
                    rows=rows,
                )
            except DomainError as error:
                db.session.rollback()
                _save_errors(form, table, [error])
            else:
                db.session.commit()
                flash(_("Saved as a draft. List it when it is ready."), "success")
                return redirect(url_for("merchant.product_edit", product_id=product.id))
    return render_template(
        "merchant/product_form.html", form=form, product=None, table=table, image_choices=[]
    )


def _check_rebate(fields, rows) -> None:
    """The rebate rates typed (the product's and its specs') must leave the platform fee
    enough to pay the team override (shop.money.fee_rules). Raises ValidationError."""
    config = current_app.config
    override = teams.effective_rate(config["TEAM_OVERRIDE_BPS"], config["TEAM_OVERRIDE_MAX_BPS"])
    rates = [fields.rebate_bps, *(r.rebate_bps for r in rows or () if r.rebate_bps is not None)]
    fee_rules.check_rebate(g.merchant, fields.category_id, max(rates), override_bps=override)


@bp.route("/products/<int:product_id>/edit", methods=["GET", "POST"])
@upload_limit
def product_edit(product_id: int):
    product = load_own_product(product_id)
    form = ProductEditForm()
    form.category_id.choices = _category_choices()
    if request.method == "GET":
        form.title.data = product.title
        form.description.data = product.description
        form.category_id.data = product.category_id
        form.price.data = _yuan(product.price_cents)
        form.original_price.data = _yuan(product.original_price_cents)
        form.stock.data = form.stock_shown.data = str(product.stock)
        form.rebate_percent.data = products.format_bps(product.rebate_bps)
        table = spec_table.from_product(product)
    else:
        table = spec_table.from_request(request, bulk=request.form.get("op") == "bulk")
    if not _table_only() and form.validate_on_submit():
        rows = spec_table.check(table, product)
        fields, errors = products.check_input(_product_input(form), rows)
        if errors or table.errors:
            _save_errors(form, table, errors)
        else:
            shown = whole_number(form.stock_shown.data)
            try:
                _check_rebate(fields, rows)
                products.update_product(
                    product,
                    fields,
                    stock_shown=shown,
                    merchant=g.merchant,
                    now=now(),
                    dimensions=table.dimensions if rows is not None else None,
                    rows=rows,
                )
                products.add_images(product, _uploads("images"), merchant=g.merchant)
            except DomainError as error:
                db.session.rollback()
                _save_errors(form, table, [error])
                if error.field == "stock":  # saving again sets the stock typed
                    form.stock_shown.data = str(product.stock)
                _refresh_shown(table, product)
            else:
                db.session.commit()
                flash(_("Saved."), "success")
                if rows is None:
                    _say_stock_moved(fields.stock, shown, product.stock)
                return redirect(url_for("merchant.product_edit", product_id=product.id))
    return render_template(
        "merchant/product_form.html",
        form=form,
        product=product,
        table=table,
        image_choices=[(pi.image_id, pi.image) for pi in product.images],
        images_form=ImagesForm(),
        action_form=ActionForm(),
    )


def _refresh_shown(table, product: Product) -> None:
    """After a refused stock change: each row shown with the stock it has now, so saving
    again sets the stock typed."""
    db.session.expire(product, ["skus"])
    now_stock = {(s.value1, s.value2): s.stock for s in product.skus}
    for row in table.rows:
        if row.values in now_stock and row.stock_shown is not None:
            row.stock_shown = str(now_stock[row.values])


def _say_stock_moved(typed: int, shown: int, stock: int) -> None:
    """Orders placed or cancelled while the form was open moved the stock: say where it is."""
    if stock == typed:
        return
    change = typed - shown
    if change == 0:
        flash(
            _("Orders changed the stock while you were editing: it is %(stock)d now.", stock=stock),
            "info",
        )
    else:
        flash(
            _(
                "Orders changed the stock while you were editing, so your change (%(change)s) "
                "was made to the stock as it was: it is %(stock)d now.",
                change=f"{change:+d}",
                stock=stock,
            ),
            "info",
        )


def _yuan(cents: int | None) -> str:
    return money(cents) if cents is not None else ""


def _after_action(product: Product):
    target = request.form.get("back")
    if target == "list":
        return redirect(url_for("merchant.product_list"))
    return redirect(url_for("merchant.product_edit", product_id=product.id))


def _run(product: Product, action, success: str):
    try:
        action()
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(success, "success")
    return _after_action(product)


@bp.route("/products/<int:product_id>/images", methods=["POST"])
@upload_limit
def product_images_add(product_id: int):
    product = load_own_product(product_id)
    ImagesForm().validate_on_submit()
    return _run(
        product,
        lambda: products.add_images(product, _uploads("images"), merchant=g.merchant),
        _("Images added."),
    )


@bp.route("/products/<int:product_id>/images/<int:product_image_id>/delete", methods=["POST"])
def product_image_delete(product_id: int, product_image_id: int):
    product = load_own_product(product_id)
    return _run(
        product,
        lambda: products.remove_image(product, product_image_id, merchant=g.merchant),
        _("Image removed."),
    )


@bp.route("/products/<int:product_id>/images/<int:product_image_id>/cover", methods=["POST"])
def product_image_cover(product_id: int, product_image_id: int):
    product = load_own_product(product_id)
    return _run(
        product,
        lambda: products.make_cover(product, product_image_id, merchant=g.merchant),
        _("Cover image changed."),
    )


@bp.route("/products/<int:product_id>/list", methods=["POST"])
def product_publish(product_id: int):
    product = load_own_product(product_id)
    return _run(
        product,
        lambda: products.change_status(product, "list", merchant=g.merchant, now=now()),
        _("Listed: buyers and sharers can see it now."),
    )


@bp.route("/products/<int:product_id>/delist", methods=["POST"])
def product_unpublish(product_id: int):
    product = load_own_product(product_id)
    page = confirm_first(
        _("Delist “%(title)s”?", title=product.title),
        _("Delist"),
        url_for("merchant.product_list"),
        _("It leaves the catalogue and every sharer's shop; links to it stop selling it."),
    )
    if page is not None:
        return page
    return _run(
        product,
        lambda: products.change_status(product, "delist", merchant=g.merchant, now=now()),
        _("Delisted: it no longer shows in the catalogue or shops."),
    )
