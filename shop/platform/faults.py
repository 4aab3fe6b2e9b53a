"""Named fault points for crash tests (RELIABILITY.md, "How to test it here").

``hit("place_order.after_stock")`` ends the process on the spot, as a power cut or an OOM kill
would, when the process was started with ``SHOP_FAULT`` naming that point (several names may be
given, comma-separated). Without the variable every ``hit`` is one lookup in an empty set.
The variable is read once, at import, so no request, form or setting changed at run time can arm
a fault: only whoever starts the process can.
"""

import os

#: The exit status of a process ended by a fault point. Not 3 or 4: gunicorn's master stops
#: altogether when a worker exits with those (boot or app-load failure) instead of replacing it.
EXIT_CODE = 97

_ARMED = frozenset(name.strip() for name in os.environ.get("SHOP_FAULT", "").split(",")) - {""}


def hit(name: str) -> None:
    """End the process at once (no cleanup, no commit, no rollback) if ``name`` is armed."""
    if name in _ARMED:
        os._exit(EXIT_CODE)
