"""What the app accepts from a URL, a query string or a form before any view reads it.

- ``<int:...>`` in a route matches only ids the database can hold: ASCII digits, 1 to
  ``MAX_ID`` (PostgreSQL's INTEGER; SQLite holds more, but the app never makes more). Anything
  else is no match, so a 404 from the router: ``/p/2147483648``, ``/p/١٢٣``, ``/p/0``.
- ``<name>`` / ``<string:name>`` never match control characters (a slug, a share code or an
  order number never has one).
- Query and form values never carry NUL characters (PostgreSQL refuses them in text; no one
  types them): they are taken out when the request is parsed, and the names of the fields that
  had one are kept in ``request.form.nul_keys`` so a form can say so at the field
  (``shop.web.forms``).
- ``parse_id`` (text) and ``is_id`` (an int) are the same test as the converter, for ids sent
  in form fields and query args.
- ``secrets_equal`` compares a token, signature or MAC from a request in constant time, whatever
  characters it has (``hmac.compare_digest`` raises TypeError on non-ASCII str).
"""

import hmac

from flask import Flask, Request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.routing import IntegerConverter, UnicodeConverter

#: The largest id: PostgreSQL's INTEGER, the type of every primary key.
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:...>``: a row id, ASCII digits only (werkzeug's ``\\d`` also matches "١٢٣"),
    from 1 to ``MAX_ID``; anything else does not match the route (404)."""

    regex = r"[0-9]{1,10}"

    def __init__(self, map, fixed_digits=0, min=1, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class TextConverter(UnicodeConverter):
    """The default path converter, without control characters (C0 and DEL)."""

    def __init__(self, map, minlength=1, maxlength=None, length=None):
        super().__init__(map, minlength=minlength, maxlength=maxlength, length=length)
        self.regex = self.regex.replace("[^/]", "[^/\\x00-\\x1f\\x7f]")


def is_id(value) -> bool:
    """``value`` is an int an id column can hold (a form's ``coerce=int`` lets any through)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def parse_id(raw) -> int | None:
    """``raw`` (a form field or query value) as an id when it is 1 to ``MAX_ID`` written in
    ASCII digits (spaces around allowed); None for anything else."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text or len(text) > 10 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def secrets_equal(expected: str, given) -> bool:
    """``given`` (from a request: any text, or None) equals ``expected``, compared in constant
    time as UTF-8 bytes."""
    given = given if isinstance(given, str) else ""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


class TextParameters(ImmutableMultiDict):
    """Query and form values with NUL characters taken out (in names too). ``nul_keys`` names
    the fields that had one."""

    def __init__(self, mapping=None):
        pairs = MultiDict(mapping).items(multi=True) if mapping is not None else ()
        cleaned, self.nul_keys = [], set()
        for key, value in pairs:
            if isinstance(key, str) and "\x00" in key:
                key = key.replace("\x00", "")
                self.nul_keys.add(key)
            if isinstance(value, str) and "\x00" in value:
                value = value.replace("\x00", "")
                self.nul_keys.add(key)
            cleaned.append((key, value))
        super().__init__(cleaned)


class ShopRequest(Request):
    parameter_storage_class = TextParameters


def init_app(app: Flask) -> None:
    """Install the converters and the request class; before any blueprint adds its rules."""
    app.request_class = ShopRequest
    app.url_map.converters.update(int=IdConverter, default=TextConverter, string=TextConverter)
