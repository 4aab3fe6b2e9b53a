"""Every visible string is translatable, and both catalogues are complete and current."""

import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from shop import PROJECT_ROOT

TRANSLATIONS = PROJECT_ROOT / "shop" / "translations"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
METHODS = [("shop/**.py", "python"), ("templates/**.html", "jinja2")]


def extracted_ids() -> set[str]:
    ids = set()

    # Babel skips folders starting with "_" by default; templates/_macros must be read too.
    def visible_dirs(path: str) -> bool:
        return not Path(path).name.startswith(".")

    for _file, _line, message, _comments, _context in extract_from_dir(
        str(PROJECT_ROOT), METHODS, keywords=KEYWORDS, directory_filter=visible_dirs
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def catalogue(locale: str):
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


@pytest.fixture(scope="module")
def source_ids():
    ids = extracted_ids()
    assert len(ids) > 50
    return ids


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_catalogue_knows_every_message(source_ids, locale):
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in catalogue(locale) if m.id}
    missing = sorted(source_ids - known)
    assert not missing, f"run `make messages` and translate: {missing[:10]}"


def test_every_chinese_message_is_translated(source_ids):
    untranslated = []
    for message in catalogue("zh_Hans_CN"):
        if not message.id:
            continue
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        if "fuzzy" in message.flags or not all(strings):
            untranslated.append(message.id)
    assert not untranslated, untranslated[:10]


def test_placeholders_survive_translation():
    for message in catalogue("zh_Hans_CN"):
        if not message.id or not isinstance(message.id, str):
            continue
        wanted = sorted(re.findall(r"%\(\w+\)[sd]", message.id))
        assert sorted(re.findall(r"%\(\w+\)[sd]", message.string)) == wanted, message.id


# --- templates: no visible text outside gettext -------------------------------------------

JINJA = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", re.S)
VISIBLE_ATTRIBUTES = {"placeholder", "title", "alt", "aria-label", "content", "value"}
# Attribute values that are code, not words (e.g. <meta name="viewport" content=...>).
ALLOWED = {"width=device-width, initial-scale=1, viewport-fit=cover", "#d9001b", "utf-8"}


def has_words(text: str) -> bool:
    return any(unicodedata.category(ch).startswith("L") for ch in text)


class TextFinder(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1
        # A hidden input's, a radio's, a checkbox's or a button's value is form data, never shown.
        hidden = tag == "button" or (
            tag == "input" and any(("type", t) in attrs for t in ("hidden", "radio", "checkbox"))
        )
        for name, value in attrs:
            if hidden and name == "value":
                continue
            if name in VISIBLE_ATTRIBUTES and value and value.strip() not in ALLOWED:
                if has_words(value):
                    self.found.append(f'{tag}[{name}="{value}"]')

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and has_words(data):
            self.found.append(data.strip())


def untranslated_text(source: str) -> list[str]:
    finder = TextFinder()
    finder.feed(JINJA.sub(" ", source))
    return finder.found


@pytest.mark.parametrize(
    "path",
    sorted((PROJECT_ROOT / "templates").rglob("*.html")),
    ids=lambda p: str(p.relative_to(PROJECT_ROOT / "templates")),
)
def test_template_has_no_text_outside_gettext(path: Path):
    assert untranslated_text(path.read_text()) == []


def test_the_scanner_catches_plain_text():
    assert untranslated_text("<p>Hello</p>") == ["Hello"]
    assert untranslated_text("<p>你好</p>") == ["你好"]
    assert untranslated_text('<input placeholder="Name">') == ['input[placeholder="Name"]']
    assert untranslated_text('<p>{{ _("Hello") }} ¥ 12</p>') == []
