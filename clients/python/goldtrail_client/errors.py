"""Goldtrail's RFC 9457 problems as exceptions: the code, the field and the reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = [
    "Conflict",
    "FieldProblem",
    "Forbidden",
    "GoldtrailError",
    "Invalid",
    "NotFound",
    "StaleHead",
    "Unauthorized",
    "Unavailable",
    "problem_of",
]


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    reason: str


@dataclass
class GoldtrailError(Exception):
    """A refused request: ``status``, the problem's ``code`` and ``detail``, and each
    ``errors`` item's field and reason (PROTOCOL.md §7)."""

    status: int
    code: str
    detail: str
    errors: list[FieldProblem] = field(default_factory=list)
    document: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.detail}"

    @property
    def field(self) -> str | None:
        """The first field the problem names, if any."""
        return self.errors[0].field if self.errors else None

    @property
    def reason(self) -> str:
        return self.errors[0].reason if self.errors else self.detail


class Invalid(GoldtrailError):
    """422, 413 or 415: the request itself is wrong; fix it before sending it again."""


class Unauthorized(GoldtrailError):
    """401: no API key, or not one Goldtrail knows."""


class Forbidden(GoldtrailError):
    """403: the rules do not let this partner do this (custody, roles, keys)."""


class NotFound(GoldtrailError):
    """404."""


class Conflict(GoldtrailError):
    """409: the ledger's state refuses it (a closed lot, a pending transfer, …)."""


class StaleHead(Conflict):
    """409 ``chain.stale_prev``: the lot moved; ``head`` is its head now."""

    @property
    def head(self) -> str | None:
        head = self.document.get("head")
        return head if isinstance(head, str) else None


class Unavailable(GoldtrailError):
    """503 (or 408): not now; retry after ``retry_after`` seconds. Nothing was written."""

    @property
    def retry_after(self) -> float:
        return float(self.document.get("retry_after", 1))


_BY_STATUS: dict[int, type[GoldtrailError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    408: Unavailable,
    503: Unavailable,
}


def problem_of(response: httpx.Response) -> GoldtrailError:
    """The exception for a 4xx or 5xx answer."""
    try:
        document = response.json()
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    code = str(document.get("code", f"http.{response.status_code}"))
    errors = [
        FieldProblem(str(item.get("field")), str(item.get("reason")))
        for item in document.get("errors") or []
        if isinstance(item, dict)
    ]
    if "Retry-After" in response.headers:
        document.setdefault("retry_after", response.headers["Retry-After"])
    kind = _BY_STATUS.get(
        response.status_code, Invalid if response.status_code < 500 else GoldtrailError
    )
    if code == "chain.stale_prev":
        kind = StaleHead
    return kind(
        status=response.status_code,
        code=code,
        detail=str(document.get("detail", response.text[:200])),
        errors=errors,
        document=document,
    )
