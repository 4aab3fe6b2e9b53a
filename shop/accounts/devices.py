"""The device family of a User-Agent, as the account page lists sessions: "iPhone · 微信",
"Android · Chrome", "Windows · Edge". Only this short label is stored, never the raw string."""

from flask_babel import lazy_gettext as _l

_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("HarmonyOS", "HarmonyOS"),
    ("OpenHarmony", "HarmonyOS"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Macintosh", "Mac"),
    ("Mac OS X", "Mac"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)
#: Checked in this order: in-app browsers and Edge also say "Chrome" and "Safari".
_BROWSERS = (
    ("MicroMessenger", "wechat"),
    ("AlipayClient", "alipay"),
    ("DingTalk", "dingtalk"),
    ("QQ/", "qq"),
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("HuaweiBrowser", "Huawei Browser"),
    ("MiuiBrowser", "MIUI Browser"),
    ("UCBrowser", "UC"),
    ("QQBrowser", "QQ Browser"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
#: Names said differently in each language; the others are brand names, the same in both.
APP_LABELS = {
    "wechat": _l("WeChat"),
    "alipay": _l("Alipay"),
    "dingtalk": _l("DingTalk"),
    "qq": "QQ",
}


def device_family(user_agent: str | None) -> str | None:
    """``"iPhone|wechat"``-style key of a User-Agent (system|browser), or None if unknown."""
    ua = user_agent or ""
    system = next((name for needle, name in _SYSTEMS if needle in ua), None)
    browser = next((name for needle, name in _BROWSERS if needle in ua), None)
    if system is None and browser is None:
        return None
    return f"{system or ''}|{browser or ''}"[:60]


def device_label(family: str | None) -> str:
    """The stored key as the account page shows it, in the reader's language."""
    if not family:
        return str(_l("Unknown device"))
    system, _sep, browser = family.partition("|")
    browser_label = str(APP_LABELS.get(browser, browser)) if browser else ""
    return " · ".join(part for part in (system, browser_label) if part)
