"""Posters are drawn in a helper process (shop.sharing.drawing), not in the web worker: the same
bytes the drawing functions make here, errors raised again in the worker, a child that ended
(its idle exit, a crash) replaced on the next poster, and a worker serving posters that never
imports Pillow (bench/README.md, worker memory)."""

import os
import pickle
import subprocess
import sys
import time

import pytest
from PIL import Image

from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing import drawing, links, ninegrid, posters
from shop.sharing.models import Channel
from tests.factories import DEFAULT_PASSWORD
from tests.services.test_posters import make_content
from tests.web.test_sharer_tools import shop_with_item


@pytest.fixture(autouse=True)
def own_process():
    drawing.stop()
    yield
    drawing.stop()


def server(folder):
    return drawing._spawned[drawing._address(folder)]


def test_the_process_draws_the_same_bytes_as_the_functions_here(tmp_path):
    photo = tmp_path / "photo.webp"
    Image.new("RGB", (900, 700), (30, 160, 90)).save(photo, "WEBP")
    for template in ("product", "price", "review"):
        content = make_content(image_path=photo, template=template, quote="好喝")
        assert drawing.draw("poster", content, folder=tmp_path) == posters.render_poster(content)
    tile = ninegrid.QrTile("https://fenxiang.example.com/r/AbC123xy", "桂花乌龙", 5900, "长按识别")
    assert drawing.draw("nine_qr", tile, folder=tmp_path) == ninegrid.render_qr_tile(tile)
    assert server(tmp_path).pid != os.getpid() and server(tmp_path).poll() is None


def test_errors_of_the_drawing_are_raised_in_the_worker(tmp_path):
    with pytest.raises(ValueError, match="Invalid version"):  # a URL too long for a QR code
        drawing.draw("poster", make_content(url="https://x.example/" + "z" * 5000), folder=tmp_path)
    with pytest.raises(KeyError):
        drawing.draw("nonsense", None, folder=tmp_path)
    assert drawing.draw("poster", make_content(), folder=tmp_path)[:2] == b"\xff\xd8"


class LibraryError(Exception):
    pass


def test_a_librarys_own_error_arrives_by_name_without_importing_the_library():
    error = pickle.loads(drawing._pickled(LibraryError("too long")))
    assert isinstance(error, drawing.DrawingFailed)
    assert str(error) == f"{__name__}.LibraryError: too long"


def test_a_process_that_ended_is_replaced_on_the_next_poster(monkeypatch, tmp_path):
    first = drawing.draw("poster", make_content(), folder=tmp_path)
    killed = server(tmp_path)
    killed.kill()  # its socket file stays behind
    killed.wait()
    assert drawing.draw("poster", make_content(), folder=tmp_path) == first
    assert server(tmp_path).pid != killed.pid
    monkeypatch.setattr(drawing, "IDLE_SECONDS", 1.0)
    drawing.stop()
    drawing.draw("poster", make_content(), folder=tmp_path)
    idle = server(tmp_path)
    idle.wait(timeout=10)  # it exits by itself when no poster comes
    assert drawing.draw("poster", make_content(), folder=tmp_path) == first
    assert server(tmp_path).pid != idle.pid


def test_a_slow_drawing_fails_the_request_and_is_ended(monkeypatch, tmp_path):
    drawing.draw("poster", make_content(), folder=tmp_path)
    monkeypatch.setattr(drawing, "TIMEOUT_SECONDS", 0.001)
    started = time.monotonic()
    with pytest.raises(drawing.DrawingFailed, match="no drawing within"):
        drawing.draw("poster", make_content(title="新的标题"), folder=tmp_path)
    assert time.monotonic() - started < 5
    assert server(tmp_path).wait(5) == -9  # ended: a stuck process would block every poster
    monkeypatch.setattr(drawing, "TIMEOUT_SECONDS", 20.0)
    assert drawing.draw("poster", make_content(), folder=tmp_path)[:2] == b"\xff\xd8"


def test_the_socket_folder_must_be_private(monkeypatch, tmp_path):
    monkeypatch.setattr(drawing.tempfile, "gettempdir", lambda: str(tmp_path))
    shared = tmp_path / f"fenxiang-drawing-{os.getuid()}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(drawing.DrawingFailed, match="not a private folder"):
        drawing.draw("poster", make_content(), folder=tmp_path)


SERVE_POSTERS = """
import sys
from tests.conftest import build_app, sign_in
app = build_app({url!r}, __import__("pathlib").Path({instance!r}))
client = sign_in(app.test_client(), {account!r}, {password!r})
poster = client.get("/me/links/{link_id}/poster.jpg")
tile = client.get("/me/links/{link_id}/nine/{qr_tile}.jpg")
print(poster.status_code, poster.mimetype, len(poster.get_data()), tile.status_code)
print(sorted(name for name in ("PIL", "qrcode") if name in sys.modules))
from shop.sharing import drawing
print(sorted(drawing._spawned))
"""


def test_a_worker_serving_posters_never_imports_pillow(app, database_url, tmp_path):
    with app.app_context():
        user, shop, product, _item = shop_with_item()
        link = links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=utcnow())
        db.session.commit()
        link_id, account = link.id, user.account_label
        _count, qr_at = ninegrid.layout(len(product.images))
        assert product.images  # so the set has a QR tile to draw
    code = SERVE_POSTERS.format(
        url=database_url,
        instance=app.instance_path,
        account=account,
        password=DEFAULT_PASSWORD,
        link_id=link_id,
        qr_tile=qr_at + 1,
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=os.getcwd()
    )
    assert done.returncode == 0, done.stderr[-2000:]
    served, imported, started = done.stdout.strip().splitlines()[-3:]
    status, mimetype, size, tile_status = served.split()
    assert (status, mimetype, tile_status) == ("200", "image/jpeg", "200") and int(size) > 10_000
    assert imported == "[]"
    assert started == repr([drawing._address(app.instance_path)])  # it started the process


def test_the_workers_of_a_site_share_one_drawing_process(app, tmp_path):
    drawing.draw("poster", make_content(), folder=app.instance_path)
    code = (
        "from shop.sharing import drawing\n"
        "from tests.services.test_posters import make_content\n"
        f"drawing.draw('poster', make_content(title='另一个'), folder={app.instance_path!r})\n"
        "print(sorted(drawing._spawned))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"  # the other worker asked this one's process
