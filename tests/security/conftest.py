"""Fixtures of the attack tests (tests/security/helpers.py has the helpers); the browser test
serves the app with tests/browser's live server."""

from tests.browser.conftest import live_server  # noqa: F401  (a fixture)
from tests.security.helpers import secure_app  # noqa: F401  (a fixture)
