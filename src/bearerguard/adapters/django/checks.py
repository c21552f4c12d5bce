"""System checks for the ``BEARERGUARD_*`` settings and the middleware order.

Ids never change meaning:

* ``bearerguard.E001`` ``BEARERGUARD_ISSUER`` is missing.
* ``bearerguard.E002`` ``BEARERGUARD_AUDIENCE`` is missing.
* ``bearerguard.E003`` ``BEARERGUARD_ALGORITHMS`` names an unknown or disallowed algorithm.
* ``bearerguard.E004`` ``BEARERGUARD_TOKEN_TYPES`` is invalid.
* ``bearerguard.E005`` another ``BEARERGUARD_*`` setting is invalid.
* ``bearerguard.E006`` the app is installed but ``BearerAuthMiddleware`` is not.
* ``bearerguard.W001`` ``BearerAuthMiddleware`` comes before ``AuthenticationMiddleware``.
* ``bearerguard.W002`` DRF is installed without bearerguard's ``EXCEPTION_HANDLER``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from bearerguard.adapters.django.conf import ADAPTER_SETTINGS, conf
from bearerguard.settings import SettingError, Settings

# Valid stand-ins, so that one run reports every invalid setting, not just the first.
_STAND_INS = {
    "BEARERGUARD_ISSUER": "https://issuer.invalid/",
    "BEARERGUARD_AUDIENCE": "https://api.invalid",
    "BEARERGUARD_ALGORITHMS": "RS256",
    "BEARERGUARD_TOKEN_TYPES": "at+jwt",
    "BEARERGUARD_SHARED_SECRET": "x" * 32,
    "BEARERGUARD_DPOP_NONCE_SECRET": "x" * 32,
    "BEARERGUARD_CLIENT_ID": "stand-in",
    "BEARERGUARD_CLIENT_SECRET": "stand-in",
    "BEARERGUARD_TENANTS": "*",
}
# SettingError.setting (and whether it is missing) -> check id; anything else is E005.
_IDS = {
    ("BEARERGUARD_ISSUER", True): ("bearerguard.E001", "BEARERGUARD_ISSUER is not set."),
    ("BEARERGUARD_AUDIENCE", True): ("bearerguard.E002", "BEARERGUARD_AUDIENCE is not set."),
    ("BEARERGUARD_ALGORITHMS", False): (
        "bearerguard.E003",
        "BEARERGUARD_ALGORITHMS names an unknown or disallowed algorithm.",
    ),
    ("BEARERGUARD_TOKEN_TYPES", False): ("bearerguard.E004", "BEARERGUARD_TOKEN_TYPES is invalid."),
}
_INVALID = ("bearerguard.E005", "A BEARERGUARD_* setting is invalid.")
_MIDDLEWARE = "bearerguard.adapters.django.middleware.BearerAuthMiddleware"
_AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
_DRF_AUTHENTICATION = "bearerguard.adapters.django.rest_framework.BearerTokenAuthentication"
_DRF_HANDLER = "bearerguard.adapters.django.rest_framework.exception_handler"


def _error(setting: str, missing: bool, message: str) -> CheckMessage:
    check_id, summary = _IDS.get((setting, missing), _INVALID)
    return Error(summary, hint=message, id=check_id)


def check_settings(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate the ``BEARERGUARD_*`` settings exactly as the verifier will.

    Every invalid setting is reported, ordered by check id: after each error the setting
    at fault (``SettingError.setting``) is replaced by a valid stand-in, or dropped, and
    the settings are parsed again.
    """
    errors: list[CheckMessage] = []
    mapping = conf.core_settings
    for _ in range(len(mapping) + len(_STAND_INS) + 1):
        try:
            Settings.from_mapping(mapping)
            break
        except SettingError as exc:
            error = _error(exc.setting, exc.missing, str(exc))
            if error not in errors:
                errors.append(error)
            key = exc.setting
            if key in _STAND_INS and mapping.get(key) != _STAND_INS[key]:
                mapping[key] = _STAND_INS[key]
            elif key in mapping:  # no stand-in, or it did not help: the default then
                del mapping[key]
            else:
                break
    for name in sorted(ADAPTER_SETTINGS):
        try:
            getattr(conf, name)
        except ValueError as exc:
            errors.append(_error(getattr(exc, "setting", name), False, str(exc)))
    return sorted(errors, key=lambda error: str(error.id))


def _position(entries: Sequence[Any], path: str) -> int | None:
    cls: Any = None
    for index, entry in enumerate(entries):
        if entry == path:
            return index
        try:
            if cls is None:
                cls = import_string(path)
            entry_cls = import_string(entry) if isinstance(entry, str) else entry
        except ImportError:
            continue
        if isinstance(entry_cls, type) and issubclass(entry_cls, cls):
            return index
    return None


def _drf_authentication() -> bool:
    # A DRF-only project authenticates with BearerTokenAuthentication: no middleware needed.
    rest = getattr(settings, "REST_FRAMEWORK", None) or {}
    classes = list(rest.get("DEFAULT_AUTHENTICATION_CLASSES", ()))
    return _position(classes, _DRF_AUTHENTICATION) is not None


def check_middleware(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """The middleware must be installed (unless DRF authenticates), after the auth one."""
    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    ours = _position(middleware, _MIDDLEWARE)
    if ours is None and not _drf_authentication():
        return [
            Error(
                "bearerguard is in INSTALLED_APPS but BearerAuthMiddleware is not in MIDDLEWARE.",
                hint=f"Add {_MIDDLEWARE!r} to MIDDLEWARE, after {_AUTH_MIDDLEWARE!r}.",
                id="bearerguard.E006",
            )
        ]
    auth = _position(middleware, _AUTH_MIDDLEWARE)
    if ours is not None and auth is not None and auth > ours:
        return [
            Warning(
                "BearerAuthMiddleware comes before AuthenticationMiddleware, "
                "which would replace the token's user with the session's.",
                hint=f"Move {_MIDDLEWARE!r} below {_AUTH_MIDDLEWARE!r}.",
                id="bearerguard.W001",
            )
        ]
    return []


def check_rest_framework(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """With DRF installed, refusals render exactly only through our exception handler."""
    from django.apps import apps

    if not apps.is_installed("rest_framework"):
        return []
    handler = (getattr(settings, "REST_FRAMEWORK", None) or {}).get("EXCEPTION_HANDLER")
    if handler in (None, "rest_framework.views.exception_handler"):
        return [
            Warning(
                "Django REST framework is installed without bearerguard's exception handler.",
                hint=f"Set REST_FRAMEWORK['EXCEPTION_HANDLER'] = {_DRF_HANDLER!r} so that "
                "bearer refusals get their exact headers and JSON body.",
                id="bearerguard.W002",
            )
        ]
    return []
