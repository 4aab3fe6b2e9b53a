"""Posters and QR tiles drawn in one helper process that every web worker of a site shares,
so that the workers never load Pillow, FreeType, the fonts or decoded photos (bench/README.md,
worker memory).

``draw("poster", content, folder=...)`` or ``draw("nine_qr", tile, folder=...)`` sends the
content's fields as JSON (strings, integers, None, resolved paths) over a Unix socket to the
drawing process of ``folder`` (the app's instance folder: one per site), waits for the JPEG
bytes and returns them. An error the drawing raised is raised again here: a built-in one
(ValueError for a URL too long for a QR code) as itself, any other as :class:`DrawingFailed`
naming it. When no drawing process answers, the worker that asked starts one
(shop.sharing.drawing_process; under a file lock, so two workers never start two) and waits for
it: a first poster takes about half a second more. A request gets ``TIMEOUT_SECONDS`` in all, the
start and a second try included, well under gunicorn's 30 s worker timeout.

The process draws one poster at a time, keeps the drawing's caches (fonts, decoded photos, QR
codes), fails a drawing that takes longer than ``DRAW_SECONDS`` itself (and exits when one is
stuck in a library call past that), and exits after ``IDLE_SECONDS`` without a request or as soon
as the worker that started it is gone (checked after every request, so steady traffic does not
keep an orphan alive). The socket's name carries the site and the code's identity (the code
folder, the Python, the shop.sharing files' times and sizes): a worker of new code never asks a
process of old code. It lives in a folder only this user may enter, and the process answers
only connections of its own user; a malformed or oversized message closes that connection only.

It draws with exactly the functions a caller in this process would call
(shop.sharing.posters.render_poster, shop.sharing.ninegrid.render_qr_tile): what the tests draw
directly is what production draws there.
"""

import builtins
import dataclasses
import fcntl
import functools
import hashlib
import json
import logging
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: The drawing process exits after this long without a request (a new one starts in ~0.5 s).
IDLE_SECONDS = 60.0
#: A poster not answered within this long fails its request: the start, the queue and a second
#: try included (gunicorn.conf.py kills a worker after 30 s).
TIMEOUT_SECONDS = 9.0
#: The drawing process fails a drawing that takes longer (a poster takes 20-40 ms, 0.7 s with
#: the process's start on a busy machine), and exits when one is still stuck 2 s later.
DRAW_SECONDS = 5.0
#: How long a new drawing process may take to say it listens before it is killed.
START_SECONDS = 5.0
MAX_REQUEST = 1 << 20  #: bytes of a request's JSON
MAX_ANSWER = 32 << 20  #: bytes of an answer (a poster's JPEG is ~200 KB)
_HEADER = struct.Struct("!BI")  # status (0 the bytes, 1 a JSON error), length
_OK, _ERROR = 0, 1
_spawned: dict[str, subprocess.Popen] = {}  # socket path -> the process this process started


class DrawingFailed(RuntimeError):
    """The drawing raised a library's own error, or the process did not answer."""


class _Gone(Exception):
    """No answer on a connection (the process was exiting, or died): ask again."""


def draw(kind: str, data, *, folder: str | Path) -> bytes:
    """The JPEG bytes of ``data`` drawn by the renderer ``kind`` ("poster": a PosterContent,
    "nine_qr": a ninegrid.QrTile) in the drawing process of ``folder``. Raises the drawing's
    built-in error, DrawingFailed for any other or no answer within ``TIMEOUT_SECONDS``, and
    TypeError/ValueError for content that cannot be sent."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    address = _address(folder)
    for process in list(_spawned.values()):
        process.poll()  # reaps one that ended by itself (no zombie left until the next start)
    body = json.dumps({"kind": kind, "data": _plain(data)}, ensure_ascii=False).encode()
    if len(body) > MAX_REQUEST:
        raise ValueError(f"a drawing request of {len(body)} bytes (at most {MAX_REQUEST})")
    request = struct.pack("!I", len(body)) + body
    for attempt in (1, 2):
        try:
            status, payload = _ask(address, request, deadline)
            break
        except (FileNotFoundError, ConnectionRefusedError, _Gone) as error:
            if attempt == 2:
                raise DrawingFailed(f"the drawing process did not answer: {error!r}") from None
            _start(address, deadline)
    if status == _OK:
        return payload
    raise _raised(payload)


def stop() -> None:
    """End the drawing processes this process started (tests; they also end by themselves)."""
    for path, process in list(_spawned.items()):
        _end(process)
        _spawned.pop(path, None)


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            log.warning("drawing process %d did not end", process.pid)


def _plain(data) -> dict | None:
    """The fields of a PosterContent or QrTile as JSON values; paths resolved (the drawing
    process runs in the code folder, not in this process's working folder)."""
    if data is None:
        return None
    fields = {}
    for field in dataclasses.fields(data):
        value = getattr(data, field.name)
        if isinstance(value, Path):
            value = {"path": str(value.resolve())}
        elif value is not None and type(value) not in (str, int):
            raise TypeError(f"{field.name}: a {type(value).__name__} cannot be sent to drawing")
        fields[field.name] = value
    return fields


def _raised(payload: bytes) -> Exception:
    """The exception of an error answer: a built-in one as itself, any other DrawingFailed."""
    try:
        error = json.loads(payload)
        name, message = str(error["type"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return DrawingFailed("the drawing process sent an unreadable error")
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            return kind(message)
        except TypeError:  # one that takes other arguments (UnicodeDecodeError)
            return DrawingFailed(f"{name}: {message}")
    return DrawingFailed(message)


@functools.cache
def _code_identity() -> str:
    """The code folder, the Python and the shop.sharing files (modification times and sizes):
    another deployment or an edited drawing gets a socket, and a process, of its own."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(f"{here.parents[1]}\0{sys.executable}\0".encode())
    for path in sorted(here.glob("*.py")):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_mtime_ns}:{stat.st_size}\0".encode())
    return digest.hexdigest()


def _address(folder: str | Path) -> str:
    """The socket of ``folder``'s drawing process of this code, in a folder private to this
    user: ``$XDG_RUNTIME_DIR/fenxiang-drawing``, else ``<instance>/run``, else (a Unix socket
    path has at most 107 bytes) ``$TMPDIR/fenxiang-drawing-<uid>``, where another local user
    could create the folder first (then posters fail, they are never drawn in a shared one)."""
    instance = Path(folder).resolve()
    # The machine too: an instance folder on a shared disk still gets one process per machine.
    site = f"{socket.gethostname()}\0{instance}\0{_code_identity()}"
    name = hashlib.sha256(site.encode()).hexdigest()[:24] + ".sock"
    candidates = [instance / "run"]
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime.startswith("/") and os.path.isdir(runtime):
        candidates.insert(0, Path(runtime) / "fenxiang-drawing")
    fitting = [folder for folder in candidates if len(os.fsencode(folder / name)) <= 107]
    private = (fitting or [Path(tempfile.gettempdir()) / f"fenxiang-drawing-{os.getuid()}"])[0]
    private.mkdir(mode=0o700, exist_ok=True)
    found = private.lstat()
    if found.st_uid != os.getuid() or found.st_mode & 0o077 or not private.is_dir():
        raise DrawingFailed(f"{private} is not a private folder of this user")
    return str(private / name)


def _ask(address: str, request: bytes, deadline: float) -> tuple[int, bytes]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        try:
            connection.settimeout(max(deadline - time.monotonic(), 0.001))
            connection.connect(address)
            connection.sendall(request)
            status, length = _HEADER.unpack(_receive(connection, _HEADER.size, deadline))
            if status not in (_OK, _ERROR) or length > MAX_ANSWER:
                raise DrawingFailed(f"the drawing process answered {status}, {length} bytes")
            return status, _receive(connection, length, deadline)
        except (BrokenPipeError, ConnectionResetError) as error:
            raise _Gone(repr(error)) from None
        except TimeoutError:  # the process is not killed: it ends a stuck drawing itself
            raise DrawingFailed(f"no drawing within {TIMEOUT_SECONDS:g} s") from None


def _receive(connection: socket.socket, size: int, deadline: float) -> bytes:
    out = bytearray()
    while len(out) < size:
        connection.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = connection.recv(min(size - len(out), 1 << 20))
        if not chunk:
            raise _Gone("the connection ended before the answer")
        out += chunk
    return bytes(out)


def _start(address: str, deadline: float) -> None:
    """Start the drawing process of ``address`` unless another worker just did (the lock).
    Raises DrawingFailed when it does not listen within ``START_SECONDS`` (it is killed)."""
    for path, process in list(_spawned.items()):  # tests: one site at a time per process
        if process.poll() is not None or path != address:
            _end(process)
            _spawned.pop(path, None)
    with open(address + ".lock", "a") as lock:
        while True:  # another worker may be starting it: wait, but not past the deadline
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DrawingFailed("the drawing process did not start in time") from None
                time.sleep(0.02)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(max(min(deadline - time.monotonic(), 1.0), 0.001))
            try:
                probe.connect(address)
                return  # another worker started it while this one waited for the lock
            except TimeoutError:
                return  # it runs, its queue full: a second process would not be the site's one
            except (FileNotFoundError, ConnectionRefusedError):
                pass
        root = Path(__file__).resolve().parents[2]
        path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
        process = subprocess.Popen(
            [sys.executable, "-m", "shop.sharing.drawing_process", address, str(IDLE_SECONDS)]
            + [str(DRAW_SECONDS), str(os.getpid())],
            stdout=subprocess.PIPE,
            # glibc: large freed image buffers go back to the system instead of into a heap
            # that never shrinks (as gunicorn.conf.py's _fixed_mmap_threshold for the workers).
            env=dict(
                os.environ,
                PYTHONPATH=path,
                MALLOC_MMAP_THRESHOLD_="131072",
                MALLOC_TRIM_THRESHOLD_="262144",
            ),
            cwd=root,
        )
        wait = max(min(START_SECONDS, deadline - time.monotonic()), 0.001)
        ready = select.select([process.stdout], [], [], wait)[0]
        said = os.read(process.stdout.fileno(), 6) if ready else b""  # "ready\n", or nothing
        process.stdout.close()
        if said != b"ready\n":
            process.kill()
            process.wait()
            raise DrawingFailed("the drawing process did not start (see the log)")
        _spawned[address] = process
