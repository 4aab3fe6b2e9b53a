"""The vendored administrative divisions (shop/orders/data/regions.json) and the picker's
rules for a choice."""

import json

from shop.orders import regions


def test_region_data_has_the_shape_the_picker_needs():
    table = {r.code: r for r in regions.all_regions()}
    assert len(table) > 3000
    for region in table.values():
        assert len(region.code) == 6 and region.code.isdigit(), region
        assert region.name and region.name != "市辖区", region
        if region.parent is None:
            assert region.code.endswith("0000")
            continue
        parent = table[region.parent]  # every parent exists ...
        assert parent.parent is None or table[parent.parent].parent is None  # ... at most 3 deep
        assert region.code[:2] == parent.code[:2]
    provinces = regions.provinces()
    assert len(provinces) == 34  # 23 provinces, 5 regions, 4 municipalities, 2 SARs
    names = {p.name for p in provinces}
    assert {"北京市", "广东省", "新疆维吾尔自治区", "香港特别行政区", "台湾省"} <= names


def test_well_known_codes():
    assert regions.get("110101").name == "东城区"
    assert regions.get("110101").parent == "110100"
    assert regions.get("110100").name == "北京市"  # the municipality's city level
    assert regions.get("440305").name == "南山区"
    assert regions.get("440305").parent == "440300" and regions.get("440300").name == "深圳市"
    assert regions.get("330106").name == "西湖区"
    assert regions.get("110101").level == 3 and regions.get("440300").level == 2
    assert regions.get("999999") is None


def test_a_choice_must_follow_the_tree():
    chosen = regions.check_choice("440000", "440300", "440305")
    assert chosen.text == "广东省 深圳市 南山区" and chosen.district == "440305"
    assert regions.check_choice("110000", "110100", "110101").text == "北京市 东城区"
    # A city with no districts, a region with no cities: nothing more to choose.
    dongguan = regions.check_choice("440000", "441900", "")
    assert dongguan.text == "广东省 东莞市" and dongguan.district == ""
    assert regions.check_choice("810000", "", "").text == "香港特别行政区"
    assert regions.check_choice("", "", "") == "province"
    assert regions.check_choice("440300", "", "") == "province"  # a city is no province
    assert regions.check_choice("440000", "330100", "330106") == "city"
    assert regions.check_choice("440000", "440300", "330106") == "district"
    assert regions.check_choice("440000", "440300", "") == "district"


def test_a_province_subtree_is_small():
    tree = regions.subtree("330000")
    assert ["330100", "杭州市"] in tree["c"] and ["330106", "西湖区"] in tree["d"]["330100"]
    largest = max(len(json.dumps(regions.subtree(p.code))) for p in regions.provinces())
    assert largest < 12_000
