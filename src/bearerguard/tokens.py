"""AccessToken: the verified caller, as the verifier hands it to the app."""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any


def read_scopes(claims: Mapping[str, Any], scope_claims: tuple[str, ...]) -> frozenset[str]:
    """Collect scopes from ``scope``/``scp`` (string or array) and ``permissions`` (array)."""
    scopes: frozenset[str] | None = None  # most tokens carry one scope claim: no merging
    for name in scope_claims:
        value = claims.get(name)
        if isinstance(value, str):
            found = value.split()
        elif isinstance(value, list):
            found = [v for v in value if isinstance(v, str) and v]
        else:
            continue
        scopes = frozenset(found) if scopes is None else scopes.union(found)
    return frozenset() if scopes is None else scopes


class AccessToken(Mapping[str, Any]):
    """A verified access token.

    Read claims by name (``token["https://example.com/roles"]``) or through
    :attr:`claims`, a read-only mapping of every claim. Convenience attributes:
    ``subject``, ``scopes``, ``client_id``, ``issuer``, ``audience``,
    ``expires_at``, ``header``, ``raw`` is deliberately absent: the token
    string is not kept, so it cannot leak through ``repr`` or logs.
    """

    __slots__ = ("_claims", "claims", "header", "scopes")

    def __init__(
        self, claims: dict[str, Any], header: dict[str, Any], scopes: frozenset[str]
    ) -> None:
        self._claims = claims
        self.claims: Mapping[str, Any] = MappingProxyType(claims)
        self.header: Mapping[str, Any] = MappingProxyType(header)
        self.scopes = scopes

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
        """The client the token was issued to: ``client_id`` (RFC 9068), else ``azp`` or ``cid``."""
        for name in ("client_id", "azp", "cid", "appid"):
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
    def expires_at(self) -> datetime.datetime:
        """``exp`` as an aware UTC datetime."""
        return datetime.datetime.fromtimestamp(self._claims["exp"], tz=datetime.timezone.utc)

    @property
    def token_id(self) -> str | None:
        """The ``jti`` claim."""
        jti = self._claims.get("jti")
        return jti if isinstance(jti, str) else None

    def has_scopes(self, *scopes: str) -> bool:
        """True when the token carries every scope named."""
        return self.scopes.issuperset(scopes)
