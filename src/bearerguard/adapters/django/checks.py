"""System checks for the ``BEARERGUARD_*`` settings and the middleware order.

Ids never change meaning:

* ``bearerguard.E001`` ``BEARERGUARD_ISSUER`` is missing.
* ``bearerguard.E002`` ``BEARERGUARD_AUDIENCE`` is missing.
* ``bearerguard.E003`` ``BEARERGUARD_ALGORITHMS`` names an unknown or disallowed algorithm.
* ``bearerguard.E004`` ``BEARERGUARD_TOKEN_TYPES`` is invalid.
* ``bearerguard.E005`` another ``BEARERGUARD_*`` setting is invalid.
* ``bearerguard.E006`` the app is installed but ``BearerAuthMiddleware`` is not, and nothing
  else authenticates tokens (DRF's ``BearerTokenAuthentication``, by default or on a routed
  view; Django Ninja's ``BearerAuth`` on a routed operation).
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
_DRF_CLASS = ("bearerguard.adapters.django.rest_framework", "BearerTokenAuthentication")
_NINJA_CLASS = ("bearerguard.adapters.ninja", "BearerAuth")
#: URL patterns looked at, at most, when deciding whether a route authenticates.
_MAX_ROUTES = 100_000


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
        except (ImportError, RuntimeError):
            # RuntimeError: django.contrib.auth's middleware imported without its app.
            continue
        if isinstance(entry_cls, type) and issubclass(entry_cls, cls):
            return index
    return None


def _drf_authentication() -> bool:
    # A DRF-only project authenticates with BearerTokenAuthentication: no middleware needed.
    rest = getattr(settings, "REST_FRAMEWORK", None) or {}
    classes = list(rest.get("DEFAULT_AUTHENTICATION_CLASSES", ()))
    return _position(classes, _DRF_AUTHENTICATION) is not None


def _ours(cls: type, module: str, name: str) -> bool:
    # By name: importing the class would import DRF or Ninja, which may not be installed.
    return any(c.__module__ == module and c.__qualname__ == name for c in cls.__mro__)


def _view_authenticates(callback: Any) -> bool:
    """Whether a routed view checks bearer tokens itself (DRF or Ninja)."""
    view_cls = getattr(callback, "cls", None)  # DRF's as_view() sets view.cls
    if isinstance(view_cls, type):
        for auth in getattr(view_cls, "authentication_classes", None) or ():
            if isinstance(auth, type) and _ours(auth, *_DRF_CLASS):
                return True
    # Ninja routes a closure over its PathView, whose operations hold their auth callbacks.
    for cell in getattr(callback, "__closure__", None) or ():
        try:
            operations = getattr(cell.cell_contents, "operations", None)
        except ValueError:  # an empty cell
            continue
        if not isinstance(operations, list):
            continue
        for operation in operations:
            for auth in getattr(operation, "auth_callbacks", None) or ():
                if _ours(type(auth), *_NINJA_CLASS):
                    return True
    return False


def _routes_authenticate() -> bool:
    """Whether a route of the URLconf authenticates tokens without the middleware.

    A URLconf that cannot be loaded counts as no: Django's own check reports it.
    """
    from django.urls import URLPattern, URLResolver, get_resolver

    try:
        pending: list[Any] = list(get_resolver().url_patterns)
    except Exception:
        return False
    seen = 0
    while pending and seen < _MAX_ROUTES:
        entry = pending.pop()
        seen += 1
        if isinstance(entry, URLResolver):
            try:
                pending.extend(entry.url_patterns)
            except Exception:  # noqa: S112 - an included URLconf that cannot load
                continue
        elif isinstance(entry, URLPattern) and _view_authenticates(entry.callback):
            return True
    return False


def check_middleware(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """The middleware must be installed after the auth one, unless something else
    authenticates tokens: DRF's ``BearerTokenAuthentication`` (as a default class or on a
    routed view) or Django Ninja's ``BearerAuth`` (on a routed operation)."""
    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    ours = _position(middleware, _MIDDLEWARE)
    if ours is None:
        if _drf_authentication() or _routes_authenticate():
            return []
        return [
            Error(
                "bearerguard is in INSTALLED_APPS but BearerAuthMiddleware is not in MIDDLEWARE.",
                hint=f"Add {_MIDDLEWARE!r} to MIDDLEWARE, after {_AUTH_MIDDLEWARE!r}.",
                id="bearerguard.E006",
            )
        ]
    auth = _position(middleware, _AUTH_MIDDLEWARE)
    if auth is not None and auth > ours:
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
