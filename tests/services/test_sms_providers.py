"""The SMS adapters against local fakes of the gateways' HTTP APIs: the fake recomputes the
signature with the test secret, and answers as the documentation shows (success, a business
error, a signature error); a slow gateway and a closed port fail the send too."""

import json
import socket

import pytest

from shop.accounts import sms
from shop.accounts.sms.aliyun import AliyunProvider
from shop.accounts.sms.tencent import TencentProvider
from tests.sms_fakes import fake_gateway


def provider(fake, **overrides):
    return sms.provider_for({**fake.settings(), **overrides})


@pytest.mark.parametrize("kind", ["aliyun", "tencent"])
def test_a_signed_request_is_accepted_and_carries_the_code(kind):
    with fake_gateway(kind) as fake:
        provider(fake).send_code("13800138000", "042917", "signin")
    (seen,) = fake.received
    assert seen["signature_ok"]
    if kind == "aliyun":
        params = seen["params"]
        assert params["Action"] == "SendSms" and params["Version"] == "2017-05-25"
        assert params["PhoneNumbers"] == "13800138000"
        assert params["SignName"] == "分享小店" and params["TemplateCode"] == "SMS_154950909"
        assert params["TemplateParam"] == '{"code":"042917"}'
    else:
        payload, headers = seen["payload"], seen["headers"]
        assert headers["x-tc-action"] == "SendSms" and headers["x-tc-version"] == "2021-01-11"
        assert payload["PhoneNumberSet"] == ["+8613800138000"]
        assert payload["TemplateParamSet"] == ["042917"]
        assert payload["SmsSdkAppId"] == "1400006666" and payload["TemplateId"] == "449739"


@pytest.mark.parametrize("kind", ["aliyun", "tencent"])
def test_a_wrong_secret_is_refused_by_the_signature_check(kind):
    wrong = (
        {"ALIYUN_SMS_ACCESS_KEY_SECRET": "not-the-secret"}
        if kind == "aliyun"
        else {"TENCENT_SMS_SECRET_KEY": "not-the-secret"}
    )
    with fake_gateway(kind) as fake, pytest.raises(sms.SmsError, match="Signature"):
        provider(fake, **wrong).send_code("13800138000", "042917", "signin")
    assert fake.received[0]["signature_ok"] is False


@pytest.mark.parametrize("kind", ["aliyun", "tencent"])
def test_an_error_answer_is_a_failed_send(kind):
    with fake_gateway(kind) as fake:
        fake.mode = "error"
        with pytest.raises(sms.SmsError, match="Limit|LIMIT"):
            provider(fake).send_code("13800138000", "042917", "signin")
    assert fake.received[0]["signature_ok"]


@pytest.mark.parametrize("kind", ["aliyun", "tencent"])
def test_a_gateway_that_does_not_answer_in_time_is_a_failed_send(kind):
    with fake_gateway(kind) as fake:
        fake.mode = "slow"
        with pytest.raises(sms.SmsError, match="request failed"):
            provider(fake, SMS_TIMEOUT_SECONDS=0.3).send_code("13800138000", "1", "signin")


@pytest.mark.parametrize("kind", ["aliyun", "tencent"])
def test_a_refused_connection_is_a_failed_send(kind):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    with fake_gateway(kind) as fake:
        settings = fake.settings()
    key = "ALIYUN_SMS_ENDPOINT" if kind == "aliyun" else "TENCENT_SMS_ENDPOINT"
    settings[key] = f"http://127.0.0.1:{port}/"
    with pytest.raises(sms.SmsError, match="request failed"):
        sms.provider_for(settings).send_code("13800138000", "042917", "signin")


def test_templates_per_purpose_fall_back_to_the_common_one():
    with fake_gateway("aliyun") as fake:
        settings = {**fake.settings(), "ALIYUN_SMS_TEMPLATE_RESET": "SMS_RESET_1"}
    aliyun = AliyunProvider.from_config(settings)
    assert aliyun.templates == {
        "signin": "SMS_154950909",
        "reset": "SMS_RESET_1",
        "change_phone": "SMS_154950909",
        "shipped": None,  # a notice never falls back to the code's template
    }
    with fake_gateway("tencent") as fake:
        tencent = TencentProvider.from_config(fake.settings())
    assert tencent.templates["change_phone"] == "449739"
    assert tencent.templates["shipped"] is None


@pytest.mark.parametrize("kind", ["aliyun", "tencent"])
def test_a_shipping_notice_uses_its_own_template_and_values(kind):
    template = {"aliyun": "SMS_SHIPPED_1", "tencent": "1600001"}[kind]
    values = {"order": "261206000001", "carrier": "顺丰速运", "number": "SF1234567890"}
    with fake_gateway(kind) as fake:
        settings = {**fake.settings(), f"{kind.upper()}_SMS_TEMPLATE_SHIPPED": template}
        assert sms.notices_on(settings) and not sms.notices_on(fake.settings())
        sms.provider_for(settings).send_notice("13800138000", "shipped", values)
        with pytest.raises(sms.SmsError, match="no template"):
            sms.provider_for(fake.settings()).send_notice("13800138000", "shipped", values)
    (seen,) = fake.received  # the refused one was never sent
    assert seen["signature_ok"]
    if kind == "aliyun":
        assert seen["params"]["TemplateCode"] == template
        assert json.loads(seen["params"]["TemplateParam"]) == values
    else:
        assert seen["payload"]["TemplateId"] == template
        assert seen["payload"]["TemplateParamSet"] == list(values.values())


def test_no_provider_when_off_and_a_clear_error_for_an_unknown_name():
    assert sms.provider_for({"SMS_PROVIDER": ""}) is None
    assert sms.provider_for({"SMS_PROVIDER": "console"}).name == "console"
    with pytest.raises(ValueError, match="SMS_PROVIDER"):
        sms.provider_for({"SMS_PROVIDER": "carrier-pigeon"})
