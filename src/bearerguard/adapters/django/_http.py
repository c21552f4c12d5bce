"""Request-to-facts and response-tuple-to-HttpResponse translation for the Django entry points.

The core decides (:meth:`Verifier.decide <bearerguard.Verifier.decide>`) and renders
(:meth:`Verifier.render <bearerguard.Verifier.render>`, :meth:`Decision.response
<bearerguard.pipeline.Decision.response>`); this module only hands it a Django request's
facts and turns its ``(status, headers, body)`` into an ``HttpResponse``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpResponse

from bearerguard.middleware._common import is_form_request
from bearerguard.middleware.wsgi import dpop_values

if TYPE_CHECKING:
    from django.http import HttpRequest

    from bearerguard.pipeline import Decision
    from bearerguard.requirements import Requirements
    from bearerguard.verifier import Verifier

#: The request attribute marking a request whose bearer token met a different signed-in
#: user (a session): a view authenticating by token answers 400 ``multiple_credentials``.
CONFLICT = "_bearerguard_conflict"


def response(rendered: tuple[int, list[tuple[str, str]], bytes]) -> HttpResponse:
    """The core's rendered refusal as an ``HttpResponse``: status, headers and body as is."""
    status, headers, body = rendered
    return HttpResponse(body, status=status, headers=dict(headers))


def facts(request: HttpRequest | Any, verifier: Verifier) -> dict[str, Any]:
    """Keyword arguments for :meth:`Verifier.decide` from a Django request.

    The ``access_token`` query values are passed whenever the query string names one
    (a token in the header and the URL is a 400 even with the query location off);
    the form body is read only when ``form`` is a token location and the request is
    a form post (RFC 6750 §2.2), never otherwise.
    """
    meta = request.META
    query = form = None
    if "access_token" in meta.get("QUERY_STRING", ""):
        query = request.GET.getlist("access_token")
    method = request.method or "GET"
    if "form" in verifier.token_locations and is_form_request(method, request.content_type):
        form = request.POST.getlist("access_token")
    # Servers join repeated Authorization lines with commas; the core splits them.
    return {
        "authorization": meta.get("HTTP_AUTHORIZATION"),
        "method": method,
        "url": request.build_absolute_uri,  # Django's own proxy settings apply (htu)
        "dpop": dpop_values(meta),
        "query": query,
        "form": form,
    }


def decide(
    request: HttpRequest | Any,
    verifier: Verifier,
    *,
    requirements: Requirements | None = None,
    required: bool = False,
) -> Decision:
    """The core's decision for a Django request."""
    return verifier.decide(**facts(request, verifier), requirements=requirements, required=required)


async def decide_async(
    request: HttpRequest | Any,
    verifier: Verifier,
    *,
    requirements: Requirements | None = None,
    required: bool = False,
) -> Decision:
    """As :func:`decide`; a key fetch is awaited, never blocking the event loop."""
    return await verifier.decide_async(
        **facts(request, verifier), requirements=requirements, required=required
    )


def signed_in(request: HttpRequest | Any) -> Any:
    """The already authenticated ``request.user`` (a session's), or ``None``."""
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None
