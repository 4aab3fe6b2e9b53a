"""Recording a follow of a share link: who (an anonymous visitor id), from where (a hashed
address, a device family, a referrer host) and whether it counts."""

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import insert, select

from shop.extensions import db
from shop.models import Channel, Click, ShareLink

DUPLICATE_WINDOW = timedelta(minutes=10)

#: Crawlers and link-preview fetchers (WeChat, QQ, Telegram, Slack, ...). Lower-case
#: substrings of the User-Agent. A preview fetch happens when a link is pasted into a chat:
#: it is not a person following the link.
BOT_MARKERS = (
    "bot",
    "spider",
    "crawl",
    "slurp",
    "preview",
    "facebookexternalhit",
    "embedly",
    "whatsapp",
    "telegram",
    "slack",
    "discord",
    "skype",
    "bytespider",
    "baiduspider",
    "sogou",
    "yisou",
    "360spider",
    "petalbot",
    "headless",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "httpx",
    "curl/",
    "wget/",
    "go-http-client",
    "okhttp",
    "java/",
    "libwww",
    "scrapy",
    "feedfetcher",
    "mediapartners",
    "qq-url-manager",
    "wechatbot",
    "mmwebsdk-preview",
    "wxwork-preview",
)
_BOT_RE = re.compile("|".join(re.escape(marker) for marker in BOT_MARKERS))


@dataclass(frozen=True)
class RequestFacts:
    """What the web layer read from the request, as plain values."""

    method: str
    user_agent: str
    ip: str
    referrer: str
    #: Any of the Purpose / Sec-Purpose / X-Moz / X-Purpose headers, lower-cased.
    purpose: str


def ua_family(user_agent: str) -> str:
    ua = user_agent.lower()
    if not ua or _BOT_RE.search(ua):
        return "bot"
    if "micromessenger" in ua:
        return "wechat"
    if " qq/" in ua or "mqqbrowser" in ua:
        return "qq"
    if "iphone" in ua or "ipad" in ua:
        return "ios"
    if "android" in ua:
        return "android"
    if "windows" in ua or "macintosh" in ua or "linux" in ua:
        return "desktop"
    return "other"


def bot_reason(facts: RequestFacts) -> str | None:
    """Why this request is not a person following the link, or None when it is."""
    if facts.method == "HEAD":
        return "head"
    if "prefetch" in facts.purpose or "preview" in facts.purpose:
        return "prefetch"
    if ua_family(facts.user_agent) == "bot":
        return "bot"
    return None


def hash_ip(ip: str, secret: str) -> str:
    return hmac.new(secret.encode(), ip.encode(), hashlib.sha256).hexdigest()[:32]


def referrer_host(referrer: str) -> str:
    try:
        return (urlsplit(referrer).hostname or "")[:100]
    except ValueError:
        return ""


def record_click(
    link: ShareLink,
    facts: RequestFacts,
    *,
    visitor_id: str,
    ip_secret: str,
    flooded: bool,
    now: datetime,
) -> str | None:
    """Insert the click and return why it does not count (None when it counts).

    One indexed read (the duplicate check) and one insert, through SQLAlchemy Core: this
    runs on every share-link follow.
    """
    reason = bot_reason(facts)
    if reason is None and flooded:
        reason = "flood"
    if reason is None:
        recent = db.session.execute(
            select(Click.id)
            .where(
                Click.visitor_id == visitor_id,
                Click.link_id == link.id,
                Click.clicked_at >= now - DUPLICATE_WINDOW,
                Click.uncounted_reason.is_(None),
            )
            .limit(1)
        ).first()
        if recent is not None:
            reason = "duplicate"
    db.session.execute(
        insert(Click).values(
            link_id=link.id,
            clicked_at=now,
            visitor_id=visitor_id,
            ip_hash=hash_ip(facts.ip, ip_secret),
            ua_family=ua_family(facts.user_agent),
            referrer_host=referrer_host(facts.referrer),
            is_scan=link.channel == Channel.POSTER,
            uncounted_reason=reason,
        )
    )
    return reason
