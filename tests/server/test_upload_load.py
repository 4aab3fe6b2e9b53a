"""Large uploads do not stall the server: gunicorn started as `make serve` starts it (its
gunicorn.conf.py, sync workers, 2 x cores + 1 of them), five signed-in merchants upload big
pictures at once (the probe's 6300 x 6300 PNG of 130 KB, and 40 MP JPEGs), and /healthz
keeps answering within a second. Loopback only, a fixed count, every wait bounded."""

import io
import struct
import threading
import time
import uuid
import zlib

import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from shop.catalog import images
from shop.catalog.models import Image, ProductImage
from shop.platform.extensions import db
from tests.factories import make_merchant, make_product
from tests.server.live import TIMEOUT, Browser, hidden_fields, release_together, server_env, sign_in
from tests.server.test_production_server import ServeProcess

UPLOADS = 5


def probe_png(side: int = 6300) -> bytes:
    """The probe's picture: ``side`` x ``side`` RGB of one colour, about 130 KB as a PNG,
    written row by row so making it costs no 119 MB picture in the test."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    pack = zlib.compressobj(9)
    row = b"\0" + bytes((200, 40, 40)) * side
    pixels = b"".join(pack.compress(row) for _ in range(side)) + pack.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def big_jpeg() -> bytes:
    """A 40 MP photo (7300 x 5475), within the pixel limit before and after decoding changed."""
    out = io.BytesIO()
    PILImage.new("RGB", (7300, 5475), (90, 120, 60)).save(out, "JPEG", quality=85)
    return out.getvalue()


def multipart(fields: dict, name: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def serve_upload_server(database_url, tmp_path):
    server = ServeProcess(server_env(database_url, tmp_path / "instance"), tmp_path / "serve.log")
    yield server
    server.stop()


def test_healthz_answers_within_a_second_during_five_big_uploads(app, serve_upload_server, db_name):
    server = serve_upload_server
    with app.app_context():
        merchants = [make_merchant() for _ in range(UPLOADS)]
        product_ids = [make_product(merchant=m).id for m in merchants]
        accounts = [m.user.phone for m in merchants]
        db.session.commit()
    pictures = [
        ("probe.png", probe_png()) if i % 2 == 0 else ("photo.jpg", big_jpeg())
        for i in range(UPLOADS)
    ]
    assert 120_000 < len(pictures[0][1]) < 140_000
    server.wait_ready()
    browsers = [sign_in(server, account) for account in accounts]
    bodies = []
    for browser, product_id, (filename, data) in zip(browsers, product_ids, pictures, strict=True):
        token = hidden_fields(browser.get(f"/merchant/products/{product_id}/edit").text)
        bodies.append(multipart({"csrf_token": token["csrf_token"]}, "images", filename, data))

    started, finished = threading.Event(), threading.Event()
    outcome: dict = {}

    def upload(i):
        started.set()
        body, content_type = bodies[i]
        return browsers[i].request(
            "POST", f"/merchant/products/{product_ids[i]}/images", body,
            {"Content-Type": content_type},
        )  # fmt: skip

    def run_uploads():
        try:
            outcome["results"], outcome["seconds"] = release_together(UPLOADS, upload)
        finally:
            finished.set()

    uploader = threading.Thread(target=run_uploads, daemon=True)
    uploader.start()
    assert started.wait(TIMEOUT)
    waits = []
    probe = Browser(server, timeout=5)
    while not finished.is_set() or not waits:
        begin = time.perf_counter()
        answer = probe.get("/healthz")
        waits.append(time.perf_counter() - begin)
        assert answer.status == 200, answer.text
        time.sleep(0.05)
    uploader.join(2 * TIMEOUT)
    results = outcome["results"]
    assert all(getattr(r, "status", None) == 302 for r in results), (results, server.log()[-3000:])
    assert max(waits) < 1.0, (waits, outcome["seconds"])

    with app.app_context():
        stored = db.session.execute(
            select(ProductImage.product_id, Image.sha256, Image.width, Image.height)
            .join(Image, Image.id == ProductImage.image_id)
            .where(ProductImage.position == 1)
        ).all()
        # The JPEGs were stored (decoded at an eighth); the PNG was refused, leaving no files.
        assert sorted(row.product_id for row in stored) == [product_ids[1], product_ids[3]]
        assert {(row.width, row.height) for row in stored} == {(750, 563)}
        on_disk = {path.name[:64] for path in images.media_root().rglob("*-d.webp")}
        assert on_disk == set(db.session.execute(select(Image.sha256)).scalars())
    print(
        f"\n[{db_name}] 5 big uploads at once: done in {outcome['seconds']:.2f} s; "
        f"/healthz answered {len(waits)} times, slowest {max(waits) * 1000:.0f} ms"
    )
