"""Posters are drawn in a helper process (shop.sharing.drawing), not in the web worker: the same
bytes the drawing functions make here, errors raised again in the worker, a child that ended
(its idle exit, a crash) replaced on the next poster, and a worker serving posters that never
imports Pillow (bench/README.md, worker memory)."""

import os
import pickle
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing import drawing, drawing_process, links, ninegrid, posters
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
    error = drawing._raised(drawing_process._error_answer(LibraryError("too long")))
    assert isinstance(error, drawing.DrawingFailed)
    assert str(error) == f"{__name__}.LibraryError: too long"
    error = drawing._raised(drawing_process._error_answer(ValueError("Invalid version")))
    assert type(error) is ValueError and str(error) == "Invalid version"
    assert isinstance(
        drawing._raised(b'{"type": "SystemExit", "message": ""}'), drawing.DrawingFailed
    )
    assert isinstance(drawing._raised(b"\x80\x04junk"), drawing.DrawingFailed)


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


def test_a_request_past_its_deadline_fails_without_ending_the_process(monkeypatch, tmp_path):
    drawing.draw("poster", make_content(), folder=tmp_path)
    monkeypatch.setattr(drawing, "TIMEOUT_SECONDS", 0.001)
    started = time.monotonic()
    with pytest.raises(drawing.DrawingFailed, match="no drawing within"):
        drawing.draw("poster", make_content(title="新的标题"), folder=tmp_path)
    assert time.monotonic() - started < 5
    monkeypatch.setattr(drawing, "TIMEOUT_SECONDS", 9.0)
    kept = server(tmp_path)
    assert drawing.draw("poster", make_content(), folder=tmp_path)[:2] == b"\xff\xd8"
    assert server(tmp_path) is kept and kept.poll() is None  # busy is not stuck: not killed


def test_the_process_fails_a_drawing_past_its_time_itself(monkeypatch, tmp_path):
    monkeypatch.setattr(drawing, "DRAW_SECONDS", 0.001)  # given to the process at its start
    with pytest.raises(drawing.DrawingFailed, match="took longer than 0.001 s"):
        drawing.draw("poster", make_content(title="慢"), folder=tmp_path)
    assert server(tmp_path).poll() is None


def test_a_process_that_does_not_start_is_killed_in_time(monkeypatch, tmp_path):
    silent = tmp_path / "python"
    silent.write_text("#!/bin/sh\nexec sleep 60\n")
    silent.chmod(0o755)
    monkeypatch.setattr(drawing.sys, "executable", str(silent))
    monkeypatch.setattr(drawing, "START_SECONDS", 0.5)
    started = time.monotonic()
    with pytest.raises(drawing.DrawingFailed, match="did not start"):
        drawing.draw("poster", make_content(), folder=tmp_path)
    assert time.monotonic() - started < 3 and not drawing._spawned


def framed(body: bytes) -> bytes:
    return struct.pack("!I", len(body)) + body


def raw_request(address, data: bytes, *, done_writing=True) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(10)
        connection.connect(address)
        connection.sendall(data)
        if done_writing:  # what a worker that gave up looks like: the request is not drawn
            connection.shutdown(socket.SHUT_WR)
        try:
            return connection.recv(100)
        except ConnectionResetError:  # closed with the request unread
            return b""


def test_a_malformed_or_oversized_message_closes_only_its_connection(tmp_path):
    first = drawing.draw("poster", make_content(), folder=tmp_path)
    address, kept = drawing._address(tmp_path), server(tmp_path)
    pickled = pickle.dumps(("poster", make_content()))
    for data in (
        struct.pack("!I", len(pickled)) + pickled,  # a pickle: never unpickled
        struct.pack("!I", 9) + b"not json!",
        struct.pack("!I", 7) + b"[1, 2]\n",
        struct.pack("!I", 2) + b"\xff\xfe",
        struct.pack("!I", drawing.MAX_REQUEST + 1) + b"{",
        b"\x00\x00",  # a header cut short
        framed(b'{"kind": "poster", "data": {"url": [1, 2]}}'),  # not a field's type
        framed(b'{"kind": 3}'),
    ):
        assert raw_request(address, data) == b""  # closed, no answer
    answer = raw_request(
        address, framed(b'{"kind": "poster", "data": {"x": 1}}'), done_writing=False
    )
    assert answer[:1] == b"\x01"  # content that does not fit: an error answer (TypeError)
    assert drawing.draw("poster", make_content(), folder=tmp_path) == first
    assert server(tmp_path) is kept and kept.poll() is None


def test_requests_and_answers_over_the_caps_are_refused(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="drawing request of"):
        drawing.draw("poster", make_content(title="长" * drawing.MAX_REQUEST), folder=tmp_path)
    assert not drawing._spawned  # refused before asking
    drawing.draw("poster", make_content(), folder=tmp_path)
    monkeypatch.setattr(drawing, "MAX_ANSWER", 1000)
    with pytest.raises(drawing.DrawingFailed, match="bytes"):
        drawing.draw("poster", make_content(), folder=tmp_path)


ORPHAN_STARTER = """
from shop.sharing import drawing
from tests.services.test_posters import make_content
drawing.draw("poster", make_content(), folder={folder!r})
print(drawing._spawned[drawing._address({folder!r})].pid, flush=True)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_an_orphan_exits_even_under_steady_posters(tmp_path):
    """Its starter (a worker recycled, a redeploy) is gone: it answers at most the request it
    has, then exits, though a poster comes every 0.3 s (the accept timeout never fires)."""
    starter = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_STARTER.format(folder=str(tmp_path))],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,  # the orphan keeps its stderr
    )  # fmt: skip
    with starter.stdout:
        orphan = int(starter.stdout.readline())
    assert starter.wait(30) == 0 and alive(orphan)
    gone_at = None
    started = time.monotonic()
    while time.monotonic() - started < 4:
        drawing.draw("poster", make_content(), folder=tmp_path)
        if gone_at is None and not alive(orphan):
            gone_at = time.monotonic() - started
        time.sleep(0.3)
    assert gone_at is not None and gone_at < 2.5, gone_at
    assert server(tmp_path).pid != orphan  # the posters went on: a new process drew them


def test_workers_that_find_the_process_dead_start_only_one(tmp_path):
    first = drawing.draw("poster", make_content(), folder=tmp_path)
    address = drawing._address(tmp_path)
    server(tmp_path).kill()
    server(tmp_path).wait()
    answers = []
    askers = [
        threading.Thread(
            target=lambda: answers.append(drawing.draw("poster", make_content(), folder=tmp_path))
        )
        for _ in range(4)
    ]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(30)
    assert answers == [first] * 4
    running = subprocess.run(["pgrep", "-f", address], capture_output=True, text=True).stdout
    assert len(running.split()) == 1, running


STUCK_DRAWING = """
import signal, sys, time
from shop.sharing.drawing_process import _Watchdog

def stuck(_content):  # a library call that never returns to Python: the alarm cannot help
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(30)

_Watchdog(0.2, lambda: print("socket removed", flush=True)).run(stuck, None)
"""


def test_a_drawing_stuck_past_its_time_ends_the_process():
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", STUCK_DRAWING], capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 70 and done.stdout == "socket removed\n", done.stderr[-2000:]
    assert 2 < time.monotonic() - started < 10
    assert "a drawing stuck for 2.2 s" in done.stderr


def test_new_code_never_asks_a_process_of_old_code(monkeypatch, tmp_path):
    old = drawing._address(tmp_path)
    monkeypatch.setattr(drawing, "_code_identity", lambda: "another deployment")
    assert drawing._address(tmp_path) != old
    assert os.path.dirname(drawing._address(tmp_path)) == os.path.dirname(old)


def test_the_socket_folder_must_be_private(monkeypatch, tmp_path):
    runtime = tempfile.mkdtemp(prefix="xdg")  # short: pytest's folders are too long for it
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
        assert drawing._address(tmp_path).startswith(f"{runtime}/fenxiang-drawing/")
        shared = Path(runtime) / "fenxiang-drawing"
        shared.chmod(0o777)
        with pytest.raises(drawing.DrawingFailed, match="not a private folder"):
            drawing.draw("poster", make_content(), folder=tmp_path)
    finally:
        shutil.rmtree(runtime)


def test_the_socket_is_in_the_instance_folder_else_in_tmp(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert drawing._address(tmp_path).startswith(f"{tmp_path}/run/")
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o700
    deep = tmp_path / ("x" * 90)  # a socket path there would pass 107 bytes
    monkeypatch.setattr(drawing.tempfile, "gettempdir", lambda: str(tmp_path))
    assert drawing._address(deep).startswith(f"{tmp_path}/fenxiang-drawing-{os.getuid()}/")


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
