"""gunicorn.conf.py's ``post_request``: every ``_TRIM_EVERY`` requests a worker calls glibc's
``malloc_trim(0)``, giving the heap's free pages back (bench/README.md, worker memory)."""

import ctypes
import runpy

from shop import PROJECT_ROOT


def _conf() -> dict:
    return runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))


def test_a_worker_trims_its_heap_every_so_many_requests():
    conf = _conf()
    post_request = conf["post_request"]
    calls = []
    post_request.__globals__["_malloc_trim"] = calls.append  # counts the calls, pad 0
    every = conf["_TRIM_EVERY"]
    for _ in range(every * 2 + every // 2):
        post_request(None, None, {}, None)
    assert calls == [0, 0]


def test_the_trim_is_glibcs_and_gives_memory_back():
    conf = _conf()
    post_request = conf["post_request"]
    globals_ = post_request.__globals__
    globals_["_served"] = globals_["_TRIM_EVERY"] - 1
    post_request(None, None, {}, None)  # the real one: looked up once, then called
    trim = globals_["_malloc_trim"]
    assert trim is False or isinstance(trim, ctypes._CFuncPtr)
    if trim:
        assert trim(0) in (0, 1)  # 1 when memory was released
