"""``bearerguard``: a development authorization server and a token minter.

    bearerguard dev-issuer [--host 127.0.0.1] [--port 9000] [--audience https://api.example.com]
                           [--client-id api] [--client-secret SECRET]
    bearerguard token [--issuer-url http://127.0.0.1:9000] [--scope read:messages ...]
                      [--sub user-1] [--claim tenant=acme ...] [--expires-in 300]
                      [--id-token | --opaque]
                      [--dpop --url URL [--method GET] [--dpop-key PATH] [--dpop-alg ES256]]
    bearerguard proof --key PATH --url URL [--method GET] [--token TOKEN] [--nonce NONCE]
    bearerguard doctor [TOKEN | -] [--django-settings MODULE | --env] [--issuer URL ...]
                       [--audience AUD ...] [--set NAME=VALUE ...] [--scope S ...] [--json]

``doctor`` is not test kit: it explains why an app would accept or refuse a token
(:mod:`bearerguard.doctor`); only its subcommand is registered here.

``token --dpop`` mints a token bound to a DPoP key (``cnf.jkt``, RFC 9449 §6) and prints it
with a proof for one request, as shell assignments (``eval "$(bearerguard token --dpop …)"``);
``--dpop-key`` keeps the key so that ``proof`` makes the next proofs (see ``_cli_dpop``).

The dev issuer's signing keys are generated at start and live only in that process: tokens it
minted stop verifying once it stops. For development and tests only, never production.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shlex
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from types import FrameType
from typing import Any

from bearerguard import _doctor_cli
from bearerguard.testing import _cli_dpop

DEFAULT_ISSUER_URL = "http://127.0.0.1:9000"
DEFAULT_AUDIENCE = "https://api.example.com"


def _claim(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw  # a bare word is a string: --claim tenant=acme
    return name, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bearerguard", description="Development tools for bearerguard (never production)."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _doctor_cli.add_parser(sub)  # bearerguard doctor: not test kit, see bearerguard.doctor
    dev = sub.add_parser(
        "dev-issuer",
        help="run a development authorization server in the foreground",
        description="Serve discovery, a JWKS, /token, /introspect and /mint until interrupted. "
        "Keys live only in this process.",
    )
    dev.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    dev.add_argument(
        "--port", type=int, default=9000, help="port, 0 for any free one (default: %(default)s)"
    )
    dev.add_argument(
        "--audience",
        default=DEFAULT_AUDIENCE,
        help="the aud of minted access tokens: your API's identifier (default: %(default)s)",
    )
    dev.add_argument(
        "--client-id",
        default="api",
        help="a client your API may introspect with (default: %(default)s)",
    )
    dev.add_argument("--client-secret", help="its secret (default: a random one, printed)")
    dev.add_argument(
        "--client-scope",
        action="append",
        default=[],
        metavar="SCOPE",
        help="a scope that client may get from /token (client_credentials); repeat for more",
    )
    dev.add_argument(
        "--authorization-endpoint",
        action="store_true",
        help="serve and advertise /authorize (it refuses every request): for clients whose "
        "metadata parser requires it, such as the MCP Python SDK",
    )
    tok = sub.add_parser(
        "token",
        help="mint a token from a running dev issuer and print it",
        description="Ask a running `bearerguard dev-issuer` for a token; print only the token.",
    )
    tok.add_argument(
        "--issuer-url", default=DEFAULT_ISSUER_URL, help="the dev issuer (default: %(default)s)"
    )
    tok.add_argument("--sub", default="user-1", help="the subject (default: %(default)s)")
    tok.add_argument(
        "--scope",
        action="append",
        metavar="SCOPE",
        help="a scope to grant; repeat or space-separate (default: read:messages)",
    )
    tok.add_argument(
        "--claim",
        action="append",
        type=_claim,
        default=[],
        metavar="NAME=VALUE",
        help="an extra claim; VALUE is JSON when it parses (roles='[\"writer\"]'), else a string",
    )
    tok.add_argument(
        "--expires-in", type=int, default=300, help="lifetime in seconds (default: %(default)s)"
    )
    kind = tok.add_mutually_exclusive_group()
    kind.add_argument(
        "--id-token",
        action="store_true",
        help="mint an OIDC ID token instead (an API must refuse it)",
    )
    kind.add_argument(
        "--opaque",
        action="store_true",
        help="mint an opaque access token, checked by introspection (RFC 7662)",
    )
    tok.add_argument("--audience", help="override the aud claim")
    _cli_dpop.add_token_arguments(tok)
    _cli_dpop.add_parser(sub)
    return parser


def _serve(
    host: str,
    port: int,
    audience: str,
    client_id: str,
    secret: str | None,
    client_scopes: Sequence[str] = (),
    authorization_endpoint: bool = False,
) -> int:
    from bearerguard.testing.issuer import Issuer

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    try:
        issuer = Issuer(
            audience=audience,
            host=host,
            port=port,
            mint_endpoint=True,
            authorization_endpoint=authorization_endpoint,
        ).start()
    except OSError as exc:
        print(f"bearerguard: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    secret = secret or secrets.token_urlsafe(16)
    issuer.register_client(client_id, secret, scopes=client_scopes)
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(
            "bearerguard dev issuer - development only; its keys live in this process and\n"
            "tokens it minted stop verifying when it stops.\n"
            f"  issuer:   {issuer.issuer}\n"
            f"  jwks_uri: {issuer.jwks_uri}\n"
            f"  audience: {audience}\n"
            f"  mint:     {issuer.url}/mint\n"
            f"  token:    {issuer.url}/token\n"
            f"  introspection: {issuer.url}/introspect\n"
            f"  revocation: {issuer.url}/revoke\n"
            "\nPoint your API at it:\n"
            f"export BEARERGUARD_ISSUER={shlex.quote(issuer.issuer)}\n"
            f"export BEARERGUARD_AUDIENCE={shlex.quote(audience)}\n"
            f"export BEARERGUARD_JWKS_URI={shlex.quote(issuer.jwks_uri)}\n"
            "\nFor opaque tokens (introspection), also:\n"
            f"export BEARERGUARD_CLIENT_ID={shlex.quote(client_id)}\n"
            f"export BEARERGUARD_CLIENT_SECRET={shlex.quote(secret)}\n"
            "\nMint a token:\n"
            f"  bearerguard token --issuer-url {issuer.url} --scope read:messages\n"
            f"  bearerguard token --issuer-url {issuer.url} --opaque   (introspected)\n"
            f"  bearerguard token --issuer-url {issuer.url} --dpop --url URL   "
            "(DPoP-bound, with a proof for URL)\n"
            "Press Ctrl+C to stop.",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        issuer.stop()
    print("bearerguard dev issuer stopped.", flush=True)
    return 0


def request_token(
    issuer_url: str,
    *,
    sub: str = "user-1",
    scopes: Sequence[str] | None = None,
    claims: dict[str, Any] | None = None,
    expires_in: int = 300,
    id_token: bool = False,
    audience: str | None = None,
    timeout: float = 10.0,
    opaque: bool = False,
) -> str:
    """Mint a token at a running dev issuer's ``/mint`` endpoint and return it.

    ``opaque`` mints an opaque access token (known to the issuer's introspection endpoint).

    Raises RuntimeError with a readable message when the issuer cannot be reached or refuses.
    """
    form: dict[str, str] = {
        "kind": "id" if id_token else "opaque" if opaque else "access",
        "sub": sub,
        "expires_in": str(expires_in),
        "claims": json.dumps(claims or {}),
    }
    if scopes is not None:
        form["scope"] = " ".join(scopes)
    if audience is not None:
        form["aud"] = audience
    url = issuer_url.rstrip("/") + "/mint"
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise RuntimeError(f"--issuer-url must be an http(s) URL, got {issuer_url!r}")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            doc = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(
            f"{url} answered {exc.code}: is it a `bearerguard dev-issuer`?"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RuntimeError(
            f"cannot reach the dev issuer at {issuer_url} ({reason}); "
            "start it with `bearerguard dev-issuer`"
        ) from None
    except ValueError:
        raise RuntimeError(f"{url} did not answer JSON") from None
    token = doc.get("id_token" if id_token else "access_token") if isinstance(doc, dict) else None
    if not isinstance(token, str):
        raise RuntimeError(f"{url} answered no token")
    return token


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bearerguard`` command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "doctor":
        return _doctor_cli.run(args)
    if args.command == "proof":
        return _cli_dpop.run_proof(args)
    if args.command == "dev-issuer":
        return _serve(
            args.host,
            args.port,
            args.audience,
            args.client_id,
            args.client_secret,
            [s for item in args.client_scope for s in item.split()],
            args.authorization_endpoint,
        )
    scopes = None
    if args.scope is not None:
        scopes = [s for item in args.scope for s in item.split()]
    claims = dict(args.claim)
    try:
        key = _cli_dpop.bind(args, claims)
        token = request_token(
            args.issuer_url,
            sub=args.sub,
            scopes=scopes,
            claims=claims,
            expires_in=args.expires_in,
            id_token=args.id_token,
            audience=args.audience,
            opaque=args.opaque,
        )
    except (RuntimeError, ValueError) as exc:
        print(f"bearerguard: {exc}", file=sys.stderr)
        return 1
    print(token if key is None else _cli_dpop.lines(args, token, key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
