"""The user a bearer token stands for: :class:`TokenUser`, or the ``BEARERGUARD_USER_HOOK``'s."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async

from bearerguard.adapters.django.conf import configured
from bearerguard.tokens import AccessToken


class TokenUser:
    """A user built from an access token alone: authenticated, never stored, no DB access.

    ``pk``, ``id`` and ``username`` are the token's ``sub``; ``token`` is the
    :class:`~bearerguard.AccessToken`. It holds no Django permissions (its
    scopes are in ``token.scopes``); map tokens to real users with
    ``BEARERGUARD_USER_HOOK``.

    Example::

        def whoami(request):
            user = request.user                      # a TokenUser
            return JsonResponse({"sub": user.username, "scopes": sorted(user.token.scopes)})
    """

    is_active = True
    is_staff = False
    is_superuser = False
    is_anonymous = False
    is_authenticated = True

    def __init__(self, token: AccessToken) -> None:
        self.token = token
        self.pk: str | None = token.subject
        self.id = self.pk
        self.username = token.subject or ""

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"<TokenUser {self.username!r}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenUser):
            return NotImplemented
        return (self.token.issuer, self.pk) == (other.token.issuer, other.pk)

    def __hash__(self) -> int:
        return hash((self.token.issuer, self.pk))

    def get_username(self) -> str:
        """The ``sub`` claim."""
        return self.username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        """Always ``False``: a token carries scopes, not Django permissions."""
        return False

    def has_perms(self, perm_list: Iterable[str], obj: Any = None) -> bool:
        """``True`` only for an empty list (as Django's users)."""
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        """Always ``False``."""
        return False

    def get_all_permissions(self, obj: Any = None) -> set[str]:
        """The empty set."""
        return set()

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Refused: a token user is not stored."""
        raise NotImplementedError("TokenUser is not stored in the database")

    delete = set_password = check_password = save


def resolve_user(request: Any, token: AccessToken) -> Any:
    """The user for *token*: ``BEARERGUARD_USER_HOOK(request, token)`` or a :class:`TokenUser`.

    The hook may return ``None`` (no user: ``request.user`` is left as it is)
    or raise a :class:`~bearerguard.BearerError` to refuse the request.
    """
    hook = configured().user_hook
    if hook is None:
        return TokenUser(token)
    if iscoroutinefunction(hook):
        return async_to_sync(hook)(request, token)
    return hook(request, token)


async def aresolve_user(request: Any, token: AccessToken) -> Any:
    """As :func:`resolve_user`, from async code (a sync hook runs in a thread)."""
    hook = configured().user_hook
    if hook is None:
        return TokenUser(token)
    if iscoroutinefunction(hook):
        return await hook(request, token)
    return await sync_to_async(hook)(request, token)
