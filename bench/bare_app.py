"""A truly bare Flask app: the baseline of bench/bench_http.py (never deployed).

No extensions, no request hooks, no database, no session use, no config beyond Flask's
defaults: what Flask itself costs per request under the same gunicorn.conf.py. Its two routes
stand for the two kinds of answer the shop gives on a share link's path: a redirect and a
rendered page.
"""

import os

from flask import Flask, redirect, render_template

app = Flask(__name__)
TARGET = os.environ.get("BENCH_BARE_TARGET", "/s/bench/p/1?ref=AAAAAAAA")
PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }}</title>
</head><body><main><h1>{{ title }}</h1><p>{{ text }}</p></main></body></html>"""
#: Compiled once, as a template file would be (render_template_string compiles every call).
TEMPLATE = app.jinja_env.from_string(PAGE)


@app.get("/redirect")
def bare_redirect():
    return redirect(TARGET, code=303)


@app.get("/page")
def bare_page():
    return render_template(TEMPLATE, title="bench", text="bench")


@app.get("/_bench/template")
def ready():
    """What bench.common.start_server asks to know the server is up."""
    return "ok"
