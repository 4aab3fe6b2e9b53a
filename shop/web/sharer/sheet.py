"""/me: the share sheet (one place for every way to share a shop item or the shop), posters for
every link in three templates, and the 朋友圈 page with the nine-picture set."""

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
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from shop.catalog import images
from shop.orders import coupons
from shop.platform import db as dbsetup
from shop.platform import stamps
from shop.platform.extensions import db
from shop.reviews import reading
from shop.sharing import drawing, links, materials, ninegrid, poster_spec, shops
from shop.sharing.models import Channel, PosterTemplate, ShareLink, ShopItem
from shop.web.common import money, now
from shop.web.sharer import bp, posterkeys
from shop.web.sharer.views import load_own_item, load_own_link, share_text

#: The links a share sheet offers, made on its first opening (no form).
SHEET_CHANNELS = (Channel.WECHAT_FRIEND, Channel.WECHAT_GROUP, Channel.MOMENTS)
TEMPLATE_LABELS = {
    PosterTemplate.PRODUCT: _l("Product"),
    PosterTemplate.PRICE: _l("Price first"),
    PosterTemplate.REVIEW: _l("Review quote"),
}


def in_wechat() -> bool:
    return "micromessenger" in request.headers.get("User-Agent", "").lower()


def link_url(link: ShareLink) -> str:
    return url_for("storefront.follow_link", code=link.code, _external=True)


def sheet_links(item: ShopItem | None) -> dict[Channel, ShareLink]:
    """The sheet's links for ``item`` (None: the shop), made now when missing. The read
    transaction of the page ends first, so that on SQLite the write begins as one."""
    product = item.product if item else None
    key = links.target_key(product)
    found = {
        link.channel: link
        for link in links.links_of_shop(g.shop)
        if link.target_key == key and link.channel in SHEET_CHANNELS
    }
    if len(found) < len(SHEET_CHANNELS):
        shop_id, item_id = g.shop.id, item.id if item else None
        db.session.commit()
        with dbsetup.writing():
            g.shop = db.session.get(type(g.shop), shop_id)
            item = db.session.get(ShopItem, item_id) if item_id else None
            product = item.product if item else None
            for channel in SHEET_CHANNELS:
                found[channel] = links.get_or_create_link(g.shop, product, channel, now=now())
            db.session.commit()
    return found


def _sheet(item: ShopItem | None):
    sheet = sheet_links(item)
    friend, group = sheet[Channel.WECHAT_FRIEND], sheet[Channel.WECHAT_GROUP]
    context = {
        "item": item,
        "product": item.product if item else None,
        "friend": friend,
        "friend_url": link_url(friend),
        "friend_text": share_text(friend, link_url(friend)),
        "group": group,
        "group_text": share_text(group, link_url(group)),
        "moments": sheet[Channel.MOMENTS],
        "channel_name": links.channel_name,
    }
    if request.args.get("partial"):
        return render_template("sharer/_sheet.html", **context)
    return render_template("sharer/sheet.html", **context)


@bp.route("/share/items/<int:item_id>")
def item_share(item_id: int):
    item = load_own_item(item_id)
    if shops.unavailable_reason(item.product) is not None:
        flash(_("This product is not available now, so it cannot be shared."), "error")
        return redirect(url_for("sharer.shop_console"))
    return _sheet(item)


@bp.route("/share/shop")
def shop_share():
    return _sheet(None)


# --- posters -------------------------------------------------------------------------------


def poster_content(link: ShareLink, used: dict | None = None) -> poster_spec.PosterContent:
    """What the link's poster shows; ``used`` gets the shop item's id and the coupon it was
    drawn with (shop.web.sharer.posterkeys)."""
    used = {} if used is None else used
    shop = g.shop
    avatar = images.media_file(images.image_url_name(shop.avatar, "t")) if shop.avatar else None
    product = link.product
    template = str(link.poster_template)
    url = link_url(link)
    if product is not None:
        cover = product.cover
        image = images.poster_source(cover) if cover else None
        item = shops.find_item(shop, product.id)
        used["item_id"] = item.id if item is not None else None
        rating, quote = "", ""
        if item is not None:
            summary = reading.summary(product.id) if item.show_rating else None
            if summary and summary.count:
                rating = f"{summary.average}★"
            if shown := reading.shown_quote(item.quote_review):
                body = shown.body.replace("\n", " ")
                quote = body if template == "review" else _("Buyer review: “%(text)s”", text=body)
        return poster_spec.PosterContent(
            url=url,
            title=product.title,
            price_cents=product.price_cents,
            original_price_cents=product.original_price_cents,
            price_suffix=_("from") if product.has_price_range else "",
            image_path=image,
            sharer_name=current_user.display_name,
            avatar_path=avatar,
            headline=_("%(name)s recommends", name=current_user.display_name),
            hint=_("Long-press to scan"),
            subtitle=(item.recommendation if item else "") or materials.text_of(product),
            rating=rating,
            quote=quote,
            template=template,
            coupon=_coupon_line(item, link, product, used),
        )
    return poster_spec.PosterContent(
        url=url,
        title=shop.name,
        price_cents=None,
        original_price_cents=None,
        image_path=images.poster_source(shop.avatar) if shop.avatar else None,
        sharer_name=current_user.display_name,
        avatar_path=avatar,
        headline=_("%(name)s invites you to the shop", name=current_user.display_name),
        hint=_("Long-press to scan"),
        subtitle=shop.intro,
        template=template,
    )


def _coupon_line(item, link: ShareLink, product, used: dict) -> str:
    """券后价 and the coupon for the poster ("" without one): the link's, else the item's."""
    coupon = coupons.shown_coupon(item_id=item.id if item else None, link_id=link.id, now=now())
    used["coupon"] = coupon
    if coupon is None:
        return ""
    after = coupons.price_after(coupon, product.price_cents)
    label = coupons.describe(coupon)
    if after is None:
        return label
    return _("Price after coupon ¥%(price)s", price=money(after)) + " · " + label


def _back_to_sheet(link: ShareLink) -> str:
    item = shops.find_item(g.shop, link.product_id) if link.product_id else None
    return url_for("sharer.item_share", item_id=item.id) if item else url_for("sharer.shop_share")


@bp.route("/links/<int:link_id>/poster")
def poster_page(link_id: int):
    link = load_own_link(link_id)
    return render_template(
        "sharer/poster.html",
        link=link,
        back=_back_to_sheet(link),
        channel=links.channel_name(link),
        templates=list(TEMPLATE_LABELS.items()),
        in_wechat=in_wechat(),
    )


@bp.route("/links/<int:link_id>/poster/template", methods=["POST"])
def poster_template(link_id: int):
    link = load_own_link(link_id)
    try:
        link.poster_template = PosterTemplate(request.form.get("template", ""))
    except ValueError:
        flash(_("Choose one of the poster designs."), "error")
    else:
        db.session.commit()
    return redirect(url_for("sharer.poster_page", link_id=link.id))


@bp.route("/links/<int:link_id>/poster.jpg")
def poster_image(link_id: int):
    """The poster as a real image URL (WeChat's long-press save and QR recognition need one)."""
    link = load_own_link(link_id)
    if not current_app.config["POSTER_KEY_SECONDS"] or not posterkeys.eligible(request.environ):
        return send_poster(poster_content(link), f"poster-{link.code}.jpg")
    # A request the thin path (shop.web.sharer.posterpath) could answer: the key is kept for
    # it, under the stamps read before the rest is read. The read transaction ends first, so
    # that on SQLite (one snapshot from a transaction's first query) the rest is read after.
    found = stamps.current()
    read = posterkeys.read_stamps(found, link.product_id, g.shop.id)
    db.session.commit()
    used: dict = {}
    content = poster_content(link, used)
    key = poster_spec.poster_key(content)
    inputs = posterkeys.poster_inputs(
        link,
        g.shop,
        current_user.display_name,
        used.get("item_id"),
        used.get("coupon"),
        str(get_locale()),
        request.scheme,
        request.host,
    )
    seconds = posterkeys.keep_seconds(current_app, found)
    posterkeys.kept_keys(current_app).put(inputs, read, key, seconds)
    return send_cached_jpeg(key, lambda: _draw("poster", content), f"poster-{link.code}.jpg")


def send_cached_jpeg(key: str, render, download_name: str):
    """A JPEG cached on disk under ``key`` (a hash of everything drawn on it, the template
    included), drawn by ``render()`` on a miss (in the drawing process, shop.sharing.drawing:
    this request waits for it), served with the key as ETag; ``?download=1`` makes it an
    attachment named ``download_name``."""
    if request.if_none_match.contains(key):
        response = make_response("", 304)
    else:
        folder = Path(current_app.instance_path) / "posters" / key[:2]
        path = folder / f"{key}.jpg"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(render())
            tmp.replace(path)
        response = send_file(path, mimetype="image/jpeg", max_age=0)
        if request.args.get("download"):
            response.headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
    response.set_etag(key)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _draw(kind: str, data) -> bytes:
    return drawing.draw(kind, data, folder=current_app.instance_path)


def send_poster(content: poster_spec.PosterContent, download_name: str):
    return send_cached_jpeg(
        poster_spec.poster_key(content), lambda: _draw("poster", content), download_name
    )


# --- 朋友圈: the poster or the nine-picture set --------------------------------------------


def _set_pictures(link: ShareLink) -> list:
    """The pictures of the nine-picture set: the materials, else the product's own images."""
    if link.product is None:
        return []
    chosen = [m.image for m in materials.pictures(link.product)]
    if not chosen:
        chosen = [pi.image for pi in link.product.images]
    return chosen[: ninegrid.MAX_PICTURES]


@bp.route("/links/<int:link_id>/moments")
def moments_page(link_id: int):
    link = load_own_link(link_id)
    pictures = _set_pictures(link)
    count, qr_at = ninegrid.layout(len(pictures)) if pictures else (0, 0)
    words = ""
    if link.product is not None:
        item = shops.find_item(g.shop, link.product_id)
        words = (item.recommendation if item else "") or materials.text_of(link.product)
    return render_template(
        "sharer/moments.html",
        link=link,
        tiles=range(count),
        qr_at=qr_at,
        words=words or share_text(link, link_url(link)),
        back=_back_to_sheet(link),
        in_wechat=in_wechat(),
    )


@bp.route("/links/<int:link_id>/nine/<int:number>.jpg")
def nine_tile(link_id: int, number: int):
    """Tile ``number`` (1 to 9) of the set: a material picture or the QR code tile."""
    link = load_own_link(link_id)
    index = number - 1
    pictures = _set_pictures(link)
    count, qr_at = ninegrid.layout(len(pictures))
    if not pictures or index >= count:
        abort(404)
    name = f"nine-{link.code}-{number}.jpg"
    if index == qr_at:
        product = link.product
        tile = ninegrid.QrTile(
            link_url(link), product.title, product.price_cents, _("Long-press to scan")
        )
        return send_cached_jpeg(ninegrid.tile_key(tile), lambda: _draw("nine_qr", tile), name)
    picture = pictures[index if index < qr_at else index - 1]
    path = images.poster_source(picture)
    if path is None:
        abort(404)
    response = send_file(path, mimetype="image/jpeg", max_age=0, etag=picture.sha256)
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-cache"
    return response
