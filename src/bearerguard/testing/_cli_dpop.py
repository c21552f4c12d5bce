"""The DPoP side of the ``bearerguard`` command: ``token --dpop`` and ``proof`` (RFC 9449).

``token --dpop --url URL`` binds the minted token to a DPoP key (``cnf.jkt``) and prints it
with a proof for one request, as shell assignments; ``--dpop-key PATH`` keeps the private key
(a private JWK, created with mode 0600, reused when the file exists) so that ``proof`` can
make a fresh proof for each later request (each proof is accepted once).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import urllib.parse
from typing import Any

from bearerguard.dpop import DEFAULT_ALGORITHMS

from .dpop import DPoPKey

#: Algorithms of the DPoP keys ``token --dpop`` makes: those an API accepts by default.
KEY_ALGORITHMS = DEFAULT_ALGORITHMS


def add_token_arguments(tok: argparse.ArgumentParser) -> None:
    """The ``--dpop`` options of ``bearerguard token``."""
    tok.set_defaults(usage_error=tok.error)  # a usage error names `bearerguard token`
    bound = tok.add_argument_group(
        "DPoP (RFC 9449)",
        '--dpop prints TOKEN=… and PROOF=… lines (use: eval "$(bearerguard token --dpop '
        '--url URL)"; curl URL -H "Authorization: DPoP $TOKEN" -H "DPoP: $PROOF"). '
        "A proof is accepted once: keep the key with --dpop-key and make the next one with "
        "`bearerguard proof`.",
    )
    bound.add_argument(
        "--dpop",
        action="store_true",
        help="bind the token to a DPoP key (cnf.jkt) and print a proof for --method/--url",
    )
    _request_arguments(bound, required=False)
    bound.add_argument(
        "--dpop-key",
        metavar="PATH",
        help="keep the private key (a JWK, file mode 0600) in PATH; an existing file's key "
        "is reused",
    )
    bound.add_argument(
        "--dpop-alg",
        default="ES256",
        choices=KEY_ALGORITHMS,
        help="the algorithm of a new key (default: %(default)s)",
    )


def add_parser(sub: Any) -> None:
    """Register ``bearerguard proof``."""
    proof = sub.add_parser(
        "proof",
        help="print a fresh DPoP proof made with a saved key",
        description="Make a DPoP proof (RFC 9449 §4) with the key `bearerguard token --dpop "
        "--dpop-key PATH` saved; print only the proof.",
    )
    proof.add_argument("--key", required=True, metavar="PATH", help="the saved DPoP key")
    _request_arguments(proof, required=True)
    proof.add_argument(
        "--token", help="the access token the proof goes with (sets ath, RFC 9449 §4.2)"
    )
    proof.add_argument("--nonce", help="a nonce the API sent in DPoP-Nonce (RFC 9449 §9)")


def _request_arguments(group: Any, *, required: bool) -> None:
    group.add_argument(
        "--method", default="GET", type=str.upper, help="the request's method (default: GET)"
    )
    group.add_argument(
        "--url",
        required=required,
        help="the request's URL (htu: sent without its query and fragment)",
    )


def htu(url: str) -> str:
    """*url* as a proof names it (RFC 9449 §4.2: no query, no fragment); ValueError unless
    it is an absolute http(s) URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--url must be an absolute http(s) URL, got {url!r}")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _load(path: str) -> DPoPKey:
    try:
        return DPoPKey.load(path)
    except OSError as exc:
        raise RuntimeError(f"cannot read the DPoP key {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise RuntimeError(f"{path} is not a DPoP key saved by bearerguard ({exc})") from None


def bind(args: argparse.Namespace, claims: dict[str, Any]) -> DPoPKey | None:
    """For ``token``: check the DPoP options (a usage error exits), and with ``--dpop`` add
    ``cnf.jkt`` of the key (loaded or made) to *claims* and return the key.

    Raises ValueError (a bad ``--url``) or RuntimeError (the key file)."""
    if not args.dpop:
        if args.url is not None or args.dpop_key is not None:
            args.usage_error("--url and --dpop-key go with --dpop")
        return None
    if args.id_token:
        args.usage_error("--dpop binds an access token: not with --id-token")
    if args.url is None:
        args.usage_error("--dpop needs --url, the URL of the request the proof is for")
    htu(args.url)
    path = args.dpop_key
    if path is not None and os.path.exists(path):
        key = _load(path)
    else:
        key = DPoPKey(args.dpop_alg)
        if path is not None:
            try:
                key.save(path)
            except OSError as exc:
                raise RuntimeError(f"cannot write the DPoP key to {path}: {exc.strerror}") from None
    claims["cnf"] = {"jkt": key.thumbprint}  # RFC 9449 §6.1
    if args.opaque:
        claims["token_type"] = "DPoP"  # RFC 9449 §6.2: in the introspection answer
    return key


def lines(args: argparse.Namespace, token: str, key: DPoPKey) -> str:
    """What ``token --dpop`` prints: shell assignments, then how to use them (comments)."""
    proof = key.proof(args.method, htu(args.url), access_token=token)
    method = "" if args.method == "GET" else f" -X {args.method}"
    out = [
        f"TOKEN={shlex.quote(token)}",
        f"PROOF={shlex.quote(proof)}",
        f"# curl -i{method} {shlex.quote(args.url)} "
        '-H "Authorization: DPoP $TOKEN" -H "DPoP: $PROOF"',
    ]
    if args.dpop_key is None:
        out.append(
            "# a proof is accepted once: pass --dpop-key PATH to keep the key and make the "
            "next one with `bearerguard proof`"
        )
    else:
        method = "" if args.method == "GET" else f" --method {args.method}"
        out.append(
            f"# next request: PROOF=$(bearerguard proof --key {shlex.quote(args.dpop_key)}"
            f'{method} --url {shlex.quote(args.url)} --token "$TOKEN")'
        )
    return "\n".join(out)


def run_proof(args: argparse.Namespace) -> int:
    """``bearerguard proof``: print one proof; 1 with a message on a bad URL or key file."""
    try:
        url = htu(args.url)
        key = _load(args.key)
    except (ValueError, RuntimeError) as exc:
        print(f"bearerguard: {exc}", file=sys.stderr)
        return 1
    print(key.proof(args.method, url, access_token=args.token, nonce=args.nonce))
    return 0
