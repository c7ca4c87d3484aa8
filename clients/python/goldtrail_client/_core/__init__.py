"""The pure core the client shares with the server, generated from ``app/ledger/``.

Do not edit: run ``make client-core`` after changing the core (``tools/client_core.py``).
"""
