"""RFC 9457 problem+json for every error, mapped in one place."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.domain.rules import RuleViolation
from app.ledger.errors import FieldError, InvalidSignature, LedgerError
from app.services.errors import ServiceError

__all__ = ["install_problem_handlers", "problem"]

log = logging.getLogger("goldtrail.api")

MEDIA_TYPE = "application/problem+json"


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
    body: dict[str, Any] = {
        "type": f"urn:goldtrail:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "errors": errors or [],
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _loc(loc: tuple[Any, ...]) -> str:
    """``("body", "public_keys", 0)`` → ``public_keys[0]``, as the ledger names fields."""
    path = ""
    for part in loc:
        if part == "body":
            continue
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or "body"


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": _loc(tuple(e["loc"])), "reason": e["msg"]} for e in exc.errors()]
    first = errors[0] if errors else {"field": "body", "reason": "invalid"}
    return problem(
        request,
        status=422,
        code="request.invalid",
        title="Invalid request",
        detail=f"{first['field']}: {first['reason']}",
        errors=errors,
    )


async def _field(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FieldError)
    return problem(
        request,
        status=422,
        code="field.invalid",
        title="Invalid field",
        detail=str(exc),
        errors=[{"field": exc.field, "reason": exc.reason}],
    )


async def _signature(request: Request, exc: Exception) -> JSONResponse:
    return problem(
        request,
        status=422,
        code="signature.invalid",
        title="Signature does not verify",
        detail=str(exc),
        errors=[{"field": "signature", "reason": str(exc)}],
    )


async def _rule(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RuleViolation)
    return problem(
        request,
        status=exc.status,
        code=exc.rule,
        title="Rule violated",
        detail=str(exc),
        errors=[{"field": exc.field, "reason": exc.reason}],
        rule=exc.rule,
        **({"numbers": exc.numbers} if exc.numbers else {}),
    )


async def _service(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    errors = [{"field": exc.field, "reason": exc.detail}] if exc.field else []
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status == 503:
        headers = {"Retry-After": str(max(1, math.ceil(float(exc.extra.get("retry_after", 1)))))}
    return problem(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.code.replace(".", " ").replace("_", " ").capitalize(),
        detail=exc.detail,
        errors=errors,
        headers=headers,
        **exc.extra,
    )


async def _ledger(request: Request, exc: Exception) -> JSONResponse:
    return problem(request, status=422, code="ledger.refused", title="Refused", detail=str(exc))


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(
        request,
        status=exc.status_code,
        code=f"http.{exc.status_code}",
        title=str(exc.detail),
        detail=str(exc.detail),
        headers=getattr(exc, "headers", None),
    )


async def _integrity(request: Request, exc: Exception) -> JSONResponse:
    log.warning("integrity error (a concurrent writer won): %s", exc)
    return problem(
        request,
        status=409,
        code="ledger.conflict",
        title="Conflict",
        detail="a concurrent request changed the same record; read the lot again and retry",
    )


async def _data(request: Request, exc: Exception) -> JSONResponse:
    log.warning("the database refused a value: %s", exc)
    return problem(
        request,
        status=422,
        code="request.unstorable",
        title="Invalid value",
        detail="the request holds a value the database cannot store",
        errors=[{"field": "body", "reason": "a value the database cannot store"}],
    )


async def _operational(request: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable: %s", exc)
    return problem(
        request,
        status=503,
        code="database.unavailable",
        title="Database unavailable",
        detail="the database did not answer in time; retry later",
        headers={"Retry-After": "1"},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem(
        request,
        status=500,
        code="internal",
        title="Internal error",
        detail="the service failed; nothing was appended",
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(RuleViolation, _rule)
    app.add_exception_handler(FieldError, _field)
    app.add_exception_handler(InvalidSignature, _signature)
    app.add_exception_handler(ServiceError, _service)
    app.add_exception_handler(LedgerError, _ledger)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(DataError, _data)
    app.add_exception_handler(OperationalError, _operational)
    app.add_exception_handler(Exception, _unexpected)
