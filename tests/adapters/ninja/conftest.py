"""Django for the Ninja tests: minimal settings when nothing configured Django yet.

Whatever configured Django first (this file or tests/adapters/django), every test here runs
with the Ninja URLconf, no middleware, and the shared test issuer (``override_settings``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from bearerguard.testing import Issuer

if importlib.util.find_spec("django") is None or importlib.util.find_spec("ninja") is None:
    collect_ignore_glob = ["*.py"]
else:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            SECRET_KEY="tests-not-secret",
            DEBUG=False,
            ALLOWED_HOSTS=["testserver"],
            USE_TZ=True,
            ROOT_URLCONF="tests.adapters.ninja.urls",
            INSTALLED_APPS=["bearerguard.adapters.django"],
            MIDDLEWARE=[],
        )
        django.setup()


@pytest.fixture(autouse=True)
def _ninja_settings(issuer: Issuer) -> Iterator[None]:
    from django.test.utils import override_settings

    with override_settings(
        ROOT_URLCONF="tests.adapters.ninja.urls",
        MIDDLEWARE=[],
        BEARERGUARD_ISSUER=issuer.issuer,
        BEARERGUARD_AUDIENCE=issuer.audience,
        BEARERGUARD_JWKS_URI=issuer.jwks_uri,
    ):
        yield
