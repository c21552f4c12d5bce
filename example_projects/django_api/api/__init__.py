"""A Django API protected by bearerguard (see ../README.md)."""
