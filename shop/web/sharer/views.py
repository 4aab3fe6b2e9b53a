"""/me: a sharer's shop, curation, share links and posters."""

from flask import (
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from shop.catalog.models import Product
from shop.platform.errors import DomainError
from shop.platform.extensions import db, login_manager
from shop.platform.inputs import parse_id
from shop.sharing import links, materials, shops
from shop.sharing.models import Channel, ShareLink, ShopItem
from shop.web.common import (
    confirm_first,
    money,
    now,
    safe_next,
    show_domain_error,
    upload_limit,
)
from shop.web.sharer import bp
from shop.web.sharer.forms import (
    EmptyForm,
    ItemAddForm,
    LinkForm,
    MoveForm,
    RecommendationForm,
    ShopSettingsForm,
)

#: Pages a user without a shop may open.
NO_SHOP_ENDPOINTS = frozenset(
    {
        "sharer.shop_settings",
        "sharer.earnings_page",
        "sharer.payout_request",
        "sharer.payout_account",
        "sharer.export_csv",
        "sharer.team_page",  # a member without a shop sees their leader; others, a prompt
    }
)


@bp.before_request
def _guard():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    g.shop = shops.shop_of(current_user)
    if g.shop is None and request.endpoint not in NO_SHOP_ENDPOINTS:
        if request.method == "POST" and request.endpoint == "sharer.item_add":
            flash(_("Open your shop first; then add the product again."), "info")
        return redirect(url_for("sharer.shop_settings"))
    return None


def load_own_item(item_id: int) -> ShopItem:
    item = db.session.get(ShopItem, item_id)
    if item is None or item.shop_id != g.shop.id:
        abort(404)
    return item


def load_own_link(link_id: int) -> ShareLink:
    link = db.session.get(ShareLink, link_id)
    if link is None or link.shop_id != g.shop.id:
        abort(404)
    return link


# --- the shop ------------------------------------------------------------------------------


@bp.route("/shop/settings", methods=["GET", "POST"])
@upload_limit
def shop_settings():
    shop = g.shop
    form = ShopSettingsForm(obj=shop if request.method == "GET" else None)
    if request.method == "GET" and shop is None:
        form.name.data = _("%(name)s's shop", name=current_user.display_name)
        form.slug.data = shops.random_slug()
    if form.validate_on_submit():
        avatar = request.files.get("avatar")
        try:
            shops.save_shop(
                current_user._get_current_object(),
                name=form.name.data,
                slug=form.slug.data,
                intro=form.intro.data or "",
                avatar=avatar.read() if avatar and avatar.filename else None,
                now=now(),
            )
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
        else:
            db.session.commit()
            flash(_("Your shop is saved.") if shop else _("Your shop is open!"), "success")
            return redirect(url_for("sharer.shop_console"))
    return render_template("sharer/shop_settings.html", form=form, shop=shop)


@bp.route("/shop")
def shop_console():
    return render_template(
        "sharer/shop.html",
        shop=g.shop,
        items=shops.console_items(g.shop),
        unavailable_labels=shops.UNAVAILABLE_LABELS,
        recommendation_form=RecommendationForm(),
        action_form=EmptyForm(),
        manage=request.args.get("manage") == "1",
    )


@bp.route("/shop/items", methods=["POST"])
def item_add():
    form = ItemAddForm()
    back = safe_next(form.next.data) or url_for("sharer.shop_console")
    product_id = parse_id(form.product_id.data)
    product = db.session.get(Product, product_id) if product_id is not None else None
    if product is None:
        abort(404)
    try:
        shops.add_item(g.shop, product, now=now())
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(back)
    db.session.commit()
    flash(_("Added to your shop. Write why you recommend it."), "success")
    return redirect(url_for("sharer.shop_console", _anchor=f"p{product.id}"))


def _item_action(item_id: int, action, message: str | None = None):
    item = load_own_item(item_id)
    try:
        action(item)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        if message:
            flash(message, "success")
    return redirect(url_for("sharer.shop_console", _anchor=f"p{item.product_id}"))


@bp.route("/shop/items/<int:item_id>/recommendation", methods=["POST"])
def item_edit(item_id: int):
    form = RecommendationForm()
    return _item_action(
        item_id,
        lambda item: shops.edit_recommendation(item, form.recommendation.data),
        _("Recommendation saved."),
    )


@bp.route("/shop/items/<int:item_id>/move", methods=["POST"])
def item_move(item_id: int):
    direction = -1 if MoveForm().direction.data == "up" else 1
    return _item_action(item_id, lambda item: shops.move_item(item, direction))


@bp.route("/shop/items/<int:item_id>/pin", methods=["POST"])
def item_pin(item_id: int):
    return _item_action(item_id, lambda item: shops.set_pinned(item, not item.is_pinned))


@bp.route("/shop/items/<int:item_id>/remove", methods=["POST"])
def item_remove(item_id: int):
    item = load_own_item(item_id)
    page = confirm_first(
        _("Remove “%(title)s” from your shop?", title=item.product.title),
        _("Remove"),
        url_for("sharer.shop_console", _anchor=f"p{item.product_id}"),
        _("Its share links stop leading here; your recommendation is lost."),
    )
    if page is not None:
        return page
    return _item_action(item_id, shops.remove_item, _("Removed from your shop."))


@bp.route("/shop/items/order", methods=["POST"])
def items_reorder():
    """The order of a drag in the shop editor's arrange mode: every item id of the shop."""
    ids = [parse_id(raw) for raw in request.form.getlist("item")]
    try:
        shops.reorder_items(g.shop, [i for i in ids if i is not None])
    except DomainError as error:
        db.session.rollback()
        if request.headers.get("X-Requested-With") == "fetch":
            return {"error": error.message}, 422
        flash(error.message, "error")
    else:
        db.session.commit()
        if request.headers.get("X-Requested-With") == "fetch":
            return {"ok": True}
    return redirect(url_for("sharer.shop_console", manage=1))


def share_text(link: ShareLink, url: str) -> str:
    """A message ready to paste into a chat: title, price, the sharer's words (or the
    merchant's ready copy), the link."""
    if link.product is None:
        return f"【{g.shop.name}】{g.shop.intro}\n{url}".strip()
    item = shops.find_item(g.shop, link.product_id)
    words = (item.recommendation if item else "") or materials.text_of(link.product)
    text = f"【{link.product.title}】¥{money(link.product.price_cents)}"
    return "\n".join(part for part in (text, words, url) if part)


# --- share links ---------------------------------------------------------------------------


def _channel_choices():
    """Channels a new link may have: posters are a button on every link, not a channel."""
    return [(c.value, str(links.CHANNEL_LABELS[c])) for c in Channel if c != Channel.POSTER]


def _share_page(item: ShopItem | None):
    product = item.product if item else None
    target = links.target_key(product)
    shop_links = [link for link in links.links_of_shop(g.shop) if link.target_key == target]
    form = LinkForm()
    form.channel.choices = _channel_choices()
    return render_template(
        "sharer/share.html",
        share_text=share_text,
        item=item,
        product=product,
        links=shop_links,
        form=form,
        channel_name=links.channel_name,
        highlight=request.args.get("new", type=int),
    )


def _create_link(item: ShopItem | None):
    form = LinkForm()
    form.channel.choices = _channel_choices()
    back = (
        url_for("sharer.item_channels", item_id=item.id)
        if item
        else url_for("sharer.shop_channels")
    )
    try:
        channel = Channel(form.channel.data)
        if channel == Channel.POSTER:
            raise ValueError(channel)
    except ValueError:
        flash(_("Choose a channel."), "error")
        return redirect(back)
    try:
        link = links.get_or_create_link(
            g.shop, item.product if item else None, channel, label=form.label.data, now=now()
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(back)
    db.session.commit()
    return redirect(back + f"?new={link.id}#link-{link.id}")


@bp.route("/share/items/<int:item_id>/channels")
def item_channels(item_id: int):
    return _share_page(load_own_item(item_id))


@bp.route("/share/items/<int:item_id>/links", methods=["POST"])
def item_link_create(item_id: int):
    return _create_link(load_own_item(item_id))


@bp.route("/share/shop/channels")
def shop_channels():
    return _share_page(None)


@bp.route("/share/shop/links", methods=["POST"])
def shop_link_create():
    return _create_link(None)
