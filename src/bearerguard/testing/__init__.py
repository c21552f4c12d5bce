"""Test helpers: a real in-process authorization server (``Issuer``) and its keys."""

from __future__ import annotations

from .issuer import BEHAVIOURS, Issuer, IssuerKey

__all__ = ["BEHAVIOURS", "Issuer", "IssuerKey"]
