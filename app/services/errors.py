"""Errors the use cases raise; each carries its HTTP status, a stable code and the field."""

from __future__ import annotations

from typing import Any

from app.ledger.errors import LedgerError

__all__ = [
    "Conflict",
    "Forbidden",
    "Inconsistent",
    "NotFound",
    "NotYet",
    "ServiceError",
    "StaleHead",
    "TooLarge",
    "Unauthorized",
    "UnsupportedMediaType",
]


class ServiceError(LedgerError):
    status = 400

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.field = field
        self.extra = extra or {}


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Forbidden(ServiceError):
    status = 403


class TooLarge(ServiceError):
    status = 413


class Unauthorized(ServiceError):
    status = 401


class UnsupportedMediaType(ServiceError):
    status = 415


class Inconsistent(ServiceError):
    """The stored ledger contradicts itself (it was changed behind the service's back)."""

    status = 500


class NotYet(ServiceError):
    """Not available yet (for example, no checkpoint covers the entry); retry shortly."""

    status = 503


class StaleHead(Conflict):
    """``prev`` is not the lot's head: re-sign over ``head`` and retry."""

    def __init__(self, *, lot: str, prev: str | None, head: str | None, length: int) -> None:
        super().__init__(
            "chain.stale_prev",
            f"event.prev is {prev}, but lot {lot}'s head is {head} after {length} events; "
            "sign the event again with prev set to the current head",
            field="event.prev",
            extra={"lot": lot, "head": head, "length": length},
        )
