"""Tests of bearerguard.adapters.starlette."""
