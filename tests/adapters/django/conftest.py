"""Django for the adapter tests: settings from ``settings.py``, the issuer from ``issuer``.

``django.setup()`` runs at import (no pytest-django). A session fixture points
``BEARERGUARD_ISSUER``/``BEARERGUARD_JWKS_URI`` at the shared test issuer through
``override_settings``, which also proves the verifier is rebuilt on ``setting_changed``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from bearerguard.testing import Issuer

if importlib.util.find_spec("django") is None or importlib.util.find_spec("rest_framework") is None:
    collect_ignore_glob = ["*.py"]
else:
    import django
    from django.conf import settings

    from tests.adapters.django import settings as test_settings

    if not settings.configured:
        values = {k: getattr(test_settings, k) for k in dir(test_settings) if k.isupper()}
        settings.configure(**values)
        django.setup()


@pytest.fixture(scope="session", autouse=True)
def _bearerguard_settings(issuer: Issuer) -> Iterator[None]:
    from django.test.utils import override_settings

    with override_settings(
        BEARERGUARD_ISSUER=issuer.issuer,
        BEARERGUARD_AUDIENCE=issuer.audience,
        BEARERGUARD_JWKS_URI=issuer.jwks_uri,
    ):
        yield


@pytest.fixture(scope="session")
def django_db() -> Iterator[None]:
    """Test databases (in-memory SQLite) with the auth and session tables."""
    from django.test.utils import (
        setup_databases,
        setup_test_environment,
        teardown_databases,
        teardown_test_environment,
    )

    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False)
    try:
        yield
    finally:
        teardown_databases(old, verbosity=0)
        teardown_test_environment()
