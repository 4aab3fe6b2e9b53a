"""The kept-page thin path's signing (shop.web.storefront.keptpath._Signing) writes what
itsdangerous writes: the same payload, compressed exactly when itsdangerous compresses it, and
a signature the app's own serializers accept."""

import hashlib
import random
import zlib

from itsdangerous import URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode

from shop.web.storefront.keptpath import SMALL_WINDOW, _Signing, _small_compress


def _objects():
    rnd = random.Random(7)
    yield {"csrf_token": hashlib.sha1(rnd.randbytes(64)).hexdigest()}
    yield {"csrf_token": "0" * 40}  # compressible: itsdangerous keeps zlib's output
    yield {"csrf_token": "ab" * 200}  # past the small window
    yield hashlib.sha1(rnd.randbytes(64)).hexdigest()
    yield "0" * 40
    for _ in range(300):
        yield "".join(rnd.choice("0123456789abcdef") for _ in range(rnd.randrange(1, 200)))


def test_payloads_and_signatures_are_itsdangerous_own(app):
    session = app.session_interface.get_signing_serializer(app)
    token = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token")
    compressed = 0
    for serializer in (session, token):
        signing = _Signing(serializer)
        assert signing.own_payload and signing.mac is not None
        for obj in _objects():
            payload = signing.payload(obj)
            assert payload == serializer.dump_payload(obj)
            compressed += payload.startswith(b".")
            assert serializer.loads(signing.dumps(obj)) == obj
    assert compressed >= 4  # both rules were taken


def test_the_small_compressor_decides_as_zlib_compress_below_its_window(app):
    """Whatever the payload, it is compressed exactly when itsdangerous compresses it, for
    every input tried (seeded: the same inputs every run), among them one on which the small
    compressor's deflate is not zlib's (a hash collision in its small table)."""
    signing = _Signing(app.session_interface.get_signing_serializer(app))
    rnd = random.Random(11)
    differs = b"aAAAAAAAAaaAAaAaaaAAAAAAaAAAaaaAAAaAaAAaaAAAaAAaAAAaaaaaaaaaaAaAAAAAAAAAAaaa"
    assert _small_compress(differs)[2:] != zlib.compress(differs)[2:]
    inputs = [differs]
    for n in range(1, SMALL_WINDOW):
        inputs += [
            rnd.randbytes(n),
            bytes(rnd.choice(b"ab") for _ in range(n)),
            bytes(rnd.choice(b"aA") for _ in range(n)),
            bytes(rnd.choice(b'0123456789abcdef{}":_') for _ in range(n)),
        ]
    for json in inputs:
        compressed = zlib.compress(json)
        if len(compressed) < len(json) - 1:  # URLSafeSerializerMixin.dump_payload's rule
            expected = b"." + base64_encode(compressed)
        else:
            expected = base64_encode(json)
        assert signing.payload(None, json) == expected, json


def test_a_new_token_s_session_is_written_as_the_session_serializer_writes_it(app):
    from shop.web.storefront.keptpath import KeptPagePath

    thin = app.wsgi_app
    while not isinstance(thin, KeptPagePath):
        thin = thin.inner
    assert thin.token_session is not None
    session = app.session_interface.get_signing_serializer(app)
    rnd = random.Random(5)
    for _ in range(50):
        raw = hashlib.sha1(rnd.randbytes(64)).hexdigest()
        cookie = thin._session_cookie({thin.token_field: raw}, secure=False)
        value = cookie.split(";")[0].split("=", 1)[1]
        assert session.loads(value) == {thin.token_field: raw}
        given = thin.token_session % raw.encode()
        made = thin.session_signing.payload({thin.token_field: raw}, given)
        assert made == session.dump_payload({thin.token_field: raw})


def test_a_token_is_written_as_the_token_serializer_writes_it(app):
    from shop.web.storefront.keptpath import KeptPagePath

    thin = app.wsgi_app
    while not isinstance(thin, KeptPagePath):
        thin = thin.inner
    assert thin.token_json
    rnd = random.Random(3)
    for _ in range(50):
        raw = hashlib.sha1(rnd.randbytes(64)).hexdigest()
        made = thin.token_signing.payload(raw, b'"' + raw.encode() + b'"')
        assert made == thin.token_serializer.dump_payload(raw)
        assert thin.token_serializer.loads(thin.token_signing.dumps(raw)) == raw
