"""bearerguard.E006 (BearerAuthMiddleware missing) and projects that authenticate otherwise.

A Django Ninja project authenticates with ``BearerAuth`` on its operations, a DRF project with
``BearerTokenAuthentication`` on its views: neither needs the middleware, and the check must
not ask for it. A project whose routes check no token is still told.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ninja")

from django.test.utils import override_settings
from django.urls import include, path
from ninja import NinjaAPI

from bearerguard.adapters.django.checks import check_middleware
from bearerguard.adapters.ninja import BearerAuth

E006 = "bearerguard.E006"
E006_MSG = "bearerguard is in INSTALLED_APPS but BearerAuthMiddleware is not in MIDDLEWARE."
HERE = __name__
ROOT = Path(__file__).resolve().parents[3]

# A Ninja API with no bearer auth at all, and one that uses BearerAuth on one operation only,
# mounted under an include() (the check walks nested URLconfs).
plain = NinjaAPI(urls_namespace="bearerguard-checks-plain")
guarded = NinjaAPI(urls_namespace="bearerguard-checks-guarded")


@plain.get("/open")
def open_route(request: object) -> dict[str, str]:
    return {}


@guarded.get("/open")
def guarded_open(request: object) -> dict[str, str]:
    return {}


@guarded.get("/private", auth=BearerAuth("read:messages"))
def guarded_private(request: object) -> dict[str, str]:
    return {}


class PlainUrls:
    urlpatterns = [path("api/", plain.urls)]


class GuardedUrls:
    urlpatterns = [path("v1/", include([path("api/", guarded.urls)]))]


def _check(urlconf: object, **settings: object) -> list[object]:
    from django.urls import clear_url_caches

    clear_url_caches()
    try:
        with override_settings(ROOT_URLCONF=urlconf, MIDDLEWARE=[], REST_FRAMEWORK={}, **settings):
            return list(check_middleware())
    finally:
        clear_url_caches()


def test_ninja_bearer_auth_needs_no_middleware() -> None:
    # The suite's Ninja URLconf: API-wide BearerAuth(optional=True).
    assert _check("tests.adapters.ninja.urls") == []


def test_bearer_auth_on_one_nested_operation_is_enough() -> None:
    assert _check(GuardedUrls) == []


def test_ninja_without_bearer_auth_still_flagged() -> None:
    (error,) = _check(PlainUrls)
    assert error.id == E006  # type: ignore[attr-defined]
    assert error.msg == E006_MSG  # type: ignore[attr-defined]


def test_unloadable_urlconf_still_flagged() -> None:
    # Django's own check reports the URLconf; E006 does not guess that a route authenticates.
    (error,) = _check("tests.adapters.ninja.no_such_urlconf_module")
    assert error.id == E006  # type: ignore[attr-defined]


def test_drf_view_with_bearer_authentication_needs_no_middleware() -> None:
    pytest.importorskip("rest_framework")
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from bearerguard.adapters.django.rest_framework import BearerTokenAuthentication

    class Guarded(APIView):
        authentication_classes = [BearerTokenAuthentication]

        def get(self, request: object) -> Response:
            return Response({})

    class Other(APIView):
        authentication_classes: list[type] = []

        def get(self, request: object) -> Response:
            return Response({})

    class DrfGuarded:
        urlpatterns = [path("a/", Other.as_view()), path("b/", Guarded.as_view())]

    class DrfPlain:
        urlpatterns = [path("a/", Other.as_view())]

    assert _check(DrfGuarded) == []
    (error,) = _check(DrfPlain)
    assert error.id == E006  # type: ignore[attr-defined]


def test_example_ninja_project_checks_clean(tmp_path: Path) -> None:
    """The example project runs ``manage.py check`` with no silenced check and no error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BEARERGUARD_", "DJANGO_"))}
    env.update(
        BEARERGUARD_ISSUER="https://issuer.example/",
        BEARERGUARD_AUDIENCE="https://api.example.com",
        PYTHONPATH=str(ROOT / "src"),
    )
    proc = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT / "example_projects" / "ninja_api",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "System check identified no issues (0 silenced).\n"
