"""A project whose modules import bearerguard's DRF module before ``rest_framework``.

The order ruff/isort writes when bearerguard is a third-party package (issue #13.6);
started in a subprocess by ``test_import_order.py``.
"""
