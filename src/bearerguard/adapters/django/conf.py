"""Django settings for bearerguard, read lazily, and the verifier built from them.

Every ``BEARERGUARD_*`` setting is read on access (no caching here), so
``override_settings`` works. The :class:`~bearerguard.Verifier` is built once,
on first use, and rebuilt after Django's ``setting_changed`` signal names a
``BEARERGUARD_*`` setting (tests, ``override_settings``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from bearerguard.paths import PathRules
from bearerguard.settings import Settings
from bearerguard.verifier import Verifier

PREFIX = "BEARERGUARD_"
#: Settings read by this adapter, not by :class:`~bearerguard.Settings`.
ADAPTER_SETTINGS = frozenset({"BEARERGUARD_USER_HOOK"})
#: What ``BEARERGUARD_PROTECTED_PATHS`` protects when it is not set: nothing (the
#: decorators and DRF permissions say which views need a token).
DEFAULT_PROTECTED_PATHS: tuple[str, ...] = ()


class Conf:
    """Typed, lazy access to the ``BEARERGUARD_*`` Django settings."""

    @property
    def BEARERGUARD_USER_HOOK(self) -> Callable[..., Any] | None:
        """``callable(request, token) -> user`` from a dotted path (or a callable), or ``None``."""
        value = getattr(settings, "BEARERGUARD_USER_HOOK", None)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                value = import_string(value)
            except ImportError as exc:
                raise ValueError(f"BEARERGUARD_USER_HOOK: cannot import {value!r}") from exc
        if not callable(value):
            raise ValueError("BEARERGUARD_USER_HOOK must be a callable or its dotted path")
        return value  # type: ignore[no-any-return]

    @property
    def core_settings(self) -> dict[str, Any]:
        """Every other ``BEARERGUARD_*`` setting, for :meth:`Settings.from_mapping`.

        The path settings and ``BEARERGUARD_TOKEN_CACHE_SIZE`` are core settings too.
        """
        return {
            name: getattr(settings, name)
            for name in dir(settings)
            if name.startswith(PREFIX) and name not in ADAPTER_SETTINGS
        }


conf = Conf()


class Configured(NamedTuple):
    """What the settings build: the verifier, the path rules and the user hook."""

    verifier: Verifier
    rules: PathRules
    user_hook: Callable[..., Any] | None


_lock = threading.Lock()
_configured: list[Configured] = []  # zero or one item, replaced as a whole


def _build() -> Configured:
    try:
        core = Settings.from_mapping(conf.core_settings)
        rules = PathRules(core.protected_paths or DEFAULT_PROTECTED_PATHS, core.exempt_paths)
        hook = conf.BEARERGUARD_USER_HOOK
        verifier = Verifier(core)  # its token cache holds BEARERGUARD_TOKEN_CACHE_SIZE tokens
    except ValueError as exc:
        raise ImproperlyConfigured(f"bearerguard: {exc}") from exc
    return Configured(verifier, rules, hook)


def configured() -> Configured:
    """The verifier, path rules and user hook built from Django settings (built once).

    Raises ``ImproperlyConfigured`` when a ``BEARERGUARD_*`` setting is invalid.
    """
    current = _configured[:1]
    if not current:
        with _lock:
            if not _configured:
                _configured.append(_build())
            current = _configured[:1]
    return current[0]


def get_verifier() -> Verifier:
    """The process-wide :class:`~bearerguard.Verifier` built from Django settings.

    Raises ``ImproperlyConfigured`` when a ``BEARERGUARD_*`` setting is invalid.
    """
    return configured().verifier


def reset() -> None:
    """Forget the verifier; the next request builds a new one from settings."""
    with _lock:
        _configured.clear()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(PREFIX):
        reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="bearerguard-setting-changed")
