"""Persistence: the database tables (``tables``) and the HTTP schemas (``schemas``)."""
