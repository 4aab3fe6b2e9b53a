"""The shop's WSGI app plus two baseline routes, for bench_http.py only (never deployed).

The baselines live on the same app object, so they pass through the same before/after request
hooks (session, locale, security headers, SQLite write lock for unsafe methods) as the routes
measured against them; only the work of the route itself differs.
"""

import os

from flask import redirect, render_template

from shop import create_app

app = create_app()
BARE_TARGET = os.environ.get("BENCH_BARE_TARGET", "/s/bench/p/1?ref=AAAAAAAA")
#: Compiled once, as a template file is (render_template_string compiles on every call).
PAGE = app.jinja_env.from_string(
    '{% extends "base.html" %}{% block content %}<p>{{ text }}</p>{% endblock %}'
)


@app.get("/_bench/redirect")
def bench_bare_redirect():
    """What `/r/<code>` would cost with no lookup, no click and no cookie."""
    return redirect(BARE_TARGET, code=303)


@app.get("/_bench/template")
def bench_bare_template():
    """A page through the same base layout as the product page, with no database work."""
    return render_template(PAGE, text="bench")
