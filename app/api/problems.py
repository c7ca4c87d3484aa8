"""RFC 9457 problem+json for every error, mapped in one place.

``describe`` turns any error the service raises into a problem document; the
exception handlers send it as the response, and the batch endpoint puts it in
the result of the one item that failed.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from app.domain.rules import RuleViolation
from app.ledger.errors import FieldError, InvalidSignature, LedgerError
from app.services.errors import ServiceError

__all__ = [
    "MEDIA_TYPE",
    "Problem",
    "describe",
    "install_problem_handlers",
    "problem",
    "send_closing",
]

log = logging.getLogger("goldtrail.api")

MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    code: str
    title: str
    detail: str
    errors: list[dict[str, str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] | None = None

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"urn:goldtrail:problem:{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            "errors": self.errors,
        }
        if instance is not None:
            body["instance"] = instance
        body.update(self.extra)
        return body

    def response(self, request: Request | None) -> JSONResponse:
        return JSONResponse(
            self.body(None if request is None else request.url.path),
            status_code=self.status,
            media_type=MEDIA_TYPE,
            headers=self.headers,
        )


async def send_closing(
    send: Send, problem: Problem, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Answer ``problem`` at the ASGI level and close the connection: for middleware that
    stops reading a request body midway (too large, too slow), before any route runs."""
    body = json.dumps(problem.body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": problem.status,
            "headers": [
                (b"content-type", MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def problem(
    request: Request | None,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return Problem(status, code, title, detail, errors or [], extra, headers).response(request)


def _loc(loc: tuple[Any, ...]) -> str:
    """``("body", "public_keys", 0)`` → ``public_keys[0]``, as the ledger names fields."""
    path = ""
    for part in loc:
        if part == "body":
            continue
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or "body"


def _validation(exc: RequestValidationError) -> Problem:
    errors = [{"field": _loc(tuple(e["loc"])), "reason": e["msg"]} for e in exc.errors()]
    first = errors[0] if errors else {"field": "body", "reason": "invalid"}
    return Problem(
        422, "request.invalid", "Invalid request", f"{first['field']}: {first['reason']}", errors
    )


def _service(exc: ServiceError) -> Problem:
    errors = [{"field": exc.field, "reason": exc.detail}] if exc.field else []
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status == 503:
        headers = {"Retry-After": str(max(1, math.ceil(float(exc.extra.get("retry_after", 1)))))}
    return Problem(
        exc.status,
        exc.code,
        exc.code.replace(".", " ").replace("_", " ").capitalize(),
        exc.detail,
        errors,
        dict(exc.extra),
        headers,
    )


def describe(exc: BaseException) -> Problem:
    """The problem document for ``exc``; unexpected errors are logged and said to be ours."""
    if isinstance(exc, RequestValidationError):
        return _validation(exc)
    if isinstance(exc, RuleViolation):
        return Problem(
            exc.status,
            exc.rule,
            "Rule violated",
            str(exc),
            [{"field": exc.field, "reason": exc.reason}],
            {"rule": exc.rule, **({"numbers": exc.numbers} if exc.numbers else {})},
        )
    if isinstance(exc, FieldError):
        return Problem(
            422,
            "field.invalid",
            "Invalid field",
            str(exc),
            [{"field": exc.field, "reason": exc.reason}],
        )
    if isinstance(exc, InvalidSignature):
        return Problem(
            422,
            "signature.invalid",
            "Signature does not verify",
            str(exc),
            [{"field": "signature", "reason": str(exc)}],
        )
    if isinstance(exc, ServiceError):
        return _service(exc)
    if isinstance(exc, LedgerError):
        return Problem(422, "ledger.refused", "Refused", str(exc))
    if isinstance(exc, StarletteHTTPException):
        return Problem(
            exc.status_code,
            f"http.{exc.status_code}",
            str(exc.detail),
            str(exc.detail),
            headers=getattr(exc, "headers", None),
        )
    if isinstance(exc, IntegrityError):
        log.warning("integrity error (a concurrent writer won): %s", exc)
        return Problem(
            409,
            "ledger.conflict",
            "Conflict",
            "a concurrent request changed the same record; read the lot again and retry",
        )
    if isinstance(exc, DataError):
        log.warning("the database refused a value: %s", exc)
        return Problem(
            422,
            "request.unstorable",
            "Invalid value",
            "the request holds a value the database cannot store",
            [{"field": "body", "reason": "a value the database cannot store"}],
        )
    if isinstance(exc, OperationalError):
        log.error("database unavailable: %s", exc)
        return Problem(
            503,
            "database.unavailable",
            "Database unavailable",
            "the database did not answer in time; retry later",
            headers={"Retry-After": "1"},
        )
    log.error("unhandled error", exc_info=exc)
    return Problem(500, "internal", "Internal error", "the service failed; nothing was appended")


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    problem = describe(exc)
    if problem.status == 405:
        # Starlette names only the methods of the first route matching the path; a path
        # served by two routes (GET and POST /v1/lots/{lot}/events) allows both.
        problem = replace(problem, headers={"Allow": ", ".join(_allowed_methods(request))})
    return problem.response(request)


def _allowed_methods(request: Request) -> list[str]:
    paths: dict[str, Any] = request.app.openapi().get("paths", {})
    allowed = {
        method.upper()
        for template, operations in paths.items()
        if _template(template).fullmatch(request.url.path)
        for method in operations
    }
    return sorted(allowed | ({"HEAD"} if "GET" in allowed else set()))


@lru_cache(maxsize=256)
def _template(path: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)))


def install_problem_handlers(app: FastAPI) -> None:
    for kind in (
        RequestValidationError,
        RuleViolation,
        FieldError,
        InvalidSignature,
        ServiceError,
        LedgerError,
        StarletteHTTPException,
        IntegrityError,
        DataError,
        OperationalError,
        Exception,
    ):
        app.add_exception_handler(kind, _handle)
