"""Hypothesis strategies for hostile Authorization headers and token segments."""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import strategies as st

from ._helpers import b64

B64URL = string.ascii_letters + string.digits + "-_"
B64TOKEN = B64URL + ".~+/"
SCHEMES = ["Bearer", "bearer", "BEARER", "bEaReR", "Bearer:", "Bearer,", "Bear", "Bearerr",
           "Bearer\x00", "\x00Bearer", "Basic", "Token", "", "Bearer=", "B\u0435arer"]  # fmt: skip
SEPARATORS = ["", " ", "  ", "\t", "\r\n", "\n", " \r\n ", "\x00", "\u00a0", "\u3000", " \t "]
ALGS = ["RS256", "ES256", "PS256", "EdDSA", "Ed25519", "HS256", "HS512", "none", "None", "NONE",
        "nOnE", "RSA-OAEP", "dir", "", "rs256", "RS256 ", "\u0000"]  # fmt: skip
HUGE_NUMBERS = [10**18, -(10**18), 2**63, -(2**63), 1e300, -1e300, 5e-324, 0, -1, 0.5]


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=30)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def _raw_json_segments() -> st.SearchStrategy[bytes]:
    """JSON texts json.dumps cannot produce: deep, duplicate keys, constants, huge."""
    return st.one_of(
        st.integers(1, 20_000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(1, 20_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
        st.sampled_from(
            [
                b'{"alg":"RS256","alg":"none"}',
                b'{"alg":"none","alg":"RS256"}',
                b'{"iss":"a","iss":"b","exp":1}',
                b'{"alg":"RS256","kid":"k","kid":"k"}',
                b'{"exp":NaN}',
                b'{"exp":Infinity}',
                b'{"exp":-Infinity}',
                b'{"exp":1e999}',
                b'{"exp":' + b"9" * 5000 + b"}",
                b"[]",
                b"null",
                b"true",
                b'"alg"',
                b"1",
                b"{",
                b"",
                b"\xef\xbb\xbf{}",
                b'{"alg":"RS256"}\x00',
                b'{"alg":"RS256"} {}',
                b'{"a":"\xff"}',
                b'{"alg":"\\ud800"}',
            ]
        ),
        st.integers(1, 12_000).map(lambda n: b'{"alg":"RS256","x":"' + b"A" * n + b'"}'),
        st.binary(max_size=200),
    )


def segments(objects: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """One token segment: valid JSON objects, hostile JSON, non-base64, bad padding."""
    encoded = st.one_of(
        objects.map(lambda o: json.dumps(o).encode()),
        json_values().map(lambda o: json.dumps(o).encode()),
        _raw_json_segments(),
    ).map(b64)
    return st.one_of(
        encoded,
        encoded.map(lambda s: s + "="),
        encoded.map(lambda s: s + "=="),
        encoded.map(lambda s: s.replace("-", "+").replace("_", "/")),
        st.text(max_size=60),
        st.text(alphabet=B64URL, max_size=60),
        st.just(""),
    )


HEADERS = st.fixed_dictionaries(
    {"alg": st.sampled_from(ALGS) | json_values(2)},
    optional={
        "kid": st.text(max_size=20) | json_values(2),
        "typ": st.sampled_from(["at+jwt", "JWT", "application/at+jwt", "JOSE"]) | json_values(2),
        "crit": json_values(3),
        "b64": st.booleans(),
        "enc": st.just("A256GCM"),
        "jku": st.just("http://127.0.0.1:9/jwks"),
        "jwk": json_values(3),
        "x5c": st.lists(st.text(max_size=20), max_size=2),
        "zip": st.just("DEF"),
    },
)
CLAIMS = st.fixed_dictionaries(
    {},
    optional={
        name: json_values(3) | st.sampled_from(HUGE_NUMBERS)
        for name in ("iss", "aud", "sub", "exp", "nbf", "iat", "scope", "azp", "nonce", "jti")
    },
)


def signatures() -> st.SearchStrategy[str]:
    return st.one_of(
        st.binary(max_size=600).map(b64),
        st.just(""),
        st.text(max_size=40),
        st.integers(0, 20_000).map(lambda n: "A" * n),
    )


def header_values() -> st.SearchStrategy[str]:
    token_like = st.one_of(
        st.text(max_size=80),
        st.text(alphabet=B64TOKEN + "=", max_size=80),
        st.tuples(segments(HEADERS), segments(CLAIMS), signatures()).map(".".join),
        st.integers(0, 40_000).map(lambda n: "a" * n),
        st.integers(0, 20_000).map(lambda n: "a." * n),
    )
    return st.one_of(
        st.text(),
        st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
        st.tuples(st.sampled_from(SCHEMES), st.sampled_from(SEPARATORS), token_like).map("".join),
        st.tuples(st.sampled_from(SCHEMES), token_like, st.sampled_from(SEPARATORS)).map(
            lambda t: f"{t[0]} {t[1]}{t[2]}"
        ),
    )
