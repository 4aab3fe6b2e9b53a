"""Local fakes for notification receivers: an HTTPS server on 127.0.0.1 (port 0) with a
self-signed certificate made by openssl for the test, recording what it is sent. It answers as
a webhook receiver or as WeCom's group bot API (POST /cgi-bin/webhook/send?key=KEY, answer
{"errcode": 0, "errmsg": "ok"})."""

import json
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


def make_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class Receiver:
    """``answers``: a list of (status, body, delay seconds) used in turn (the last repeats)."""

    def __init__(self, cert: Path, key: Path, answers=None):
        self.requests: list[dict] = []
        self.answers = list(answers or [(200, b"ok", 0)])
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    n = len(receiver.requests)
                    status, answer, delay = receiver.answers[min(n, len(receiver.answers)) - 1]
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.base = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def wecom_answer(errcode: int = 0, errmsg: str = "ok") -> bytes:
    return json.dumps({"errcode": errcode, "errmsg": errmsg}).encode()


def wecom_key_of(request: dict) -> str:
    parts = urlsplit(request["path"])
    assert parts.path == "/cgi-bin/webhook/send"
    return parse_qs(parts.query)["key"][0]
