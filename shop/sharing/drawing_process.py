"""The drawing process of shop.sharing.drawing (``python -m shop.sharing.drawing_process
<socket> <idle seconds> <drawing seconds> <starter pid>``, started by a web worker): one
request at a time, read as JSON, drawn with shop.sharing.posters / ninegrid, answered with the
JPEG bytes or the error. It fails a drawing past its time itself (and exits when one is stuck in
a library call), and exits when idle or as soon as the worker that started it is gone. A
malformed, oversized or slow request closes that connection only; nothing a client sends ends
the process.
"""

import json
import logging
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from shop.sharing.drawing import (
    _ERROR,
    _HEADER,
    _OK,
    DRAW_SECONDS,
    IDLE_SECONDS,
    MAX_ANSWER,
    MAX_REQUEST,
    DrawingFailed,
    _receive,
)

log = logging.getLogger(__name__)


def _serve(address: str, idle_seconds: float, draw_seconds: float, starter: int) -> None:
    """The drawing process: one request at a time until idle, or its starter (the worker of
    pid ``starter``, given by the worker: it may be gone before this process asks) is gone."""
    # Ctrl-C of `flask run`: the starter's exit ends us. TERM (stop(), systemd): exit cleanly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from shop.sharing import ninegrid, poster_spec, posters

    renderers = {
        "poster": (poster_spec.PosterContent, posters.render_poster),
        "nine_qr": (ninegrid.QrTile, ninegrid.render_qr_tile),
    }
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(address)  # a socket left by a process that was killed (we hold the lock)
    except FileNotFoundError:
        pass
    listener.bind(address)
    listener.listen(64)
    own = os.stat(address).st_ino
    watch = _Watchdog(draw_seconds, lambda: _unlink_own(address, own))
    listener.settimeout(1.0)
    sys.stdout.buffer.write(b"ready\n")
    sys.stdout.buffer.flush()
    sys.stdout = sys.stderr  # anything printed goes to the log
    last = time.monotonic()
    try:
        # Checked after every request: steady traffic must not keep an orphan alive.
        while os.getppid() == starter and time.monotonic() - last <= idle_seconds:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                try:
                    _answer(connection, renderers, watch)
                except Exception:  # never ends the process: the next request is answered
                    log.exception("drawing request failed")
            last = time.monotonic()
    finally:
        _unlink_own(address, own)  # first: a worker asking now starts a new process
        listener.close()


def _unlink_own(address: str, inode: int) -> None:
    """Remove the socket file, unless a newer process's socket already replaced it."""
    try:
        if os.stat(address).st_ino == inode:
            os.unlink(address)
    except OSError:
        pass


class _TooLong(BaseException):
    """Raised inside a drawing past its time (BaseException: no library catches it)."""


class _Watchdog:
    """Limits each drawing: SIGALRM raises _TooLong in it after ``seconds``; a drawing stuck in
    a library call that long plus 2 s ends the process (its socket removed first), which the
    next poster replaces."""

    def __init__(self, seconds: float, before_exit) -> None:
        self.seconds, self.before_exit, self.since = seconds, before_exit, None
        signal.signal(signal.SIGALRM, self._alarm)
        threading.Thread(target=self._watch, name="drawing-watchdog", daemon=True).start()

    def run(self, render, content):
        self.since = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            return render(content)
        finally:
            self.since = None
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _alarm(self, *_) -> None:
        if self.since is not None:
            raise _TooLong

    def _watch(self) -> None:
        while True:
            time.sleep(0.25)
            since = self.since
            if since is not None and time.monotonic() - since > self.seconds + 2:
                log.error("a drawing stuck for %.1f s: the drawing process ends", self.seconds + 2)
                self.before_exit()
                os._exit(70)


def _answer(connection: socket.socket, renderers, watch: _Watchdog) -> None:
    if peercred := getattr(socket, "SO_PEERCRED", None):  # Linux; elsewhere the folder
        credentials = connection.getsockopt(socket.SOL_SOCKET, peercred, 12)
        if struct.unpack("3i", credentials)[1] != os.getuid():
            return
    deadline = time.monotonic() + 5
    try:
        connection.settimeout(5)
        if not connection.recv(1, socket.MSG_PEEK):
            return  # closed at once: another worker's probe whether it runs
        (length,) = struct.unpack("!I", _receive(connection, 4, deadline))
        if length > MAX_REQUEST:
            raise ValueError(f"a request of {length} bytes")
        kind, fields = _parsed(_receive(connection, length, deadline))
    except Exception as error:  # malformed, oversized, too slow: this connection only
        log.warning("drawing request not read: %r", error)
        return
    if _abandoned(connection):
        return  # the worker stopped waiting (its deadline): drawing it would only delay others
    try:
        content_type, render = renderers[kind]
        status, answer = _OK, watch.run(render, None if fields is None else content_type(**fields))
        if len(answer) > MAX_ANSWER:
            raise ValueError(f"a drawing of {len(answer)} bytes (at most {MAX_ANSWER})")
    except _TooLong:
        error = DrawingFailed(f"the drawing took longer than {watch.seconds:g} s")
        status, answer = _ERROR, _error_answer(error)
    except Exception as error:  # sent back and raised again in the web worker
        status, answer = _ERROR, _error_answer(error)
    try:
        connection.settimeout(5)
        connection.sendall(_HEADER.pack(status, len(answer)) + answer)
    except OSError as error:  # the worker gave up waiting
        log.warning("drawing not delivered: %r", error)


def _parsed(body: bytes) -> tuple[str, dict | None]:
    """(kind, fields) of a request; ValueError when it is not one."""
    message = json.loads(body.decode())
    if not isinstance(message, dict) or not isinstance(message.get("kind"), str):
        raise ValueError("not a drawing request")
    data = message.get("data")
    if data is None:
        return message["kind"], None
    if not isinstance(data, dict):
        raise ValueError("the request's data is not an object")
    fields = {}
    for name, value in data.items():
        if isinstance(value, dict) and list(value) == ["path"] and isinstance(value["path"], str):
            value = Path(value["path"])
        elif value is not None and type(value) not in (str, int):
            raise ValueError(f"{name}: not a string, integer, path or null")
        fields[name] = value
    return message["kind"], fields


def _abandoned(connection: socket.socket) -> bool:
    """Whether the worker closed the connection (a request has nothing more to read)."""
    try:
        if not select.select([connection], [], [], 0)[0]:
            return False
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _error_answer(error: Exception) -> bytes:
    """A built-in exception by its name; any other as DrawingFailed naming it: the web worker
    never imports a library's own (qrcode's) exception."""
    if type(error).__module__ == "builtins":
        name, message = type(error).__name__, str(error)
    elif isinstance(error, DrawingFailed):
        name, message = "DrawingFailed", str(error)
    else:
        name = "DrawingFailed"
        message = f"{type(error).__module__}.{type(error).__name__}: {error}"
    return json.dumps({"type": name, "message": message}, ensure_ascii=False).encode()


if __name__ == "__main__":
    logging.basicConfig(format="drawing[%(process)d] %(levelname)s %(name)s: %(message)s")
    _serve(
        sys.argv[1],
        float(sys.argv[2]) if len(sys.argv) > 2 else IDLE_SECONDS,
        float(sys.argv[3]) if len(sys.argv) > 3 else DRAW_SECONDS,
        int(sys.argv[4]) if len(sys.argv) > 4 else os.getppid(),
    )
