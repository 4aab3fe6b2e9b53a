"""Kept fragments: parts of a template rendered once per worker and reused, for the site
layout's header, footer and tab bar (every page draws them; about a third of a signed-in page's
render was their url_for and gettext calls).

    {% kept current_locale, request.script_root, cart_count() %}...{% endkept %}

The body is rendered the first time a key is seen and its HTML kept with the template, the
place of the tag and the key's values; later renders with the same values output the kept HTML
without running the body. So the key must name everything the body reads that can differ
between requests or users: the locale (its strings), ``request.script_root`` (its URLs), a
count, the user's name, the current endpoint. What is the same for every request of the app
(its url map, its settings, the translation catalogues, the static files' versions) is not part
of the key: the cache belongs to the app's Jinja environment and lives as long as the process.
Nothing from the database is kept but values that are in the key (a name, a count), so no
change stamp is needed: a changed name or count is another key.

Per-request parts (the CSRF token, the current URL, flashed messages) stay outside the tags.
Off under the debug server or with templates reloaded on change (a kept fragment would outlive
the template edited), and with LAYOUT_FRAGMENT_CACHE off (tests compare both).
"""

import threading

from jinja2 import nodes
from jinja2.ext import Extension

#: Fragments kept per environment at most; when full, it starts again from empty (a key holds
#: a user's name and counts, so their number grows with the users seen).
MAX_FRAGMENTS = 2048


class FragmentStore:
    def __init__(self, limit: int = MAX_FRAGMENTS):
        self.on = True
        self.limit = limit
        self._kept: dict[tuple, str] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple):
        return self._kept.get(key)

    def put(self, key: tuple, value) -> None:
        with self._lock:
            if len(self._kept) >= self.limit:
                self._kept.clear()
            self._kept[key] = value

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)


class KeptFragments(Extension):
    """The ``{% kept key, ... %}...{% endkept %}`` tag (see the module's docstring)."""

    tags = {"kept"}

    def __init__(self, environment):
        super().__init__(environment)
        environment.extend(kept_fragments=FragmentStore())

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        key = [parser.parse_expression()]
        while parser.stream.skip_if("comma"):
            key.append(parser.parse_expression())
        body = parser.parse_statements(("name:endkept",), drop_needle=True)
        # The template and the line tell apart two tags with the same key values.
        place = nodes.Const((parser.name, lineno))
        call = self.call_method("_kept", [place, nodes.Tuple(key, "load")])
        return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _kept(self, place, key, caller):
        store = self.environment.kept_fragments
        if not store.on or self.environment.auto_reload:  # e.g. debug turned on after start
            return caller()
        full = (place, key)
        found = store.get(full)
        if found is None:
            found = caller()
            store.put(full, found)
        return found


def init_app(app) -> None:
    """Add the tag to the app's templates; the store is on unless the app reloads templates."""
    app.jinja_env.add_extension(KeptFragments)
    app.jinja_env.kept_fragments.on = bool(
        app.config.get("LAYOUT_FRAGMENT_CACHE", True)
        and not app.debug
        and not app.config.get("TEMPLATES_AUTO_RELOAD")
    )
