"""Framework-free protocol middleware: ``bearerguard.middleware.asgi`` and ``bearerguard.middleware.wsgi``."""
