"""README.md is the door (short, with the two commands) and every link in it and in docs/ leads
somewhere that exists."""

import re

from shop import PROJECT_ROOT

PAGES = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_readme_is_a_door_with_the_two_commands():
    text = (PROJECT_ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    assert "`make run`" in text and "`make test`" in text
    assert "分享小店" in text and "Fenxiang" in text


def test_every_relative_link_in_the_docs_leads_to_a_file():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(PROJECT_ROOT)}: {target}")
    assert not broken, broken


def test_every_docs_page_is_on_the_map():
    listed = set(LINK.findall((PROJECT_ROOT / "docs" / "README.md").read_text()))
    pages = {p.name for p in (PROJECT_ROOT / "docs").glob("*.md")} - {"README.md"}
    assert pages <= listed, pages - listed
