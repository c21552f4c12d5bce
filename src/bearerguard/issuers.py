"""Several issuers, each with its own settings (``BEARERGUARD_ISSUER_SETTINGS``).

One verifier can trust several authorization servers that differ in audience, key
source, algorithms or provider. Each is an :class:`IssuerSettings`; what it leaves out
comes from the verifier's own settings (except ``jwks_uri``, ``tenants`` and ``provider``,
which describe one server). A token's (unverified) ``iss`` only selects among the configured
issuers: it is never a URL to fetch from, and a key from one issuer's set never verifies
a token claiming another.

Forms: in Python a list of :class:`IssuerSettings` (or of dicts with an ``issuer`` key),
or a mapping ``{issuer: {setting: value}}``; in the environment (or Django/Flask settings
given as text) that mapping as JSON::

    BEARERGUARD_ISSUER_SETTINGS='{"https://acme.okta.com/oauth2/default":
        {"provider": "okta", "audience": "api://default"},
     "https://login.microsoftonline.com/{tenantid}/v2.0":
        {"provider": "entra", "audience": "6c3c...", "tenants": "*"}}'
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["PER_ISSUER", "IssuerSettings", "issuer_settings"]

#: The settings an issuer can have of its own (keyword names).
PER_ISSUER = (
    "audience",
    "jwks_uri",
    "algorithms",
    "provider",
    "tenants",
    "scope_claims",
    "role_claims",
    "client_id_claims",
    "required_claims",
)


@dataclasses.dataclass(frozen=True)
class IssuerSettings:
    """One trusted issuer and the settings that are its own.

    ``issuer`` is required (an exact ``iss``, or a template with ``{tenantid}`` and
    ``tenants``); every other field left ``None`` comes from the verifier's settings
    (``jwks_uri`` is then discovered from this issuer, ``tenants`` is empty, ``provider``
    is ``generic``; a setting the verifier's preset filled is this issuer's preset's). Values
    take the same forms as the keyword settings; they are validated when the
    :class:`~bearerguard.Settings` holding them is built.
    """

    issuer: str
    audience: Any = None
    jwks_uri: str | None = None
    algorithms: Any = None
    provider: str | None = None
    tenants: Any = None
    scope_claims: Any = None
    role_claims: Any = None
    client_id_claims: Any = None
    required_claims: Any = None

    def given(self) -> dict[str, Any]:
        """The settings this issuer gives (keyword name -> value), ``issuer`` included."""
        out: dict[str, Any] = {"issuer": self.issuer}
        for name in PER_ISSUER:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def _entry(issuer: Any, options: Any) -> IssuerSettings:
    if not isinstance(issuer, str) or not issuer.strip():
        raise ValueError("must name each issuer by a non-empty string")
    if not isinstance(options, Mapping):
        raise ValueError(f"must map each issuer to its settings, got {type(options).__name__}")
    unknown = sorted(str(k) for k in options if k not in PER_ISSUER)
    if unknown:
        raise ValueError(
            f"names settings an issuer cannot have of its own: {', '.join(unknown)} "
            f"(allowed: {', '.join(PER_ISSUER)})"
        )
    return IssuerSettings(issuer=issuer.strip(), **dict(options))


def issuer_settings(value: Any) -> tuple[IssuerSettings, ...]:
    """Per-issuer settings as a tuple of :class:`IssuerSettings` (see the module doc)."""
    if value is None or value == "" or value == () or value == []:
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError('must be a JSON object {"<issuer>": {"audience": ...}, ...}') from None
    entries: list[IssuerSettings] = []
    if isinstance(value, Mapping):
        entries = [_entry(iss, opts) for iss, opts in value.items()]
    elif isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, IssuerSettings):
                entries.append(item)
            elif isinstance(item, Mapping) and "issuer" in item:
                rest = {k: v for k, v in item.items() if k != "issuer"}
                entries.append(_entry(item["issuer"], rest))
            else:
                raise ValueError("must hold IssuerSettings or mappings with an 'issuer' key")
    else:
        raise ValueError("must be a list of IssuerSettings or a mapping issuer -> settings")
    seen: set[str] = set()
    for entry in entries:
        if entry.issuer in seen:
            raise ValueError(f"names the issuer {entry.issuer!r} twice")
        seen.add(entry.issuer)
    return tuple(entries)
