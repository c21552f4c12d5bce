"""View decorators: ``require_token``, ``require_scopes``, ``require_roles``, ``require_claim``.

They authorize: the middleware has already authenticated the request (and
refused any invalid token), so a decorator only checks that a token is present
and meets the view's requirements, answering 401 (bare challenge) or 403
``insufficient_scope`` through the core's responses. They work on function
views, ``async def`` views and class-based views (decorate the class, its
``dispatch``, or use ``method_decorator``). Without ``BearerAuthMiddleware``
they raise ``ImproperlyConfigured``.

Decorated views are exempt from Django's CSRF check, as DRF's views are: they
run only for a request carrying a valid bearer token, which a browser never
attaches on its own, and a session cannot stand in for it: a signed-in session
with a token for another user answers 400 ``multiple_credentials`` (see the
middleware's one-identity rule). Refusals are rendered by the verifier, with
``BEARERGUARD_REALM``.

Example::

    @require_scopes("read:messages")
    def messages(request):
        return JsonResponse({"sub": request.access_token.subject})
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast, overload

from asgiref.sync import iscoroutinefunction
from django.http import HttpResponse
from django.views import View

from bearerguard.adapters.django._http import CONFLICT, response
from bearerguard.adapters.django.conf import get_verifier
from bearerguard.adapters.django.middleware import get_access_token
from bearerguard.claimpath import ClaimPathLike
from bearerguard.errors import BearerError, InvalidRequest, MissingToken
from bearerguard.requirements import Requirements

__all__ = ["require_claim", "require_roles", "require_scopes", "require_token"]

_V = TypeVar("_V", bound=Callable[..., Any])
_UNSET: Any = object()


def _refusal(args: tuple[Any, ...], requirements: Requirements | None) -> HttpResponse | None:
    # A method's first argument is the view instance, the request follows it.
    request = args[1] if args and isinstance(args[0], View) else args[0]
    token = get_access_token(request)  # the middleware verified it (or refused the request)
    try:
        if getattr(request, CONFLICT, False):
            raise InvalidRequest("multiple_credentials")  # a session and another user's token
        if token is None:
            raise MissingToken()  # RFC 6750 §3.1: no error code without credentials
        get_verifier().authorize(token, requirements)  # 403, or 401 for RFC 9470 step-up
    except BearerError as err:
        return response(get_verifier().render(err, requirements))
    return None


def _async_owner(view: Callable[..., Any], args: tuple[Any, ...]) -> bool:
    # An async class-based view's (sync) dispatch must hand back an awaitable.
    owner = args[0] if args and isinstance(args[0], View) else None
    func: Any = view
    while owner is None and isinstance(func, functools.partial):  # method_decorator
        func = func.func
        owner = getattr(func, "__self__", None)
    return isinstance(owner, View) and bool(owner.view_is_async)


async def _awaitable(response: HttpResponse) -> HttpResponse:
    return response


def _decorator(requirements: Requirements | None) -> Callable[[_V], _V]:
    def decorate(view: _V) -> _V:
        if isinstance(view, type):
            if not issubclass(view, View):
                raise TypeError("decorate a view function or a django.views.View subclass")
            view.dispatch = decorate(view.dispatch)  # type: ignore[method-assign]
            return cast(_V, view)
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                refusal = _refusal(args, requirements)
                if refusal is not None:
                    return refusal
                return await view(*args, **kwargs)

            async_wrapper.csrf_exempt = True  # type: ignore[attr-defined]
            return cast(_V, async_wrapper)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            refusal = _refusal(args, requirements)
            if refusal is None:
                return view(*args, **kwargs)
            return _awaitable(refusal) if _async_owner(view, args) else refusal

        wrapper.csrf_exempt = True  # type: ignore[attr-defined]
        return cast(_V, wrapper)

    return decorate


@overload
def require_token(view: _V, /) -> _V: ...
@overload
def require_token(
    view: None = None,
    /,
    *,
    acr_values: Iterable[str] | str | None = None,
    max_age: int | None = None,
) -> Callable[[_V], _V]: ...
def require_token(
    view: _V | None = None,
    /,
    *,
    acr_values: Iterable[str] | str | None = None,
    max_age: int | None = None,
) -> _V | Callable[[_V], _V]:
    """Require a valid token (401 with a bare challenge without one).

    Use as ``@require_token`` or ``@require_token()``. RFC 9470 step-up:
    ``@require_token(acr_values=[...], max_age=600)`` also needs the token's ``acr``
    to be one of *acr_values* and its ``auth_time`` at most *max_age* seconds old,
    else 401 ``insufficient_user_authentication`` naming them.
    """
    requirements = Requirements(acr_values=acr_values, max_age=max_age) or None
    decorate: Callable[[_V], _V] = _decorator(requirements)
    return decorate if view is None else decorate(view)


def require_scopes(
    *scopes: str,
    any_of: Iterable[str] = (),
    acr_values: Iterable[str] | str | None = None,
    max_age: int | None = None,
) -> Callable[[_V], _V]:
    """Require every scope in *scopes* and, if given, at least one of *any_of*.

    A token lacking them gets 403 ``insufficient_scope`` with the ``scope``
    parameter (RFC 6750 §3.1). ``acr_values`` / ``max_age``: RFC 9470 step-up, as
    for :func:`require_token`. Raises ``ValueError`` when no scope is named or
    one is not a valid scope-token.
    """
    requirements = Requirements(
        scopes=scopes, any_scopes=tuple(any_of), acr_values=acr_values, max_age=max_age
    )
    if not (requirements.scopes or requirements.any_scopes):
        raise ValueError("require_scopes needs at least one scope")
    return _decorator(requirements)


def require_roles(
    *roles: str,
    any_of: Iterable[str] = (),
    acr_values: Iterable[str] | str | None = None,
    max_age: int | None = None,
) -> Callable[[_V], _V]:
    """Require every role in *roles* and, if given, at least one of *any_of*.

    Roles are the token's ``roles`` (``BEARERGUARD_ROLE_CLAIMS`` or the provider
    preset). A token lacking them gets 403 ``insufficient_scope`` (reason
    ``insufficient_role``). ``acr_values`` / ``max_age``: as for :func:`require_token`.
    Raises ``ValueError`` when no role is named or one is empty.
    """
    requirements = Requirements(
        roles=roles, any_roles=tuple(any_of), acr_values=acr_values, max_age=max_age
    )
    if not (requirements.roles or requirements.any_roles):
        raise ValueError("require_roles needs at least one role")
    return _decorator(requirements)


def require_claim(
    name: ClaimPathLike, *, equals: Any = _UNSET, includes: Any = _UNSET
) -> Callable[[_V], _V]:
    """Require the claim *name* to equal *equals*, or to be a list including *includes*.

    *name* is a claim path: ``"realm_access.roles"`` nests, a string with ``://`` is one
    namespaced claim, a tuple gives the segments (:mod:`bearerguard.claimpath`). Give
    exactly one of ``equals`` / ``includes`` (else ``TypeError``). A token failing it,
    or lacking the claim, gets 403 ``insufficient_scope`` (reason
    ``claim_requirement_failed``).
    """
    given = {k: v for k, v in (("equals", equals), ("includes", includes)) if v is not _UNSET}
    return _decorator(Requirements.claim(name, **given))
