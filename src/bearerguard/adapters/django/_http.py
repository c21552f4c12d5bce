"""Request-to-strings and refusal-to-response translation shared by the Django entry points."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpResponse

from bearerguard.errors import BearerError
from bearerguard.middleware._common import is_form_request
from bearerguard.middleware.wsgi import authorization_values
from bearerguard.verifier import Verifier, error_response

if TYPE_CHECKING:
    from django.http import HttpRequest

    from bearerguard.tokens import AccessToken


def render(err: BearerError) -> HttpResponse:
    """The core's refusal, rendered as is: status, headers and JSON body."""
    status, headers, body = error_response(err)
    return HttpResponse(body, status=status, headers=dict(headers))


def credentials(request: HttpRequest | Any, verifier: Verifier) -> dict[str, Any]:
    """Keyword arguments for :meth:`Verifier.authenticate` from a Django request.

    Query and form values are read only where the settings enable them; form
    values only for a form-encoded body of a method other than GET (RFC 6750 §2.2).
    """
    locations = verifier.token_locations
    query = form = None
    if "query" in locations:
        query = request.GET.getlist("access_token")
    if "form" in locations and is_form_request(request.method or "GET", request.content_type):
        form = request.POST.getlist("access_token")
    # Servers join repeated Authorization lines with commas; split them back so
    # several headers are refused as such (RFC 6750 §2, RFC 9110 §5.3).
    authorization = authorization_values(request.META.get("HTTP_AUTHORIZATION"))
    return {"authorization": authorization, "query": query, "form": form}


def authenticate(request: HttpRequest | Any, verifier: Verifier) -> AccessToken | None:
    """``verifier.authenticate`` for a Django request; the usual lone header needs no parsing."""
    value = request.META.get("HTTP_AUTHORIZATION")
    if verifier._header_only and (value is None or "," not in value):
        return verifier.authenticate(value)  # the usual request: no query or form to read
    return verifier.authenticate(**credentials(request, verifier))
