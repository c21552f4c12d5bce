"""AccessToken: the verified caller, as the verifier hands it to the app."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from bearerguard.claimpath import ClaimPath

__all__ = [
    "AccessToken",
    "FrozenDict",
    "FrozenList",
    "freeze",
    "freeze_members",
    "imply_scopes",
    "read_roles",
    "read_scopes",
    "split_scopes",
    "token_identity",
]

_EMPTY: frozenset[str] = frozenset()
#: Where :attr:`AccessToken.client_id` is read by default, the first present string winning.
CLIENT_ID_CLAIMS = ("client_id", "azp", "cid", "appid")


def token_identity(token: str) -> str:
    """One identity per token, for anything keyed on a token (deny-lists, caches, replay).

    A compact JWS is identified by its signing input (``header.payload``) alone: the
    signature is left out, because one signed content can be spelled by several valid
    signatures (ECDSA's ``(r, n-s)`` twin; RFC 7515 does not forbid it). Any other token
    (opaque) by its whole text. Returned as ``sha256:<hex>``: the token itself is never kept.
    """
    parts = token.split(".")
    data = f"{parts[0]}.{parts[1]}" if len(parts) == 3 else token
    return "sha256:" + hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


def split_scopes(value: str) -> list[str]:
    """Split a scope string on the space character only (RFC 6749 §3.3).

    Other whitespace (tab, NBSP, …) is part of a scope-token, never a separator, so a
    signed ``"tenant:acme\u00a0admin"`` does not grant ``admin``.
    """
    return [s for s in value.split(" ") if s]


def read_scopes(claims: Mapping[str, Any], scope_claims: tuple[str, ...]) -> frozenset[str]:
    """The scopes of a token: the first claim of *scope_claims* present in it supplies them.

    A string is split on spaces; an array gives its strings. The other claims are
    ignored, so a second claim can never widen what the first grants. A present claim of
    an unusable type (``null``, a number, an object, an array holding non-strings) gives
    no scopes (RFC 9068 §2.2.3 defines ``scope`` as a string); the token stays valid.
    """
    for name in scope_claims:
        if name not in claims:
            continue
        value = claims[name]
        if type(value) is str:
            return frozenset(split_scopes(value))
        if isinstance(value, list) and all(type(v) is str for v in value):
            return frozenset(v for v in value if v)
        return _EMPTY
    return _EMPTY


def read_roles(claims: Mapping[str, Any], paths: tuple[ClaimPath, ...]) -> frozenset[str]:
    """The roles of a token: the union of the values at every claim path in *paths*.

    A string is one role (never split); an array gives its non-empty strings, other
    members being ignored; any other value, or a path that leads nowhere, adds nothing.
    Unlike scopes, every path counts: roles from ``realm_access.roles`` and
    ``resource_access.<client>.roles`` together are the caller's roles.
    """
    found: set[str] = set()
    for path in paths:
        value = path.resolve(claims)
        if type(value) is str:
            if value:
                found.add(value)
        elif isinstance(value, list):
            found.update(v for v in value if type(v) is str and v)
    return frozenset(found) if found else _EMPTY


def imply_scopes(
    scopes: frozenset[str], implications: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    """*scopes* with every scope their holders imply (a configured scope hierarchy).

    *implications* maps a broad scope to all the narrower ones it grants, already closed
    under implication (``BEARERGUARD_SCOPE_IMPLIES``); a token holding ``messages:admin``
    then meets a requirement for ``messages:read``.
    """
    extra = [implications[s] for s in scopes if s in implications]
    return scopes.union(*extra) if extra else scopes


class FrozenList(list):  # type: ignore[type-arg]
    """A claim array handed to the app: a ``list`` (JSON-serialisable) that refuses changes.

    A cached token is shared by every request presenting it; a change one request made
    would be seen by the next. Copies (``list(x)``, ``copy.copy``) are ordinary lists.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("token claims are read-only")

    append = extend = insert = pop = remove = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        import copy

        return [copy.deepcopy(v, memo) for v in self]

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (list(self),))


class FrozenDict(dict):  # type: ignore[type-arg]
    """A claim object handed to the app: a ``dict`` (JSON-serialisable) that refuses changes."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("token claims are read-only")

    __setitem__ = __delitem__ = __ior__ = _refuse
    pop = popitem = clear = update = setdefault = _refuse

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        import copy

        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


def freeze(value: Any) -> Any:
    """*value* with every nested array and object made read-only (JSON values only)."""
    t = type(value)
    if t is list:
        return FrozenList([freeze(v) for v in value])
    if t is dict:
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    return value


def freeze_members(obj: dict[str, Any]) -> dict[str, Any]:
    """Freeze the nested values of a claims or header object in place; returns it."""
    for name, value in obj.items():
        t = type(value)
        if t is list or t is dict:
            obj[name] = freeze(value)
    return obj


class AccessToken(Mapping[str, Any]):
    """A verified access token.

    Read claims by name (``token["https://example.com/roles"]``) or through
    :attr:`claims`, a read-only mapping of every claim. Convenience attributes:
    ``subject``, ``scopes``, ``roles``, ``client_id``, ``app_only``, ``issuer``, ``audience``,
    ``expires_at``, ``header``; ``raw`` is deliberately absent: the token
    string is not kept, so it cannot leak through ``repr`` or logs.
    """

    __slots__ = (
        "_claims",
        "_client_id_claims",
        "app_only",
        "bound",
        "claims",
        "header",
        "jkt",
        "roles",
        "scopes",
    )

    def __init__(
        self,
        claims: dict[str, Any],
        header: dict[str, Any],
        scopes: frozenset[str],
        *,
        roles: frozenset[str] = _EMPTY,
        client_id_claims: tuple[str, ...] = CLIENT_ID_CLAIMS,
        app_only: bool = False,
    ) -> None:
        self._claims = claims
        self.claims: Mapping[str, Any] = MappingProxyType(claims)
        self.header: Mapping[str, Any] = MappingProxyType(header)
        self.scopes = scopes
        #: the caller's roles: the union of every ``BEARERGUARD_ROLE_CLAIMS`` path's values
        #: (a preset's, e.g. Keycloak's ``realm_access.roles``), see :func:`read_roles`.
        self.roles = roles
        self._client_id_claims = client_id_claims
        #: obtained without a user (client credentials), as the provider shows it
        #: (:func:`bearerguard.providers.is_app_only`); ``False`` for a delegated token.
        self.app_only = app_only
        #: ``cnf`` present: the token is bound to a key or certificate (never plain Bearer).
        self.bound = "cnf" in claims
        cnf = claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, Mapping) else None
        #: the RFC 7638 thumbprint of the DPoP key the token is bound to (``cnf.jkt``).
        self.jkt: str | None = jkt if isinstance(jkt, str) and jkt else None

    @property
    def scheme(self) -> str:
        """How the caller proved itself: ``DPoP`` for a key-bound token, else ``Bearer``."""
        return "DPoP" if self.jkt is not None else "Bearer"

    def __getitem__(self, name: str) -> Any:
        return self._claims[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims)

    def __len__(self) -> int:
        return len(self._claims)

    def __repr__(self) -> str:
        return f"<AccessToken sub={self.subject!r} client_id={self.client_id!r} scopes={sorted(self.scopes)!r}>"

    @property
    def subject(self) -> str | None:
        """The ``sub`` claim."""
        sub = self._claims.get("sub")
        return sub if isinstance(sub, str) else None

    @property
    def client_id(self) -> str | None:
        """The client the token was issued to: the first string among
        ``BEARERGUARD_CLIENT_ID_CLAIMS`` (by default ``client_id`` (RFC 9068), ``azp``,
        ``cid`` (Okta), ``appid`` (Entra ID v1))."""
        for name in self._client_id_claims:
            value = self._claims.get(name)
            if isinstance(value, str):
                return value
        return None

    @property
    def issuer(self) -> str:
        """The ``iss`` claim."""
        return str(self._claims["iss"])

    @property
    def audience(self) -> tuple[str, ...]:
        """The ``aud`` claim as a tuple."""
        aud = self._claims.get("aud")
        return (aud,) if isinstance(aud, str) else tuple(aud or ())

    @property
    def expires_at(self) -> datetime.datetime | None:
        """``exp`` as an aware UTC datetime (``None`` for an introspected token without one)."""
        exp = self._claims.get("exp")
        if exp is None:
            return None
        return datetime.datetime.fromtimestamp(exp, tz=datetime.timezone.utc)

    @property
    def token_id(self) -> str | None:
        """The ``jti`` claim."""
        jti = self._claims.get("jti")
        return jti if isinstance(jti, str) else None

    def has_scopes(self, *scopes: str) -> bool:
        """True when the token carries every scope named."""
        return self.scopes.issuperset(scopes)
