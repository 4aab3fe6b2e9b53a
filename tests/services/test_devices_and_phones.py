"""The device family read from a User-Agent, and mobile numbers as people type them."""

import pytest

from shop.accounts.devices import device_family
from shop.accounts.phones import mask, normalize_phone
from shop.platform.errors import ValidationError


@pytest.mark.parametrize(
    ("user_agent", "family"),
    [
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
            "like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2f) NetType/WIFI",
            "iPhone|wechat",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36",
            "Android|Chrome",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Windows|Edge",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.5 Safari/605.1.15",
            "Mac|Safari",
        ),
        (
            "Mozilla/5.0 (Linux; Android 12; HarmonyOS; ALN-AL00) AppleWebKit/537.36 (KHTML, "
            "like Gecko) Chrome/99.0 HuaweiBrowser/14.0 Mobile Safari/537.36",
            "HarmonyOS|Huawei Browser",
        ),
        ("curl/8.5.0", None),
        ("", None),
    ],
)
def test_device_family_of_common_user_agents(user_agent, family):
    assert device_family(user_agent) == family


@pytest.mark.parametrize(
    "typed",
    [
        "13800138000",
        "+86 138 0013 8000",
        "+86-138-0013-8000",
        "0086 13800138000",
        "8613800138000",
        "(138) 0013-8000",
        "１３８００１３８０００",
        "＋８６　１３８００１３８０００",
    ],
)
def test_mobile_numbers_written_many_ways_are_one_number(typed):
    assert normalize_phone(typed) == "13800138000"


@pytest.mark.parametrize(
    "typed",
    [
        "010-12345678",
        "0571-88886666",
        "62345678",
        "1380013",
        "123",
        "12800138000",
        "+44 7700 900123",
        "138001380001",
        "abc",
    ],
)
def test_landlines_short_and_other_numbers_are_refused_on_the_field(typed):
    with pytest.raises(ValidationError) as refused:
        normalize_phone(typed, field="phone")
    assert refused.value.field == "phone"


def test_mask_hides_the_middle_four_digits():
    assert mask("13800138000") == "138****8000"
