"""Tiny benchmark apps, one per framework: ``/open`` and ``/protected``.

``BENCH_MODE=bearerguard`` (default) protects ``/protected`` with the framework's bearerguard
adapter; ``BENCH_MODE=pyjwt`` does it by hand with PyJWT's ``PyJWKClient`` (the baseline);
``BENCH_MODE=floor`` only runs the raw signature check there and ``BENCH_MODE=verify`` a bare
``Verifier.verify`` with no adapter (the controls, ``_controls.py``).
Settings come from ``BEARERGUARD_ISSUER``, ``BEARERGUARD_AUDIENCE``, ``BEARERGUARD_JWKS_URI``.
"""
