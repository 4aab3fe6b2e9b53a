"""Share cards and the product page's share entry.

WeChat share cards: the JS-SDK's share settings, signed on the server (shop.sharing.wechat).

Off unless the official account is configured: then the landing pages loaded inside WeChat
get the SDK script (and the CSP allows its host on those responses only), and
/wx/js-config signs the page's URL. Otherwise that endpoint answers 404 and no page
mentions the SDK.
"""

from urllib.parse import urlsplit

from flask import abort, current_app, g, jsonify, request
from flask_login import current_user

from shop.platform.extensions import limiter
from shop.sharing import shops, wechat
from shop.sharing.models import ShopItem
from shop.web.storefront import bp

SDK_URL = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"
#: How a rendered page loads it (merchants' and sharers' text is escaped, so it cannot contain
#: this; the bare URL it may).
SDK_TAG = f'<script src="{SDK_URL}"'
SDK_ORIGIN = "https://res.wx.qq.com"
SHARE_APIS = ["updateAppMessageShareData", "updateTimelineShareData"]


def js_sdk() -> wechat.JsSdk | None:
    """This app's client, made once; None while the official account is not configured."""
    if "wechat_js_sdk" not in current_app.extensions:
        current_app.extensions["wechat_js_sdk"] = wechat.from_config(current_app.config)
    return current_app.extensions["wechat_js_sdk"]


def in_wechat() -> bool:
    return "micromessenger" in request.headers.get("User-Agent", "").lower()


def wechat_share_script() -> str | None:
    """The SDK's URL when this page, seen inside WeChat, should load it; None otherwise. A
    template that gets a URL renders the script, and the response's CSP then allows it."""
    if js_sdk() is None or not in_wechat():
        return None
    g.wechat_sdk = True
    return SDK_URL


@bp.after_app_request
def _allow_sdk_in_csp(response):
    if g.get("wechat_sdk"):
        policy = current_app.config["CONTENT_SECURITY_POLICY"]
        response.headers["Content-Security-Policy"] = policy.replace(
            "script-src 'self'", f"script-src 'self' {SDK_ORIGIN}", 1
        )
    return response


@bp.route("/wx/js-config")
@limiter.limit("60 per minute")
def wechat_js_config():
    sdk = js_sdk()
    if sdk is None:
        abort(404)
    url = request.args.get("url", "")
    parts = urlsplit(url)
    # Only pages of this site are signed (a signature is for one page's URL).
    if parts.scheme not in ("http", "https") or parts.netloc != request.host:
        abort(400)
    try:
        settings = sdk.config_for(url)
    except wechat.WeChatError as error:
        current_app.logger.warning("WeChat JS-SDK signing failed: %s", error)
        return jsonify({"error": "unavailable"}), 503
    response = jsonify({**settings, "jsApiList": SHARE_APIS})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.context_processor
def _share_card_helpers():
    return {"wechat_share_script": wechat_share_script, "own_share_item": own_share_item}


def own_share_item(product) -> ShopItem | None:
    """The signed-in sharer's shop item for ``product`` while it can be shared (the product
    page's share entry opens its share sheet); None for everyone else."""
    if not current_user.is_authenticated or shops.unavailable_reason(product) is not None:
        return None
    from shop.web.storefront.views import viewer_shop

    own = viewer_shop()
    return shops.find_item(own, product.id) if own is not None else None
