"""Default settings. Every key can be overridden by an environment variable ``SHOP_<KEY>``
(parsed as JSON when it looks like JSON, so ``SHOP_MAX_CONTENT_LENGTH=1048576`` is an int),
or by the dict passed to ``create_app``."""

from datetime import timedelta


class Defaults:
    # None means "use the SQLite file in the instance folder"; set SHOP_DATABASE_URL for
    # PostgreSQL: postgresql+psycopg://user:password@host:5432/fenxiang
    DATABASE_URL: str | None = None
    # None means "generate one and keep it in instance/secret_key" (never a constant in code).
    SECRET_KEY: str | None = None

    # No pool_pre_ping (a round trip on every checkout): shop.platform.db checks a pooled
    # connection only after it rested PING_AFTER_IDLE_SECONDS, and replaces it when it is gone.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    SQLITE_BUSY_TIMEOUT_MS = 5000

    # Uploads above this size are refused with a 413 page before any parsing.
    MAX_CONTENT_LENGTH = 8 * 1024 * 1024

    BABEL_DEFAULT_LOCALE = "zh_Hans_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = {"zh_Hans_CN": "中文", "en": "English"}
    LANGUAGE_COOKIE = "lang"

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Secure is also added automatically whenever the request itself came over HTTPS.
    SESSION_COOKIE_SECURE = False
    PERMANENT_SESSION_LIFETIME = timedelta(days=30)
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    # Argon2id parameters (argon2-cffi defaults, ~100 ms a hash); tests use cheap ones.
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536
    ARGON2_PARALLELISM = 4

    # Flask-Limiter. memory:// counts per process: with several workers or machines set
    # REDIS_URL (or a Redis RATELIMIT_STORAGE_URI) so every process counts the same limits.
    RATELIMIT_STORAGE_URI = "memory://"
    #: redis://host:6379/0 (rediss:// for TLS, unix:///path/redis.sock). When set, and
    #: RATELIMIT_STORAGE_URI is left at memory://, rate limits are counted in this Redis
    #: (needs the client: pip install -e ".[redis]").
    REDIS_URL: str | None = None
    RATELIMIT_HEADERS_ENABLED = True
    #: Failed sign-ins from one address, whatever the accounts (one address trying many).
    LOGIN_LIMIT_PER_IP = "30 per 10 minutes"
    #: Failed sign-ins of one account from one address: a stranger elsewhere who types wrong
    #: passwords for an account does not lock its owner out.
    LOGIN_LIMIT_PER_ACCOUNT_AND_IP = "5 per 5 minutes"
    #: Failed sign-ins of one account from every address together (guessing spread over many).
    LOGIN_LIMIT_PER_ACCOUNT = "50 per hour"
    #: Wrong passwords a signed-in account may type (changing the password, saving where
    #: payouts go), counted together per account whatever the session or device.
    REAUTH_LIMIT_PER_ACCOUNT = "5 per 15 minutes"
    #: Accounts created from one address (only successful sign-ups count). Sized for carrier
    #: NAT and office Wi-Fi, where many people share one address.
    SIGNUP_LIMIT_PER_IP = "60 per hour"

    # Parcel tracking (shop.orders.tracking; docs/orders-and-money.md). Off unless both the
    #: Kuaidi100 customer id and key are set: buyers then still get the carrier's public page.
    KUAIDI100_CUSTOMER = ""
    KUAIDI100_KEY = ""
    KUAIDI100_BASE_URL = "https://poll.kuaidi100.com"
    TRACKING_TIMEOUT_SECONDS = 3
    #: An order page asks the provider about one parcel at most once in this many seconds.
    TRACKING_CACHE_SECONDS = 300

    # Sign-in by SMS code (shop.accounts.codes, shop.accounts.sms; docs/accounts.md).
    #: "console" (the code goes to the server log; `make run`), "aliyun", "tencent", or empty:
    #: sign-in by code is off and the sign-in page offers the password only.
    SMS_PROVIDER = ""
    #: The demo (`make run` turns it on): the console provider's code is also shown on the page
    #: as 演示验证码. Never on in production.
    DEMO_MODE = False
    SMS_CODE_TTL_SECONDS = 300
    #: Wrong codes typed against one code before it is dead.
    SMS_CODE_MAX_ATTEMPTS = 5
    #: Codes sent to one phone (whatever the purpose): one per interval, so many an hour and a day.
    SMS_SEND_INTERVAL_SECONDS = 60
    SMS_SENDS_PER_PHONE_PER_HOUR = 5
    SMS_SENDS_PER_PHONE_PER_DAY = 10
    #: Codes asked for from one address in an hour, whatever the phones. Sized for carrier NAT,
    #: where many phones share one address, and low enough that one machine cannot spend the
    #: SMS budget.
    SMS_SENDS_PER_ADDRESS_PER_HOUR = 30
    #: Seconds a provider's HTTP call may take before the send counts as failed.
    SMS_TIMEOUT_SECONDS = 5
    #: Aliyun SMS (dysmsapi 2017-05-25 SendSms). Templates take the code as ${code};
    #: ALIYUN_SMS_TEMPLATE is used for a purpose without its own (_SIGNIN, _RESET, _CHANGE_PHONE).
    ALIYUN_SMS_ACCESS_KEY_ID = ""
    ALIYUN_SMS_ACCESS_KEY_SECRET = ""
    ALIYUN_SMS_SIGN_NAME = ""
    ALIYUN_SMS_TEMPLATE = ""
    ALIYUN_SMS_TEMPLATE_SIGNIN = ""
    ALIYUN_SMS_TEMPLATE_RESET = ""
    ALIYUN_SMS_TEMPLATE_CHANGE_PHONE = ""
    ALIYUN_SMS_ENDPOINT = "https://dysmsapi.aliyuncs.com/"
    ALIYUN_SMS_REGION = "cn-hangzhou"
    #: Tencent Cloud SMS (SendSms 2021-01-11). Templates take the code as {1}.
    TENCENT_SMS_SECRET_ID = ""
    TENCENT_SMS_SECRET_KEY = ""
    TENCENT_SMS_SDK_APP_ID = ""
    TENCENT_SMS_SIGN_NAME = ""
    TENCENT_SMS_TEMPLATE = ""
    TENCENT_SMS_TEMPLATE_SIGNIN = ""
    TENCENT_SMS_TEMPLATE_RESET = ""
    TENCENT_SMS_TEMPLATE_CHANGE_PHONE = ""
    TENCENT_SMS_ENDPOINT = "https://sms.tencentcloudapi.com/"
    TENCENT_SMS_REGION = "ap-guangzhou"
    #: A session's "last seen" is written at most once per this many minutes.
    SESSION_SEEN_MINUTES = 5
    #: An unchanged signed-in session's cookie is signed again (its PERMANENT_SESSION_LIFETIME
    #: starting anew) at most once per this many minutes; 0: on every response.
    SESSION_REFRESH_MINUTES = 60

    # Extra Content-Security-Policy directives could be added here; inline scripts never are.
    CONTENT_SECURITY_POLICY = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )

    # Images: uploads above these are refused on the form (before decoding any pixels).
    MAX_IMAGE_BYTES = 8 * 1024 * 1024
    #: Pixels of any upload. A JPEG is decoded at 1/2, 1/4 or 1/8 of its size, so a 50 or
    #: 64 MP phone photo costs little (shop.catalog.images).
    MAX_IMAGE_PIXELS = 64_000_000
    #: Pixels decoded at full size: a PNG's or WebP's own (they cannot be decoded smaller),
    #: a JPEG's after that reduction. Bounds the CPU and memory of one upload.
    MAX_DECODED_IMAGE_PIXELS = 6_000_000
    #: Images one account may upload (each file counts; products, logo, avatar, review photos).
    UPLOAD_LIMIT_PER_ACCOUNT = "60 per 10 minutes"
    #: Display-size files are re-encoded at lower quality until they fit (phone page budget).
    MAX_DISPLAY_IMAGE_BYTES = 78 * 1024

    # Rebate rates a merchant may set, in basis points of the price (100 = 1%).
    REBATE_BPS_MIN = 100
    REBATE_BPS_MAX = 5000
    MAX_PRODUCT_IMAGES = 6
    #: Material pictures (素材) a merchant may attach to one product for sharers.
    MAX_MATERIAL_IMAGES = 9

    # Orders, rebates and payouts.
    #: An unpaid order is cancelled (stock released) after this many minutes.
    PAYMENT_TIMEOUT_MINUTES = 30
    #: A shipped order completes by itself this many days after shipping.
    AUTO_COMPLETE_DAYS = 10
    #: A refund request the merchant leaves unanswered this long is escalated to the admins
    #: (by `flask sweep-orders`; the admin refunds page lists it as escalated).
    REFUND_ESCALATE_DAYS = 3
    #: Rebates settle this many days after completion (the buyer may still return it).
    RETURN_WINDOW_DAYS = 7
    PAYOUT_MIN_CENTS = 1000
    #: The smallest withdrawal of a merchant's settled share (fen).
    MERCHANT_WITHDRAWAL_MIN_CENTS = 10000
    #: Providers a buyer may choose at checkout, in order: "wechatpay" and "alipay" (offered
    #: only once their settings below are filled in), "sandbox" (a simulated gateway for demos
    #: and tests) and "manual" (a transfer the merchant confirms). Production lists only the
    #: real ones: SHOP_PAYMENT_PROVIDERS='["wechatpay", "alipay"]'.
    PAYMENT_PROVIDERS = ["wechatpay", "alipay", "sandbox", "manual"]
    #: The shop's public address (https://shop.example.cn): the gateways call back to it.
    #: Real gateways stay off without it.
    PUBLIC_BASE_URL: str | None = None
    #: Seconds to wait for a payment gateway's answer.
    GATEWAY_TIMEOUT_SECONDS = 10
    # WeChat Pay API v3 (docs/payments.md). Off until every one of these is set. Keys are PEM
    # text or a path to the PEM file.
    WECHATPAY_MCHID: str | None = None
    WECHATPAY_APPID: str | None = None
    #: Serial number of the merchant API certificate (证书序列号).
    WECHATPAY_SERIAL_NO: str | None = None
    #: The merchant API private key (apiclient_key.pem).
    WECHATPAY_PRIVATE_KEY: str | None = None
    #: The APIv3 key (32 characters) that encrypts callbacks.
    WECHATPAY_APIV3_KEY: str | None = None
    #: WeChat Pay's public key (微信支付公钥) or platform certificate, and its id or serial.
    WECHATPAY_PUBLIC_KEY: str | None = None
    WECHATPAY_PUBLIC_KEY_ID: str | None = None
    WECHATPAY_BASE_URL = "https://api.mch.weixin.qq.com"
    #: Partner mode (服务商, docs/payments.md): the partner's 商户号 and AppID. With both set,
    #: WeChat Pay runs in partner mode (WECHATPAY_MCHID/APPID are then not used): payments go
    #: to each merchant's sub-merchant account (its sub_mchid, set per merchant at
    #: /admin/merchants/<id>/wechatpay), frozen for profit sharing, and `flask profit-sharing`
    #: sends the platform its part after settlement. The other WECHATPAY_* keys are the
    #: partner's.
    WECHATPAY_SP_MCHID: str | None = None
    WECHATPAY_SP_APPID: str | None = None
    #: The partner's registered full name (商户全称), sent (encrypted) when it is added as a
    #: profit-sharing receiver of a sub-merchant.
    WECHATPAY_SP_NAME: str | None = None
    # Alipay OpenAPI with RSA2 (docs/payments.md). Off until these are set.
    ALIPAY_APP_ID: str | None = None
    #: The app's private key (PEM, a path, or the bare base64 the Alipay console shows).
    ALIPAY_PRIVATE_KEY: str | None = None
    #: Alipay's public key (支付宝公钥), not the app's.
    ALIPAY_PUBLIC_KEY: str | None = None
    ALIPAY_GATEWAY_URL = "https://openapi.alipay.com/gateway.do"
    MAX_ORDER_QUANTITY = 99
    #: A checkout of the same lines to the same address as one the buyer placed this many
    #: seconds ago (a form fetched again after going back) asks before ordering again (0: off).
    CHECKOUT_REPEAT_SECONDS = 300

    # Share links and attribution.
    ATTRIBUTION_WINDOW_DAYS = 15
    ALLOW_SELF_PURCHASE = True
    #: Questions about orders (appeals) one sharer may ask per hour and per day; every
    #: question counts, answered or sent on, so order numbers cannot be probed in bulk.
    APPEAL_LIMIT_PER_HOUR = 10
    APPEAL_LIMIT_PER_DAY = 30
    VISITOR_COOKIE = "fx_v"
    #: Clicks from one address beyond this are recorded as a flood and not counted.
    CLICK_FLOOD_LIMIT = "30 per minute"
    #: Beyond this, /r/ answers 429 and records nothing.
    CLICK_HARD_LIMIT = "300 per minute"
    #: How long a worker remembers where a share code leads (0: ask the database every time).
    #: A delisting or a shop's new address reaches /r/ within this many seconds; the landing
    #: pages themselves always check.
    LINK_CACHE_SECONDS = 10
    #: Clicks are written by a background thread of each worker at least this often (0: in
    #: the request). A crash (not a normal stop) can lose this many seconds of clicks.
    CLICK_BATCH_SECONDS = 0.2

    # The WeChat official account (WECHAT_APP_ID ...) below also signs share cards through the
    # JS-SDK (shop.sharing.wechat): no script and no signing endpoint while it is unset.

    # Reviews (shop.reviews.rules; the preview's cache in shop.reviews.reading) and the
    # merchant credit score (shop.reviews.credit).
    #: A completed order's items can be reviewed this many days after receipt,
    REVIEW_WINDOW_DAYS = 30
    #: and get one follow-up (追评) up to this many days after receipt.
    FOLLOWUP_WINDOW_DAYS = 180
    #: A merchant may reply to a review this many days after it was written.
    REPLY_WINDOW_DAYS = 30
    REVIEW_MAX_CHARS = 500
    MAX_REVIEW_PHOTOS = 6
    #: More than this many reviews from one account within the minutes below are held.
    REVIEW_BURST_COUNT = 5
    REVIEW_BURST_MINUTES = 10
    #: Reports one account may send per hour.
    REPORT_LIMIT_PER_HOUR = 10
    #: Orders below this total do not count toward a merchant's credit.
    CREDIT_MIN_ORDER_CENTS = 100
    #: Repeat purchases of one product by one buyer within this many days count once.
    CREDIT_REPEAT_DAYS = 14
    #: Points from one buyer to one merchant in one month are capped at this, either way.
    CREDIT_MAX_POINTS_PER_MONTH = 3
    #: Product pages show a merchant's credit at most this many seconds old (0: always fresh).
    CREDIT_CACHE_SECONDS = 60
    #: Product pages show a review preview at most this many seconds old (0: always fresh).
    REVIEW_PREVIEW_SECONDS = 10
    #: The landing page of a share link is kept whole (per URL and language) for visitors who
    #: are not signed in, at most this many seconds (0: always rendered; see
    #: shop.web.storefront.landing). A change committed by any worker of the host shows at once
    #: (change stamps, LANDING_STAMP_DIR); this time bounds only what a stamp cannot tell:
    #: another host's changes, the merchant's credit. Long, so the
    #: page is rarely rendered again while a visitor waits (that was its p99).
    LANDING_CACHE_SECONDS = 300
    #: Each worker keeps the layout's header, footer and tab bar HTML per language, cart count,
    #: user name and such (shop.web.kept); off: rendered every time. Off under the debug server.
    LAYOUT_FRAGMENT_CACHE = True
    #: The folder of the change stamps every worker of the host reads (shop.platform.stamps);
    #: empty: ``stamps`` in the instance folder. Not writable: pages are kept 10 s at most.
    LANDING_STAMP_DIR = ""
    #: How long each worker keeps the key of a sharer's poster it worked out, for the thin
    #: path that serves the poster already drawn (shop.web.sharer.posterpath) while the
    #: change stamps of what it shows are unchanged; this bounds only what a stamp cannot
    #: tell (another host's changes). 0: every poster request goes through Flask.
    POSTER_KEY_SECONDS = 300

    # Fraud flags (shop.money.fraud.scan, `flask scan-fraud`).
    #: Clicks recorded as a flood in the last 24 hours that flag a link or an address.
    FRAUD_FLOOD_CLICKS = 100
    #: Order-based flags look at orders paid in this many days.
    FRAUD_WINDOW_DAYS = 30
    #: A sharer whose own purchases are at least this share (basis points) of their attributed
    #: paid orders is flagged, once they have at least the minimum number of such orders.
    FRAUD_SELF_PURCHASE_BPS = 5000
    FRAUD_SELF_PURCHASE_MIN_ORDERS = 5
    #: The same for refunded orders.
    FRAUD_REFUND_BPS = 3000
    FRAUD_REFUND_MIN_ORDERS = 5
    #: An order placed within this many seconds of its click is flagged.
    FRAUD_FAST_ORDER_SECONDS = 10
    #: Paid orders to one address through at least this many different sharers are flagged.
    FRAUD_ADDRESS_MIN_SHARERS = 3
    #: The stats page and its chart share one computation of the funnel for this long.
    STATS_CACHE_SECONDS = 30
    #: A sharer's numbers of China days that have ended (clicks, visitors, orders) are summed
    #: once and kept this long per process; today's are read on every view. An order of an
    #: earlier day that is paid, settled or refunded shows on the stats page within this time.
    STATS_PAST_DAYS_SECONDS = 600
    #: Sharer teams (微分销): a team leader's override on the rebates their members' sales
    #: earn, in basis points of the member's rebate, paid on top of it. 0 (the default)
    #: turns overrides off. Bounded by TEAM_OVERRIDE_MAX_BPS, and never above 10000.
    TEAM_OVERRIDE_BPS = 0
    TEAM_OVERRIDE_MAX_BPS = 2000
    #: The admin overview keeps the totals of China days that have ended (clicks, paid orders
    #: and sales by day, sharer and product) this long per process (they change only when
    #: `flask rollup` recounts them); today's, refunds and the work waiting are always live.
    OVERVIEW_PAST_DAYS_SECONDS = 600

    # Production (shop.platform.ops, gunicorn.conf.py, docs/production.md).
    #: One JSON line per request on the logger "shop.request" (stderr unless logging is
    #: configured otherwise). Off by default; `make serve` turns it on.
    REQUEST_LOG = False
    #: How many proxies in front of the app set each X-Forwarded-* header (werkzeug's
    #: ProxyFix). 0 (the default) ignores the header: a client could send anything in it.
    #: Behind one nginx or load balancer: PROXY_FIX_X_FOR=1 and PROXY_FIX_X_PROTO=1.
    PROXY_FIX_X_FOR = 0
    PROXY_FIX_X_PROTO = 0
    PROXY_FIX_X_HOST = 0
    PROXY_FIX_X_PORT = 0
    PROXY_FIX_X_PREFIX = 0
    #: The host names this site answers to (Flask's TRUSTED_HOSTS), e.g. ["shop.example.cn"];
    #: ".example.cn" also allows its subdomains. A request naming another host in Host (or in
    #: X-Forwarded-Host, when PROXY_FIX_X_HOST trusts it) is refused with a 400, so no
    #: redirect or link is built on a host a client made up. Empty (the default): any host.
    #: SHOP_TRUSTED_HOSTS='["shop.example.cn"]' (JSON), or names separated by commas.
    TRUSTED_HOSTS: list[str] | None = None

    # The staff second factor (shop.accounts.totp, docs/production.md).
    #: Administrators must set up an authenticator app (TOTP) and enter its code after the
    #: password. Off by default (the demo admin of `make run` signs in with the password);
    #: `make serve` and production turn it on. Anyone who set it up (a merchant may) is
    #: always asked for the code, whatever this says.
    STAFF_TOTP_REQUIRED = False
    #: The name the authenticator app shows next to the codes.
    STAFF_TOTP_ISSUER = "分享小店 Fenxiang"
    #: Wrong codes one account may type at the second step (and when regenerating recovery
    #: codes), from anywhere, before it has to wait.
    SECOND_FACTOR_LIMIT_PER_ACCOUNT = "5 per 5 minutes"
    #: Seconds between the password and the code: after that, the sign-in starts again.
    SECOND_FACTOR_PENDING_SECONDS = 300

    # 微信授权登录 (shop.accounts.wechat). Off unless both the AppID and the secret are set.
    #: The official account (公众号) AppID and AppSecret.
    WECHAT_APP_ID: str | None = None
    WECHAT_APP_SECRET: str | None = None
    #: snsapi_base (silent, openid only) or snsapi_userinfo (asks; nickname and unionid).
    WECHAT_OAUTH_SCOPE = "snsapi_base"
    WECHAT_OAUTH_AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
    WECHAT_API_BASE = "https://api.weixin.qq.com"
    WECHAT_API_TIMEOUT_SECONDS = 5

    # Notifications (shop.notify, `flask worker`, docs/notifications.md).
    #: How long the worker sleeps when it found nothing to do (a paid order reaches the
    #: sharer's inbox within about this long).
    NOTIFY_WORKER_POLL_SECONDS = 0.5
    #: Outbox rows the worker fans out in one transaction.
    NOTIFY_BATCH_SIZE = 500
    #: Threads of one worker calling webhooks and WeCom bots (a slow receiver holds one).
    NOTIFY_DELIVERY_THREADS = 4
    #: Seconds a webhook or WeCom bot has to answer (connect, and each read) before the try
    #: counts as failed and is retried.
    NOTIFY_HTTP_TIMEOUT_SECONDS = 5
    #: A delivery is retried (backoff doubling from the base up to the cap) for this long.
    NOTIFY_RETRY_HOURS = 24
    NOTIFY_RETRY_BASE_SECONDS = 30
    NOTIFY_RETRY_MAX_SECONDS = 3600
    #: Webhooks and WeCom bots one user may set up.
    NOTIFY_MAX_ENDPOINTS = 5
    #: Outbox rows done are deleted after this many days.
    NOTIFY_KEEP_DAYS = 7
    #: Let webhooks reach 127.0.0.1 / ::1 (tests only: local fakes). Every other private,
    #: link-local or reserved address is refused whatever this says.
    NOTIFY_ALLOW_LOOPBACK = False
    #: A CA bundle to verify webhook certificates with (tests: their own certificate);
    #: None uses the system's.
    NOTIFY_CA_FILE: str | None = None
    #: Where WeCom group bots are called (tests point it at a local fake).
    WECOM_WEBHOOK_BASE_URL = "https://qyapi.weixin.qq.com"
