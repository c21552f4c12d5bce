"""Tests of bearerguard.adapters.fastapi."""
