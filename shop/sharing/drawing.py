"""Posters and QR tiles drawn in one helper process that every web worker of a site shares,
so that the workers never load Pillow, FreeType, the fonts or decoded photos (bench/README.md,
worker memory).

``draw("poster", content, folder=...)`` or ``draw("nine_qr", tile, folder=...)`` sends the plain
data over a Unix socket to the drawing process of ``folder`` (the app's instance folder: one per
site), waits for the JPEG bytes and returns them. An error the drawing raised is raised again
here: a built-in one (ValueError for a URL too long for a QR code) as itself, any other as
:class:`DrawingFailed` naming it. When no drawing process answers, the worker that asked starts
one (``python -m shop.sharing.drawing``; under a file lock, so two workers never start two) and
waits for it: a first poster takes about half a second more. The process draws one poster at a
time, keeps the drawing's caches (fonts, decoded photos, QR codes), and exits after
``IDLE_SECONDS`` without a request or when the worker that started it is gone (a new one is
started by the next poster).

It draws with exactly the functions a caller in this process would call
(shop.sharing.posters.render_poster, shop.sharing.ninegrid.render_qr_tile): what the tests draw
directly is what production draws there. The socket lives in a folder only this user may enter,
and the process answers only connections of its own user (the requests are pickles).
"""

import fcntl
import hashlib
import logging
import os
import pickle
import signal
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
#: A poster not answered within this long fails its request (the queue included).
TIMEOUT_SECONDS = 20.0
_HEADER = struct.Struct("!BI")  # status (0 the bytes, 1 a pickled exception), length
_OK, _ERROR = 0, 1
_spawned: dict[str, subprocess.Popen] = {}  # socket path -> the process this process started


class DrawingFailed(RuntimeError):
    """The drawing raised a library's own error, or the process did not answer."""


class _Gone(Exception):
    """No answer on a connection (the process was exiting, or died): ask again."""


def draw(kind: str, data, *, folder: str | Path) -> bytes:
    """The JPEG bytes of ``data`` drawn by the renderer ``kind`` ("poster": a PosterContent,
    "nine_qr": a ninegrid.QrTile) in the drawing process of ``folder``."""
    address = _address(folder)
    for process in list(_spawned.values()):
        process.poll()  # reaps one that ended by itself (no zombie left until the next start)
    request = pickle.dumps((kind, data), protocol=pickle.HIGHEST_PROTOCOL)
    request = struct.pack("!I", len(request)) + request
    for attempt in (1, 2):
        try:
            status, payload = _ask(address, request)
            break
        except (FileNotFoundError, ConnectionRefusedError, _Gone) as error:
            if attempt == 2:
                raise DrawingFailed(f"the drawing process did not answer: {error!r}") from None
            _start(address)
    if status == _OK:
        return payload
    raise pickle.loads(payload)


def stop() -> None:
    """End the drawing processes this process started (tests; they also end by themselves)."""
    for path, process in list(_spawned.items()):
        if process.poll() is None:
            process.terminate()
        process.wait(10)
        _spawned.pop(path, None)


def _address(folder: str | Path) -> str:
    """The socket of ``folder``'s drawing process, in a private folder of this user (a Unix
    socket path has at most 107 bytes, so not inside the instance folder itself)."""
    private = Path(tempfile.gettempdir()) / f"fenxiang-drawing-{os.getuid()}"
    private.mkdir(mode=0o700, exist_ok=True)
    found = private.lstat()
    if found.st_uid != os.getuid() or found.st_mode & 0o077 or not private.is_dir():
        raise DrawingFailed(f"{private} is not a private folder of this user")
    name = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:24]
    return str(private / f"{name}.sock")


def _ask(address: str, request: bytes) -> tuple[int, bytes]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(TIMEOUT_SECONDS)
        deadline = time.monotonic() + TIMEOUT_SECONDS
        try:
            connection.connect(address)
            connection.sendall(request)
            status, length = _HEADER.unpack(_receive(connection, _HEADER.size, deadline))
            return status, _receive(connection, length, deadline)
        except (BrokenPipeError, ConnectionResetError) as error:
            raise _Gone(repr(error)) from None
        except TimeoutError:
            _end_stuck(address)
            raise DrawingFailed(f"no drawing within {TIMEOUT_SECONDS:g} s") from None


def _end_stuck(address: str) -> None:
    """Kill the drawing process of ``address`` (it did not answer in time: stuck, or so far
    behind that waiting is no use); the next poster starts a new one. Only a process whose
    command line names this socket: its pid file may be older than a reused pid."""
    try:
        pid = int(Path(address + ".pid").read_text())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return
    if b"shop.sharing.drawing" in command and address.encode() in command:
        log.warning("drawing process %d did not answer within %g s: ended", pid, TIMEOUT_SECONDS)
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _receive(connection: socket.socket, size: int, deadline: float) -> bytes:
    out = bytearray()
    while len(out) < size:
        connection.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = connection.recv(min(size - len(out), 1 << 20))
        if not chunk:
            raise _Gone("the connection ended before the answer")
        out += chunk
    return bytes(out)


def _start(address: str) -> None:
    """Start the drawing process of ``address`` unless another worker just did (the lock)."""
    for path, process in list(_spawned.items()):  # tests: one site at a time per process
        if process.poll() is not None or path != address:
            if process.poll() is None:
                process.terminate()
            process.wait(10)
            _spawned.pop(path)
    with open(address + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(address)
                return  # another worker started it while this one waited for the lock
            except (FileNotFoundError, ConnectionRefusedError):
                pass
        root = Path(__file__).resolve().parents[2]
        path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
        process = subprocess.Popen(
            [sys.executable, "-m", "shop.sharing.drawing", address, str(IDLE_SECONDS)],
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
        ready = process.stdout.readline()  # written once it listens
        process.stdout.close()
        if ready != b"ready\n":
            process.kill()
            process.wait()
            raise DrawingFailed("the drawing process did not start (see the log)")
        _spawned[address] = process


def _serve(address: str, idle_seconds: float) -> None:
    """The drawing process: one request at a time until idle, or its starter is gone."""
    signal.signal(
        signal.SIGINT, signal.SIG_IGN
    )  # Ctrl-C of `flask run`: the starter's exit ends us
    from shop.sharing import ninegrid, posters

    renderers = {"poster": posters.render_poster, "nine_qr": ninegrid.render_qr_tile}
    starter = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(address)  # a socket left by a process that was killed (we hold the lock)
    except FileNotFoundError:
        pass
    listener.bind(address)
    listener.listen(64)
    Path(address + ".pid").write_text(str(os.getpid()))
    listener.settimeout(1.0)
    sys.stdout.buffer.write(b"ready\n")
    sys.stdout.buffer.flush()
    sys.stdout = sys.stderr  # anything printed goes to the log
    last = time.monotonic()
    try:
        while True:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                if os.getppid() != starter or time.monotonic() - last > idle_seconds:
                    return
                continue
            with connection:
                _answer(connection, renderers)
            last = time.monotonic()
    finally:
        os.unlink(address)  # first: a worker asking now starts a new process, never waits
        listener.close()


def _answer(connection: socket.socket, renderers) -> None:
    try:
        if peercred := getattr(socket, "SO_PEERCRED", None):  # Linux; elsewhere the folder
            credentials = connection.getsockopt(socket.SOL_SOCKET, peercred, 12)
            if struct.unpack("3i", credentials)[1] != os.getuid():
                return
        deadline = time.monotonic() + 10
        (length,) = struct.unpack("!I", _receive(connection, 4, deadline))
        kind, data = pickle.loads(_receive(connection, length, deadline))
    except (OSError, _Gone, pickle.UnpicklingError, struct.error) as error:
        log.warning("drawing request not read: %r", error)
        return
    try:
        status, answer = _OK, renderers[kind](data)
    except Exception as error:  # sent back and raised again in the web worker
        status, answer = _ERROR, _pickled(error)
    try:
        connection.settimeout(10)
        connection.sendall(_HEADER.pack(status, len(answer)) + answer)
    except OSError as error:  # the worker gave up waiting
        log.warning("drawing not delivered: %r", error)


def _pickled(error: Exception) -> bytes:
    """A built-in exception as it is; any other as DrawingFailed with its name: unpickling a
    library's own (qrcode's) would import that library in the web worker."""
    if type(error).__module__ != "builtins":
        error = DrawingFailed(f"{type(error).__module__}.{type(error).__name__}: {error}")
    return pickle.dumps(error)


if __name__ == "__main__":
    logging.basicConfig(format="drawing[%(process)d] %(levelname)s %(name)s: %(message)s")
    _serve(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else IDLE_SECONDS)
