"""/me: a sharer's shop, curation, share links and posters."""

import secrets
from pathlib import Path

from flask import (
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from shop.catalog import images
from shop.catalog.models import Product
from shop.platform.errors import DomainError
from shop.platform.extensions import db, login_manager
from shop.platform.inputs import parse_id
from shop.reviews import reading
from shop.sharing import links, posters, shops
from shop.sharing.models import Channel, ShareLink, ShopItem
from shop.web.common import money, now, safe_next, show_domain_error, upload_limit
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
    return _item_action(item_id, shops.remove_item, _("Removed from your shop."))


def _share_text(link: ShareLink, url: str) -> str:
    """A message ready to paste into a chat: title, price, the sharer's words, the link."""
    if link.product is None:
        return f"【{g.shop.name}】{g.shop.intro}\n{url}".strip()
    item = shops.find_item(g.shop, link.product_id)
    words = item.recommendation if item else ""
    text = f"【{link.product.title}】¥{money(link.product.price_cents)}"
    return "\n".join(part for part in (text, words, url) if part)


# --- share links ---------------------------------------------------------------------------


def _channel_choices():
    return [(c.value, str(links.CHANNEL_LABELS[c])) for c in Channel]


def _share_page(item: ShopItem | None):
    product = item.product if item else None
    target = links.target_key(product)
    shop_links = [link for link in links.links_of_shop(g.shop) if link.target_key == target]
    form = LinkForm()
    form.channel.choices = _channel_choices()
    return render_template(
        "sharer/share.html",
        share_text=_share_text,
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
    back = url_for("sharer.item_share", item_id=item.id) if item else url_for("sharer.shop_share")
    try:
        channel = Channel(form.channel.data)
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
    if channel == Channel.POSTER:
        return redirect(url_for("sharer.poster_page", link_id=link.id))
    return redirect(back + f"?new={link.id}#link-{link.id}")


@bp.route("/share/items/<int:item_id>")
def item_share(item_id: int):
    return _share_page(load_own_item(item_id))


@bp.route("/share/items/<int:item_id>/links", methods=["POST"])
def item_link_create(item_id: int):
    return _create_link(load_own_item(item_id))


@bp.route("/share/shop")
def shop_share():
    return _share_page(None)


@bp.route("/share/shop/links", methods=["POST"])
def shop_link_create():
    return _create_link(None)


# --- posters -------------------------------------------------------------------------------


def _poster_content(link: ShareLink) -> posters.PosterContent:
    shop = g.shop
    avatar = images.media_file(images.image_url_name(shop.avatar, "t")) if shop.avatar else None
    product = link.product
    if product is not None:
        cover = product.cover
        image = images.poster_source(cover) if cover else None
        item = shops.find_item(shop, product.id)
        rating, quote = "", ""
        if item is not None:
            summary = reading.summary(product.id) if item.show_rating else None
            if summary and summary.count:
                rating = f"{summary.average}★"
            if shown := reading.shown_quote(item.quote_review):
                quote = _("Buyer review: “%(text)s”", text=shown.body.replace("\n", " "))
        return posters.PosterContent(
            url=url_for("storefront.follow_link", code=link.code, _external=True),
            title=product.title,
            price_cents=product.price_cents,
            original_price_cents=product.original_price_cents,
            price_suffix=_("from") if product.has_price_range else "",
            image_path=image,
            sharer_name=current_user.display_name,
            avatar_path=avatar,
            headline=_("%(name)s recommends", name=current_user.display_name),
            hint=_("Long-press to scan"),
            subtitle=item.recommendation if item else "",
            rating=rating,
            quote=quote,
        )
    return posters.PosterContent(
        url=url_for("storefront.follow_link", code=link.code, _external=True),
        title=shop.name,
        price_cents=None,
        original_price_cents=None,
        image_path=images.poster_source(shop.avatar) if shop.avatar else None,
        sharer_name=current_user.display_name,
        avatar_path=avatar,
        headline=_("%(name)s invites you to the shop", name=current_user.display_name),
        hint=_("Long-press to scan"),
        subtitle=shop.intro,
    )


def _load_poster_link(link_id: int) -> ShareLink:
    link = load_own_link(link_id)
    if link.channel != Channel.POSTER:
        abort(404)
    return link


@bp.route("/links/<int:link_id>/poster")
def poster_page(link_id: int):
    link = _load_poster_link(link_id)
    item = shops.find_item(g.shop, link.product_id) if link.product_id else None
    return render_template(
        "sharer/poster.html",
        link=link,
        item_id=item.id if item else None,
        in_wechat="micromessenger" in request.headers.get("User-Agent", "").lower(),
    )


@bp.route("/links/<int:link_id>/poster.jpg")
def poster_image(link_id: int):
    """The poster as a real image URL (WeChat's long-press save and QR recognition need one)."""
    link = _load_poster_link(link_id)
    return send_poster(_poster_content(link), f"poster-{link.code}.jpg")


def send_poster(content: posters.PosterContent, download_name: str):
    """A poster response, cached on disk by a hash of everything drawn on it and served with
    that hash as ETag; ``?download=1`` makes it an attachment named ``download_name``."""
    key = posters.poster_key(content)
    if request.if_none_match.contains(key):
        response = make_response("", 304)
    else:
        folder = Path(current_app.instance_path) / "posters" / key[:2]
        path = folder / f"{key}.jpg"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(posters.render_poster(content))
            tmp.replace(path)
        response = send_file(path, mimetype="image/jpeg", max_age=0)
        if request.args.get("download"):
            response.headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
    response.set_etag(key)
    response.headers["Cache-Control"] = "private, no-cache"
    return response
