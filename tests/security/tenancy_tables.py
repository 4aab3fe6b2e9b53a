"""What the tenancy test (test_tenancy.py) tries, and what it accepts: the URL arguments that
name a row and the world's rows tried for them, the selectors, the routes public by design
(with the reason), the forms posted with plausible fields, and the rows a public action may add.
The headers, fuzz and XSS tests walk the same routes with these tables."""

from shop.insights import exports

#: URL arguments that name a row: the world's keys whose values are tried (A's as the
#: victim's, B's as the caller's own where a route takes two).
ROW_ARGUMENTS = {
    "product_id": ("product", "draft_product"),
    "merchant_id": ("merchant", "applicant_merchant"),
    "order_id": ("order", "disputed_order", "unpaid_order"),
    "item_id": ("shop_item",),
    "link_id": ("link", "poster_link", "shop_link"),
    "review_id": ("review", "followup", "held_review", "hidden_review"),
    "product_image_id": ("product_image", "draft_product_image"),
    "flag_id": ("flag",),
    "payout_id": ("payout",),
    "withdrawal_id": ("withdrawal",),
    "appeal_id": ("appeal",),
    "word_id": ("blocked_word",),
    "user_id": ("sharer_user",),
    "variant_id": ("variant",),
    "material_id": ("material",),
    "message_id": ("message",),
    "refund_id": ("gateway_refund",),
    "part_id": ("part_refund",),
    "coupon_id": ("coupon",),
    "endpoint_id": ("endpoint",),
    "address_id": ("address",),
    "template_id": ("shipping_template",),
    "category_id": ("category",),
}
#: Arguments whose meaning depends on the route (a "code" is a share link's or an invite's),
#: mapped per endpoint so a new route with such an argument fails until it is mapped here.
ENDPOINT_ROW_ARGUMENTS = {
    ("storefront.review_write", "item_id"): ("order_item", "order_item_2"),
    ("storefront.follow_link", "code"): ("code",),
    ("storefront.join", "code"): ("invite_code",),
    ("storefront.shop_page", "slug"): ("slug",),
    ("storefront.shop_product", "slug"): ("slug",),
    ("storefront.sandbox_gateway", "number"): ("unpaid_number", "order_number"),
    ("admin.reconciliation_resolve", "item_id"): ("reconciliation_item",),
    ("admin.outbox_retry", "row_id"): ("outbox_row",),
}
#: Arguments that choose among the caller's own data or a fixed set of pages, not a row:
#: every value is tried (a 200 is fine; A's data in it is not).
SELECTORS = {
    ("storefront.order_action", "action"): ("cancel", "confirm", "refund"),
    ("sharer.nine_tile", "number"): ("1", "2"),
    ("storefront.gateway_return", "provider"): ("wechatpay", "alipay"),
    ("sharer.export_csv", "kind"): tuple(exports.EXPORTS),
    ("admin.export_csv", "table"): ("orders", "payouts", "ledger", "merchants"),
    ("storefront.region_tree", "province"): ("330000", "650000"),
}
#: Public by design: anyone may GET these with another tenant's id; they must still never
#: show a private field (a draft product answers 410, a held or hidden review is not shown).
PUBLIC = {
    "storefront.product_detail": "a listed product's page is what share links land on",
    "storefront.product_reviews": "a listed product's published reviews",
    "storefront.merchant_page": "an approved merchant's public page and credit",
    "storefront.shop_page": "a sharer's shop is public at /s/<slug>",
    "storefront.shop_product": "a product in a sharer's public shop",
    "storefront.follow_link": "/r/<code> is the share link itself",
    "storefront.join": "/join/<code> is a sharer's invite link, public like a share link",
    "storefront.checkout": "any signed-in buyer may open the buy-now form of a listed product",
    "storefront.review_report": "any signed-in reader may report a published review",
    "storefront.claim_coupon": "any signed-in buyer may claim a merchant's coupon (what it is for)",
}
#: Files that are public by design; their names are not tenant ids (tests/security/
#: test_headers.py fetches them): static assets, and media named by content hash (unguessable,
#: immutable, shown on public product pages).
NOT_TENANT_ROUTES = {
    "static": "the app's own CSS, JS, fonts and icons",
    "storefront.media": "images by content hash (sha256): public like a CDN",
}
#: Where a signed-in user who lacks the role is sent: their own page, not the victim's.
GUARD_PAGES = {"/me/shop/settings", "/merchant/apply"}
DENIED = {403, 404, 405, 410}

#: Plausible fields for each POST (a CSRF token is added to all).
FORMS = {
    "storefront.checkout": {
        "quantity": "1",
        "saved_address": "",
        "name": "攻击者",
        "phone": "13911112222",
        "province": "310000",
        "city": "310100",
        "district": "310115",
        "detail": "世纪大道 100 号",
        "provider": "sandbox",
        "checkout_key": "security-attack-checkout-0001",
    },
    "storefront.order_action": {"reason": "不想要了", "confirmed": "1"},
    "storefront.order_buy_again": {},
    "storefront.address_edit": {
        "name": "攻击者",
        "phone": "13911112222",
        "province": "310000",
        "city": "310100",
        "district": "310115",
        "detail": "世纪大道 100 号",
        "is_default": "y",
    },
    "storefront.address_default": {},
    "storefront.address_delete": {},
    "merchant.shipping_edit": {
        "name": "攻击者的模板",
        "kind": "flat",
        "basis": "piece",
        "first_fee": "1",
        "extra_fee": "1",
        "free_over": "0",
        "unreachable": "110000",
    },
    "merchant.shipping_delete": {},
    "merchant.shipping_product": {"template_id": "", "weight_grams": "1"},
    "storefront.review_write": {"rating": "5", "body": "攻击者的评价"},
    "storefront.review_followup": {"body": "攻击者的追评"},
    "storefront.review_report": {"reason": "other", "details": "攻击者举报"},
    "storefront.sandbox_gateway": {"t": "forged", "return": "/"},
    "sharer.item_edit": {"recommendation": "攻击者改的推荐"},
    "sharer.item_move": {"direction": "up"},
    "sharer.item_pin": {},
    "sharer.item_remove": {"confirmed": "1"},
    "sharer.item_reviews": {"show_rating": "y", "quote": ""},
    "sharer.item_link_create": {"channel": "custom", "label": "攻击者"},
    "sharer.variant_add": {"body": "攻击者的文案"},
    "sharer.variant_delete": {},
    "sharer.items_reorder": {},
    "merchant.material_pictures_add": {},
    "merchant.material_picture_delete": {},
    "sharer.variant_edit": {"body": "攻击者的文案"},
    "sharer.poster_template": {"template": "price"},
    "merchant.material_text_save": {"text": "攻击者的文案"},
    "merchant.product_edit": {
        "title": "攻击者改的标题",
        "category_id": "1",
        "price": "1.00",
        "original_price": "",
        "stock": "999",
        "rebate_percent": "50",
        "description": "攻击者",
    },
    "merchant.product_images_add": {},
    "merchant.product_image_delete": {},
    "merchant.product_image_cover": {},
    "merchant.product_publish": {},
    "merchant.product_unpublish": {"back": "list", "confirmed": "1"},
    "merchant.order_mark_paid": {},
    "merchant.order_ship": {"carrier": "SF", "tracking": "SF9999999999"},
    "merchant.order_refund": {"decision": "approve", "note": "攻击者同意退款"},
    "merchant.order_refund_part": {"decision": "approve", "note": "攻击者同意退款"},
    "storefront.order_refund_part": {
        "key": "security-attack-part-0001",
        "reason": "攻击者",
        "kind": "refund_only",
    },  # fmt: skip
    "storefront.order_refund_part_withdraw": {},
    "storefront.order_refund_part_return": {"carrier": "SF", "tracking": "SF9999999999"},
    "admin.part_refund_decide": {"decision": "approve", "reason": "攻击者"},
    "admin.order_refund_part": {
        "key": "security-attack-part-0002",
        "reason": "攻击者",
        "kind": "refund_only",
    },
    "merchant.review_reply": {"body": "攻击者的回复"},
    "admin.flag_dismiss": {"reason": "攻击者"},
    "admin.flag_hold": {"reason": "攻击者"},
    "admin.flag_release": {"reason": "攻击者"},
    "admin.merchant_decide": {"action": "suspend", "reason": "攻击者", "expected_status": ""},
    "admin.order_refund": {"reason": "攻击者"},
    "sharer.appeal_submit": {"note": "攻击者提交的申诉说明"},
    "admin.appeal_decide": {"decision": "uphold", "amount": "100.00", "reason": "攻击者"},
    "admin.payout_decide": {
        "decision": "pay",
        "reference": "ATTACK-1",
        "reason": "",
        "confirmed": "1",
    },
    "admin.withdrawal_decide": {
        "decision": "pay",
        "reference": "ATTACK-1",
        "reason": "",
        "confirmed": "1",
    },
    "admin.merchant_fee": {"fee": "0", "reason": "攻击者"},
    "admin.category_fee": {"fee": "0", "reason": "攻击者"},
    "admin.merchant_wechatpay": {"sub_mchid": "1900000999", "reason": "攻击者"},
    "inbox.message_read": {},
    "storefront.claim_coupon": {},
    "sharer.link_coupon": {"coupon": ""},
    "sharer.item_coupon": {"coupon": ""},
    "merchant.coupon_stop": {},
    "admin.gateway_refund_retry": {},
    "admin.profit_sharing_retry": {},
    "admin.outbox_retry": {},
    "admin.second_factor_reset": {"reason": "攻击者"},
    "admin.reconciliation_resolve": {"note": "攻击者"},
    "inbox.endpoint_delete": {},
    "inbox.endpoint_test": {},
    "admin.review_decide": {"action": "hide", "version": "1", "reason": "攻击者"},
    "admin.blocked_word_delete": {},
    "admin.team_overrides_set": {"decision": "stop", "reason": "攻击者"},
}
#: Rows a public action may add (each owned by the caller) and columns of other rows it may
#: change: buying takes stock; a report counts on the review.
PUBLIC_ACTION_CHANGES = {
    "storefront.checkout": (
        {"orders", "order_items", "order_events", "addresses"},
        {"products": {"stock", "updated_at"}, "skus": {"stock"}},
    ),
    "storefront.review_report": ({"review_reports"}, {"reviews": {"open_reports"}}),
    "storefront.claim_coupon": ({"coupon_claims"}, {"coupons": {"remaining"}}),
}
