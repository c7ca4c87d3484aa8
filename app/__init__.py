"""Goldtrail: green ID cards for gold, on a signed, hash-chained custody ledger."""

__version__ = "0.1.0"
