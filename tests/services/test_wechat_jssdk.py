"""The WeChat JS-SDK adapter: the signature against WeChat's documented example, and the
token and ticket requests against a local fake of WeChat's API on 127.0.0.1."""

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from shop.sharing import wechat

# 公众号 JS-SDK 说明, 附录1 (JS-SDK使用权限签名算法): the example and its documented result.
DOC_TICKET = (
    "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
)
DOC_NONCE, DOC_TIMESTAMP = "Wm3WZYTPz0wzccnW", 1414587457
DOC_URL = "http://mp.weixin.qq.com?params=value"
DOC_SIGNATURE = "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


def test_signature_matches_the_documented_example():
    assert wechat.signature(DOC_TICKET, DOC_NONCE, DOC_TIMESTAMP, DOC_URL) == DOC_SIGNATURE


def test_signature_leaves_out_the_fragment_and_changes_with_every_field():
    base = wechat.signature(DOC_TICKET, DOC_NONCE, DOC_TIMESTAMP, DOC_URL)
    assert wechat.signature(DOC_TICKET, DOC_NONCE, DOC_TIMESTAMP, DOC_URL + "#top") == base
    assert wechat.signature(DOC_TICKET, DOC_NONCE, DOC_TIMESTAMP + 1, DOC_URL) != base
    assert wechat.signature(DOC_TICKET, "x" + DOC_NONCE, DOC_TIMESTAMP, DOC_URL) != base
    assert wechat.signature(DOC_TICKET + "x", DOC_NONCE, DOC_TIMESTAMP, DOC_URL) != base
    assert wechat.signature(DOC_TICKET, DOC_NONCE, DOC_TIMESTAMP, DOC_URL + "&a=1") != base


class FakeWeChat:
    """cgi-bin/token and cgi-bin/ticket/getticket as WeChat documents them."""

    def __init__(self):
        self.requests: list[tuple[str, dict]] = []
        self.tokens_issued = 0
        self.revoked: set[str] = set()
        self.app_id, self.secret = "wx1234567890abcdef", "s3cret"

    def answer(self, path: str, query: dict) -> dict:
        self.requests.append((path, query))
        if path == "/cgi-bin/token":
            if query.get("grant_type") != "client_credential":
                return {"errcode": 40002, "errmsg": "invalid grant_type"}
            if query.get("appid") != self.app_id or query.get("secret") != self.secret:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            self.tokens_issued += 1
            return {"access_token": f"TOKEN{self.tokens_issued}", "expires_in": 7200}
        if path == "/cgi-bin/ticket/getticket":
            token = query.get("access_token", "")
            if query.get("type") != "jsapi":
                return {"errcode": 40097, "errmsg": "invalid args"}
            if not token.startswith("TOKEN") or token in self.revoked:
                return {"errcode": 40001, "errmsg": "invalid credential"}
            return {"errcode": 0, "errmsg": "ok", "ticket": f"TICKET-{token}", "expires_in": 7200}
        return {"errcode": 404, "errmsg": "not found"}


@contextmanager
def serving(fake: FakeWeChat):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server name
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            body = json.dumps(fake.answer(parts.path, query)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class Clock:
    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def test_the_adapter_fetches_token_and_ticket_once_and_signs_as_documented():
    fake, clock = FakeWeChat(), Clock()
    with serving(fake) as base:
        sdk = wechat.JsSdk(fake.app_id, fake.secret, api_base=base, clock=clock)
        first = sdk.config_for("https://shop.example/s/a/p/1?ref=Ab234567#reviews")
        second = sdk.config_for("https://shop.example/s/a/p/2")
    assert [path for path, _ in fake.requests] == ["/cgi-bin/token", "/cgi-bin/ticket/getticket"]
    token_query, ticket_query = fake.requests[0][1], fake.requests[1][1]
    assert token_query == {
        "grant_type": "client_credential",
        "appid": fake.app_id,
        "secret": fake.secret,
    }
    assert ticket_query == {"access_token": "TOKEN1", "type": "jsapi"}
    assert first["appId"] == fake.app_id and first["timestamp"] == int(clock.now)
    expected = wechat.signature(
        "TICKET-TOKEN1",
        first["nonceStr"],
        first["timestamp"],
        "https://shop.example/s/a/p/1?ref=Ab234567",
    )
    assert first["signature"] == expected
    assert second["nonceStr"] != first["nonceStr"]


def test_token_and_ticket_are_fetched_again_only_near_their_expiry():
    fake, clock = FakeWeChat(), Clock()
    with serving(fake) as base:
        sdk = wechat.JsSdk(fake.app_id, fake.secret, api_base=base, clock=clock)
        sdk.ticket()
        clock.now += 7200 - wechat.EXPIRY_MARGIN - 1
        assert sdk.ticket() == "TICKET-TOKEN1"
        assert len(fake.requests) == 2
        clock.now += 2
        assert sdk.ticket() == "TICKET-TOKEN2"
    assert len(fake.requests) == 4


def test_a_revoked_token_is_replaced_once_and_a_wrong_secret_is_an_error():
    fake, clock = FakeWeChat(), Clock()
    with serving(fake) as base:
        sdk = wechat.JsSdk(fake.app_id, fake.secret, api_base=base, clock=clock)
        sdk._access_token()
        fake.revoked.add("TOKEN1")
        assert sdk.ticket() == "TICKET-TOKEN2"
        wrong = wechat.JsSdk(fake.app_id, "nope", api_base=base, clock=clock)
        with pytest.raises(wechat.WeChatError, match="40013"):
            wrong.ticket()


def test_an_unreachable_api_is_an_error_not_a_hang():
    with serving(FakeWeChat()) as base:
        pass  # the server is stopped: its port now refuses
    sdk = wechat.JsSdk("wx1", "s", api_base=base, timeout=1.0)
    with pytest.raises(wechat.WeChatError):
        sdk.ticket()


def test_off_unless_both_the_app_id_and_the_secret_are_set():
    config = {"WECHAT_API_BASE": "http://127.0.0.1:1", "WECHAT_API_TIMEOUT_SECONDS": 1}
    assert wechat.from_config({**config, "WECHAT_APP_ID": "wx1"}) is None
    assert wechat.from_config({**config, "WECHAT_APP_SECRET": "s"}) is None
    assert (
        wechat.from_config({**config, "WECHAT_APP_ID": "wx1", "WECHAT_APP_SECRET": "s"})
        is not None
    )
