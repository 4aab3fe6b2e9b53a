"""Posters and QR tiles drawn in a helper process, so that the web workers never load Pillow,
FreeType, the fonts or decoded photos (bench/README.md, worker memory).

``draw("poster", content)`` or ``draw("nine_qr", tile)`` sends the plain data to a child
process (``python -m shop.sharing.drawing``, one per web worker, started on the first call),
waits for the JPEG bytes and returns them; an error the drawing raised (e.g. qrcode's
DataOverflowError for a URL too long) is raised again here, as DrawingFailed naming it unless it
is a built-in one. The child keeps the drawing's
caches (fonts, decoded photos, QR codes) while it is used and exits after
``IDLE_SECONDS`` without a request, or as soon as its web worker is gone (its stdin closes).

The child draws with exactly the functions a caller in this process would call
(shop.sharing.posters.render_poster, shop.sharing.ninegrid.render_qr_tile): what the tests
draw directly is what production draws there.
"""

import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: A child with no request for this long exits; the next poster starts a new one (~0.3 s).
IDLE_SECONDS = 60.0
#: A drawing that takes longer than this is stuck: the child is killed and the request fails.
TIMEOUT_SECONDS = 20.0
_HEADER = struct.Struct("!BI")  # status (0 bytes, 1 pickled exception), length
_OK, _ERROR = 0, 1


class DrawingFailed(RuntimeError):
    """The child died, hung or answered something unreadable."""


def _renderers():
    """What the child can draw, by kind (imported in the child only)."""
    from shop.sharing import ninegrid, posters

    return {"poster": posters.render_poster, "nine_qr": ninegrid.render_qr_tile}


class _Child:
    def __init__(self) -> None:
        root = Path(__file__).resolve().parents[2]
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shop.sharing.drawing", str(IDLE_SECONDS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=root,
        )
        self.owner = os.getpid()

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.process.poll() is None

    def ask(self, kind: str, data) -> tuple[int, bytes]:
        request = pickle.dumps((kind, data), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.process.stdin.write(struct.pack("!I", len(request)) + request)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            raise _Gone(str(error)) from None
        deadline = time.monotonic() + TIMEOUT_SECONDS
        header = self._read(_HEADER.size, deadline)
        status, length = _HEADER.unpack(header)
        return status, self._read(length, deadline)

    def _read(self, size: int, deadline: float) -> bytes:
        out, stream = bytearray(), self.process.stdout
        while len(out) < size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([stream], [], [], left)[0]:
                self.stop()
                raise DrawingFailed(f"no drawing within {TIMEOUT_SECONDS:g} s")
            chunk = os.read(stream.fileno(), size - len(out))
            if not chunk:
                raise _Gone("the drawing process ended")
            out += chunk
        return bytes(out)

    def stop(self) -> None:
        """Kill the child (if this process started it: a forked copy of us only lets go)."""
        if self.owner == os.getpid():
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


class _Gone(Exception):
    """The child ended before answering (its idle exit, a crash): draw again in a new one."""


_child: _Child | None = None
_lock = threading.Lock()


def draw(kind: str, data) -> bytes:
    """The JPEG bytes of ``data`` drawn by the renderer ``kind`` ("poster": a PosterContent,
    "nine_qr": a ninegrid.QrTile) in the drawing process. Raises what the renderer raised, or
    DrawingFailed when the process hangs or dies twice."""
    global _child
    with _lock:
        for attempt in (1, 2):
            if _child is None or not _child.alive():
                if _child is not None:
                    _child.stop()
                _child = _Child()
            try:
                status, payload = _child.ask(kind, data)
                break
            except _Gone as gone:
                _child.stop()
                _child = None
                if attempt == 2:
                    raise DrawingFailed(str(gone)) from None
            except DrawingFailed:
                _child = None
                raise
    if status == _OK:
        return payload
    raise pickle.loads(payload)


def stop() -> None:
    """End this process's drawing child now (tests; it also ends by itself)."""
    global _child
    with _lock:
        if _child is not None:
            _child.stop()
            _child = None


def _serve(idle_seconds: float) -> None:
    """The child's loop: a request on stdin, an answer on stdout, until idle or stdin ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C of `flask run`: its EOF ends us
    renderers = _renderers()
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr  # anything printed goes to the log, never into the answers
    while select.select([0], [], [], idle_seconds)[0]:
        head = _read_exactly(0, 4)
        if head is None:
            return
        request = _read_exactly(0, struct.unpack("!I", head)[0])
        if request is None:
            return
        kind, data = pickle.loads(request)
        try:
            status, answer = _OK, renderers[kind](data)
        except Exception as error:  # sent back and raised again in the web worker
            status, answer = _ERROR, _pickled(error)
        stdout.write(_HEADER.pack(status, len(answer)) + answer)
        stdout.flush()


def _read_exactly(fd: int, size: int) -> bytes | None:
    out = bytearray()
    while len(out) < size:
        chunk = os.read(fd, size - len(out))
        if not chunk:
            return None
        out += chunk
    return bytes(out)


def _pickled(error: Exception) -> bytes:
    """A built-in exception as it is; any other (qrcode's DataOverflowError) as DrawingFailed
    with its name: unpickling a library's own would import that library in the web worker."""
    if type(error).__module__ != "builtins":
        error = DrawingFailed(f"{type(error).__module__}.{type(error).__name__}: {error}")
    return pickle.dumps(error)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.WARNING, format="drawing[%(process)d] %(levelname)s %(message)s"
    )
    _serve(float(sys.argv[1]) if len(sys.argv) > 1 else IDLE_SECONDS)
