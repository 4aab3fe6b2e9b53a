"""Regenerate shop/orders/data/regions.json, the national administrative divisions (GB/T 2260
codes) the address picker offers, from the ``cpca`` package's ``resources/adcodes.csv``.

    python scripts/build_regions.py                 # reads an installed cpca
    python scripts/build_regions.py path/to/cpca-0.5.5-py3-none-any.whl

cpca (https://github.com/DQinYuan/chinese_province_city_area_mapper, MIT licence) is not a
dependency of the shop: fetch its wheel once (``pip download --no-deps cpca==0.5.5``) and pass
it here, or install it in a scratch environment. The shop and its tests only read the JSON.

What the script changes from the source (see shop/orders/data/README.md):
- codes cut to their 6 digits (the source pads them to 12);
- the placeholder districts named 市辖区 (``xxxx01`` under a prefecture-level city) dropped;
- the city level of the four municipalities, named 市辖区 in the source, named after the
  municipality (北京市 / 北京市 / 东城区, as the delivery apps show it).
"""

import csv
import io
import json
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "shop" / "orders" / "data" / "regions.json"
SOURCE = "cpca 0.5.5 resources/adcodes.csv (MIT licence)"


def read_source(argv: list[str]) -> str:
    if argv:
        with zipfile.ZipFile(argv[0]) as wheel:
            return wheel.read("cpca/resources/adcodes.csv").decode("utf-8")
    from importlib.resources import files  # an installed cpca

    return (files("cpca") / "resources" / "adcodes.csv").read_text(encoding="utf-8")


def parent_of(code: str, names: dict[str, str]) -> str | None:
    if code.endswith("0000"):
        return None
    if code.endswith("00") or code[:4] + "00" not in names:
        return code[:2] + "0000"
    return code[:4] + "00"


def build(text: str) -> list[list]:
    names = {row["adcode"][:6]: row["name"].strip() for row in csv.DictReader(io.StringIO(text))}
    regions = []
    for code in sorted(names):
        name = names[code]
        parent = parent_of(code, names)
        if name == "市辖区" and parent is not None and not parent.endswith("0000"):
            continue  # a placeholder district, not a place
        if name == "市辖区":
            name = names[parent]  # 北京市 / 北京市 / 东城区
        regions.append([code, name, parent])
    return regions


def main(argv: list[str]) -> None:
    regions = build(read_source(argv))
    payload = {"source": SOURCE, "fields": ["code", "name", "parent"], "regions": regions}
    OUT.write_text(
        json.dumps(payload, ensure_ascii=False, separators=(",", ":")).replace("],[", "],\n["),
        encoding="utf-8",
    )
    print(f"{len(regions)} regions written to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
