"""A local fake of WeChat's web authorization (网页授权) on 127.0.0.1, an ephemeral port:
the authorize page (it "approves" at once and redirects back with code and state, as WeChat
does after the user agrees), /sns/oauth2/access_token and /sns/userinfo, with the documented
parameters, answers and errcodes (40029 invalid code, 40163 code been used, 40125 invalid
appsecret, 40001/42001 bad access token, 40003 invalid openid)."""

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

APP_ID = "wx520c15f417810387"
APP_SECRET = "test-app-secret"


@dataclass
class FakeWeChat:
    app_id: str = APP_ID
    secret: str = APP_SECRET
    #: The person "using WeChat" now: the next authorize issues a code for them.
    user: dict = field(
        default_factory=lambda: {"openid": "o-fake-openid-1", "nickname": "微信用户小美"}
    )
    #: Every request the fake received: (path, query dict).
    requests: list = field(default_factory=list)
    #: When set, the access_token endpoint answers this errcode once.
    fail_token_with: int | None = None
    #: When set, the access_token endpoint answers an HTML error page once (a broken proxy).
    garble_next: bool = False
    codes: dict = field(default_factory=dict)  # code -> {"user", "scope", "used"}
    tokens: dict = field(default_factory=dict)  # access_token -> (user, scope)

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                fake.requests.append((parts.path, query))
                route = {
                    "/connect/oauth2/authorize": fake._authorize,
                    "/sns/oauth2/access_token": fake._access_token,
                    "/sns/userinfo": fake._userinfo,
                }.get(parts.path)
                if route is None:
                    self.send_error(404)
                    return
                status, headers, body = route(query)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    @property
    def settings(self) -> dict:
        return {
            "WECHAT_APP_ID": self.app_id,
            "WECHAT_APP_SECRET": self.secret,
            "WECHAT_OAUTH_AUTHORIZE_URL": f"{self.url}/connect/oauth2/authorize",
            "WECHAT_API_BASE": self.url,
        }

    # --- endpoints ---------------------------------------------------------------------------

    @staticmethod
    def _json(answer: dict):
        body = json.dumps(answer, ensure_ascii=False).encode()
        return 200, {"Content-Type": "application/json; encoding=utf-8"}, body

    def _authorize(self, query):
        if query.get("appid") != self.app_id or query.get("response_type") != "code":
            return 400, {"Content-Type": "text/plain"}, b"bad appid or response_type"
        scope = query.get("scope")
        if scope not in ("snsapi_base", "snsapi_userinfo"):
            return 400, {"Content-Type": "text/plain"}, b"scope"
        code = secrets.token_hex(16)
        self.codes[code] = {"user": dict(self.user), "scope": scope, "used": False}
        back = (
            f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        )
        return 302, {"Location": back}, b""

    def _access_token(self, query):
        if query.get("appid") != self.app_id or query.get("secret") != self.secret:
            return self._json({"errcode": 40125, "errmsg": "invalid appsecret"})
        if query.get("grant_type") != "authorization_code":
            return self._json({"errcode": 40002, "errmsg": "invalid grant_type"})
        if self.garble_next:
            self.garble_next = False
            return 200, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>"
        if self.fail_token_with is not None:
            errcode, self.fail_token_with = self.fail_token_with, None
            return self._json({"errcode": errcode, "errmsg": "system error"})
        issued = self.codes.get(query.get("code", ""))
        if issued is None:
            return self._json({"errcode": 40029, "errmsg": "invalid code"})
        if issued["used"]:
            return self._json({"errcode": 40163, "errmsg": "code been used"})
        issued["used"] = True
        user, scope = issued["user"], issued["scope"]
        token = secrets.token_hex(16)
        self.tokens[token] = (user, scope)
        answer = {
            "access_token": token,
            "expires_in": 7200,
            "refresh_token": secrets.token_hex(16),
            "openid": user["openid"],
            "scope": scope,
        }
        if scope == "snsapi_userinfo" and user.get("unionid"):
            answer["unionid"] = user["unionid"]
        if user.get("is_snapshotuser"):
            answer["is_snapshotuser"] = 1  # 快照页模式: a virtual account
        return self._json(answer)

    def _userinfo(self, query):
        found = self.tokens.get(query.get("access_token", ""))
        if found is None:
            return self._json({"errcode": 40001, "errmsg": "invalid credential"})
        user, scope = found
        if scope != "snsapi_userinfo":
            return self._json({"errcode": 48001, "errmsg": "api unauthorized"})
        if query.get("openid") != user["openid"]:
            return self._json({"errcode": 40003, "errmsg": "invalid openid"})
        answer = {
            "openid": user["openid"],
            "nickname": user.get("nickname", ""),
            "sex": 0,
            "province": "",
            "city": "",
            "country": "",
            "headimgurl": "",
            "privilege": [],
        }
        if user.get("unionid"):
            answer["unionid"] = user["unionid"]
        return self._json(answer)
