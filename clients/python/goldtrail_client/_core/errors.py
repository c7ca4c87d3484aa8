# Generated from app/ledger/errors.py by tools/client_core.py: do not edit.
"""One error family for everything the verifiable core can refuse.

Every error names what failed and why; the HTTP layer maps each class to a
problem+json status in one place (``app/api/problems.py``).
"""

from __future__ import annotations

__all__ = [
    "CanonicalizationError",
    "FieldError",
    "InvalidSignature",
    "LedgerError",
    "MalformedInput",
]


class LedgerError(Exception):
    """Base class: something in the ledger's data or rules does not hold."""


class FieldError(LedgerError):
    """A value failed validation; ``field`` is a dotted path such as ``event.data.mass_g``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class MalformedInput(FieldError):
    """The bytes are not acceptable JSON for the ledger (syntax, duplicates, limits)."""


class CanonicalizationError(FieldError):
    """The value cannot be written as RFC 8785 canonical JSON (e.g. an unsafe integer)."""


class InvalidSignature(LedgerError):
    """An Ed25519 signature does not verify for the stated key and bytes."""

    def __init__(self, what: str) -> None:
        super().__init__(f"signature does not verify: {what}")
        self.what = what
