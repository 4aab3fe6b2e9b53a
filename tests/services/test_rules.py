import pytest

from shop.catalog.catalog import rebate_cents
from shop.catalog.merchants import normalize_licence_no, uscc_check_char
from shop.platform.errors import ValidationError
from shop.web.common import money, safe_next


@pytest.mark.parametrize(
    "code", ["91350100M000100Y43", "91110000600037341L", " 91110000600037341l "]
)
def test_real_credit_codes_pass(code):
    assert normalize_licence_no(code) == code.strip().upper()


@pytest.mark.parametrize(
    "code",
    ["91350100M000100Y44", "9135010OM000100Y43", "91350100M000100Y4", "", "ABCDEFGHJKLMNPQRTU"],
)
def test_bad_credit_codes_fail(code):
    with pytest.raises(ValidationError):
        normalize_licence_no(code)


def test_check_char_of_every_single_digit_change_differs():
    base = "91350100M000100Y4"
    good = uscc_check_char(base)
    changed = base[:5] + ("1" if base[5] != "1" else "2") + base[6:]
    assert uscc_check_char(changed) != good


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "0.00"),
        (1, "0.01"),
        (99, "0.99"),
        (100, "1.00"),
        (12900, "129.00"),
        (-120, "-1.20"),
        (123456789, "1234567.89"),
    ],
)
def test_money_formats_fen_as_yuan(cents, text):
    assert money(cents) == text


@pytest.mark.parametrize(
    ("price", "bps", "qty", "expected"),
    [(9900, 1000, 1, 990), (999, 1500, 1, 149), (1, 5000, 1, 0), (3333, 333, 3, 332)],
)
def test_rebate_rounds_down_to_the_fen(price, bps, qty, expected):
    assert rebate_cents(price, bps, qty) == expected


@pytest.mark.parametrize("target", ["/", "/me", "/p/3?x=1#a", "/auth/account"])
def test_safe_next_keeps_local_paths(target):
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "https://evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "evil.com",
        "/\tx",
        "javascript:alert(1)",
        "",
        None,
        "/x\r\nLocation: //e",
    ],
)
def test_safe_next_refuses_offsite_or_strange_targets(target):
    assert safe_next(target) is None
