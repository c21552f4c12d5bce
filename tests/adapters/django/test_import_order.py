"""Start-up never depends on import order (issue #13.6).

ruff/isort sort ``bearerguard`` (a third-party package) before ``rest_framework``;
a project whose settings and views import bearerguard's DRF module first must start
and answer correctly. Run in a subprocess: the test process has Django set up already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.expect import with_dpop

pytest.importorskip("rest_framework")

from bearerguard.testing import Issuer

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = """
import json, os, sys
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
out = []
for path, token in (("/me", None), ("/me", os.environ["TOKEN"]), ("/scoped", os.environ["TOKEN"])):
    headers = {"Authorization": "Bearer " + token} if token else {}
    r = Client().get(path, headers=headers)
    out.append([r.status_code, r.get("WWW-Authenticate"), r.content.decode()])
print(json.dumps(out))
"""


def test_bearerguard_imported_before_rest_framework(issuer: Issuer) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "tests.adapters.django.importorder.settings",
        "BEARERGUARD_ISSUER": issuer.issuer,
        "BEARERGUARD_AUDIENCE": str(issuer.audience),
        "BEARERGUARD_JWKS_URI": issuer.jwks_uri,
        "TOKEN": issuer.token(sub="sorted", scopes=["other"]),
    }
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    missing, ok, scoped = json.loads(done.stdout)
    assert missing == [
        401,
        with_dpop('Bearer realm="api"'),
        '{"error_description":"Authentication required","reason":"missing_token"}',
    ]
    assert ok == [200, None, '{"sub":"sorted"}']
    assert scoped == [
        403,
        with_dpop(
            'Bearer realm="api", error="insufficient_scope", '
            'error_description="The access token lacks a required scope", scope="read:messages"'
        ),
        '{"error":"insufficient_scope","error_description":"The access token lacks a required '
        'scope","reason":"insufficient_scope"}',
    ]
