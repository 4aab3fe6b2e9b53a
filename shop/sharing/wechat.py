"""WeChat JS-SDK share settings for an official account (公众号), as WeChat documents them
(公众号 › 网页开发 › JS-SDK说明, 附录1 签名算法):

- access_token: GET {base}/cgi-bin/token?grant_type=client_credential&appid=..&secret=..
  answers {"access_token": "..", "expires_in": 7200} or {"errcode": .., "errmsg": ..};
- jsapi_ticket: GET {base}/cgi-bin/ticket/getticket?access_token=..&type=jsapi answers
  {"errcode": 0, "errmsg": "ok", "ticket": "..", "expires_in": 7200};
- signature = sha1("jsapi_ticket=..&noncestr=..&timestamp=..&url=..") over the raw values,
  the url without its #fragment.

Both the token and the ticket are kept in the process until shortly before they expire (WeChat
limits how often they may be fetched). Off unless WECHAT_APP_ID and WECHAT_APP_SECRET
are set.
"""

import hashlib
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Fetch again this many seconds before WeChat says a token or ticket expires.
EXPIRY_MARGIN = 300
#: errcode values meaning the access_token is no longer valid: fetch a new one and retry once.
STALE_TOKEN_CODES = frozenset({40001, 40014, 42001})


class WeChatError(Exception):
    """WeChat's API answered with an error, or could not be reached."""


def signature(ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """The JS-SDK signature of ``url`` (its #fragment dropped) as documented: SHA-1 of the four
    fields sorted by name, joined as key=value pairs with "&", values not escaped."""
    page = url.split("#", 1)[0]
    string1 = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={page}"
    return hashlib.sha1(string1.encode("utf-8")).hexdigest()


@dataclass
class _Kept:
    value: str
    until: float


class JsSdk:
    """One official account's token and ticket, fetched when needed and kept until expiry.
    Threads of a worker share one instance; one fetch at a time."""

    def __init__(
        self,
        app_id: str,
        secret: str,
        *,
        api_base: str,
        timeout: float = 3.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app_id, self._secret = app_id, secret
        self.api_base, self.timeout, self.clock = api_base.rstrip("/"), timeout, clock
        self._token: _Kept | None = None
        self._ticket: _Kept | None = None
        self._lock = threading.Lock()

    def _get(self, path: str, params: dict[str, str]) -> dict:
        url = f"{self.api_base}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:  # noqa: S310
                body = json.loads(response.read().decode("utf-8"))
        except (OSError, ValueError) as error:
            raise WeChatError(f"{path}: {error}") from error
        if not isinstance(body, dict):
            raise WeChatError(f"{path}: unexpected answer")
        return body

    def _keep(self, value: str, expires_in) -> _Kept:
        seconds = int(expires_in or 0)
        return _Kept(value, self.clock() + max(seconds - EXPIRY_MARGIN, seconds // 2))

    def _access_token(self) -> str:
        if self._token is not None and self._token.until > self.clock():
            return self._token.value
        body = self._get(
            "/cgi-bin/token",
            {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret},
        )
        if not body.get("access_token"):
            raise WeChatError(f"token: {body.get('errcode')} {body.get('errmsg')}")
        self._token = self._keep(body["access_token"], body.get("expires_in"))
        return self._token.value

    def ticket(self) -> str:
        """The jsapi_ticket, fetched (with a token) only when the kept one is about to expire.
        Raises WeChatError when WeChat refuses or cannot be reached."""
        with self._lock:
            if self._ticket is not None and self._ticket.until > self.clock():
                return self._ticket.value
            for attempt in range(2):
                body = self._get(
                    "/cgi-bin/ticket/getticket",
                    {"access_token": self._access_token(), "type": "jsapi"},
                )
                if body.get("errcode", 0) in STALE_TOKEN_CODES and attempt == 0:
                    self._token = None  # revoked or expired early: fetch a new token once
                    continue
                if body.get("errcode", 0) != 0 or not body.get("ticket"):
                    raise WeChatError(f"ticket: {body.get('errcode')} {body.get('errmsg')}")
                self._ticket = self._keep(body["ticket"], body.get("expires_in"))
                return self._ticket.value
            raise WeChatError("ticket: the access token was refused twice")

    def config_for(self, url: str) -> dict:
        """What wx.config needs for the page at ``url``: appId, timestamp, nonceStr, signature."""
        nonce, timestamp = secrets.token_urlsafe(12), int(self.clock())
        return {
            "appId": self.app_id,
            "timestamp": timestamp,
            "nonceStr": nonce,
            "signature": signature(self.ticket(), nonce, timestamp, url),
        }


def from_config(config) -> JsSdk | None:
    """The app's JsSdk, or None while WECHAT_APP_ID or WECHAT_APP_SECRET is unset."""
    app_id, secret = config.get("WECHAT_APP_ID"), config.get("WECHAT_APP_SECRET")
    if not app_id or not secret:
        return None
    return JsSdk(
        str(app_id),
        str(secret),
        api_base=config["WECHAT_API_BASE"],
        timeout=float(config["WECHAT_API_TIMEOUT_SECONDS"]),
    )
