"""The project's form base (shop.web.forms): its ``hidden_tag`` writes what Flask-WTF's does,
and WTForms' own messages come in the request's language from catalogues read once."""

from flask_wtf import FlaskForm as FlaskWTFForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired

from shop.web import forms
from shop.web.forms import FlaskForm


class _Form(FlaskForm):
    key = HiddenField()
    ref = HiddenField(render_kw={"data-x": "1"})
    off = HiddenField(render_kw={"disabled": True})
    name = StringField(validators=[DataRequired()])


def test_hidden_tag_is_flask_wtf_s_markup(app):
    with app.test_request_context("/"):
        form = _Form()
        form.key.data = "a\"<&>'b"
        form.ref.data = "x&y"
        assert form.hidden_tag() == FlaskWTFForm.hidden_tag(form)
        assert 'value="a&#34;&lt;&amp;&gt;&#39;b"' in form.hidden_tag()
        assert 'data-x="1"' in form.hidden_tag() and "disabled" in form.hidden_tag()
        for fields in (("key", "name", "nope"), (form.ref, form.off), ("csrf_token",)):
            assert form.hidden_tag(*fields) == FlaskWTFForm.hidden_tag(form, *fields)
    app.config["WTF_CSRF_ENABLED"] = True
    with app.test_request_context("/"):
        form = _Form()
        assert 'name="csrf_token"' in form.hidden_tag()
        assert form.hidden_tag() == FlaskWTFForm.hidden_tag(form)


def test_wtforms_messages_follow_the_request_s_language(app):
    expected = (("zh_Hans_CN", "该字段是必填字段。"), ("en", "This field is required."))
    for language, message in expected:
        headers = {"Accept-Language": "en" if language == "en" else "zh-CN"}
        with app.test_request_context("/", method="POST", data={"name": ""}, headers=headers):
            form = _Form()
            assert not form.validate()
            assert form.name.errors == [message], language
    assert {"zh_Hans_CN", "en"} <= set(forms._MESSAGES._by_locale)
