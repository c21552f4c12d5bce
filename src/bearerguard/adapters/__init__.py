"""Framework adapters; import each by its full path (``bearerguard.adapters.django``)."""
