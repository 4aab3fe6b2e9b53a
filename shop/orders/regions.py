"""The national administrative divisions (GB/T 2260) the address picker offers, read once from
the vendored ``data/regions.json`` (see data/README.md for its source and licence)."""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "regions.json"


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    parent: str | None

    @property
    def level(self) -> int:
        """1 province, 2 city, 3 district."""
        if self.parent is None:
            return 1
        return 2 if _table()[self.parent].parent is None else 3


@cache
def _table() -> dict[str, Region]:
    """Every division by code, kept for the process's life (a checkout's first use): slotted
    rows, and each parent code the very string its parent's row holds (the JSON gives each
    its own copy), 0.45 MB less than plain rows."""
    payload = json.loads(DATA.read_text(encoding="utf-8"))
    codes = {code: code for code, _name, _parent in payload["regions"]}
    return {
        code: Region(code, name, codes.get(parent, parent) if parent else None)
        for code, name, parent in payload["regions"]
    }


@cache
def _children() -> dict[str | None, tuple[Region, ...]]:
    found: dict[str | None, list[Region]] = {}
    for region in _table().values():
        found.setdefault(region.parent, []).append(region)
    return {parent: tuple(kids) for parent, kids in found.items()}


def get(code: str | None) -> Region | None:
    return _table().get(code or "")


def all_regions() -> list[Region]:
    return list(_table().values())


def provinces() -> tuple[Region, ...]:
    return _children()[None]


def children(code: str | None) -> tuple[Region, ...]:
    """The cities of a province or the districts of a city; () for an unknown code or a place
    with no lower level."""
    if not code:
        return ()
    return _children().get(code, ())


def subtree(province_code: str) -> dict:
    """A province's cities and their districts, compact, for the picker's script:
    ``{"c": [[code, name], ...], "d": {city code: [[code, name], ...]}}``."""
    cities = children(province_code)
    return {
        "c": [[c.code, c.name] for c in cities],
        "d": {c.code: [[d.code, d.name] for d in children(c.code)] for c in cities},
    }


@dataclass(frozen=True)
class Chosen:
    """A checked choice: codes ("" where the level does not exist) and the names as text."""

    province: str
    city: str
    district: str
    text: str  #: "浙江省 杭州市 西湖区"


def check_choice(province: str, city: str, district: str) -> Chosen | str:
    """The picked province, city and district, each the child of the one before and every
    level that exists chosen; or the name of the first field to fix ("province", "city",
    "district")."""
    p = get(province)
    if p is None or p.parent is not None:
        return "province"
    parts = [p.name]
    c = get(city) if children(p.code) else None
    if children(p.code):
        if c is None or c.parent != p.code:
            return "city"
        if c.name != p.name:  # 北京市 东城区, not 北京市 北京市 东城区
            parts.append(c.name)
    d = get(district) if c is not None and children(c.code) else None
    if c is not None and children(c.code):
        if d is None or d.parent != c.code:
            return "district"
        parts.append(d.name)
    return Chosen(p.code, c.code if c else "", d.code if d else "", " ".join(parts))
