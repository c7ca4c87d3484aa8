"""The OpenAPI document as the server really answers: problem+json errors, bearer auth, media types.

FastAPI describes each route's success and a validation error in its own shape; Goldtrail
answers every error as an RFC 9457 problem (app/api/problems.py). This module rewrites the
generated document once, so that a client generated from it (and schemathesis) sees the
statuses and media types the server sends.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from app.models.schemas import Problem

__all__ = ["install_openapi", "json_body_of", "signed_post"]

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
"""The bearer scheme of app.api.deps, for routes that authenticate by themselves."""

PROBLEM_MEDIA = "application/problem+json"


def signed_post(schema: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` of an ingest route: it reads its JSON body itself (strictly, not
    through a model) and authenticates the partner itself, so both are declared here."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema, "example": example}},
        },
        "security": BEARER,
    }


def json_body_of(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` of a route that reads a model from its JSON body itself
    (``app.api.deps.model_body``): the body is required and has the model's schema."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


_ALWAYS = {
    "404": "Not found: no such lot, partner, key, entry, checkpoint or proof (`code` says which)",
    "422": "A field is invalid or a rule refuses the request (`errors` names the field)",
    "500": "The stored ledger contradicts itself (changed behind the service's back)",
    "503": "Not available yet or the database is unreachable; retry (see `Retry-After`)",
}
_AUTH = {
    "401": "No credentials, or an unknown token (`auth.required`, `auth.invalid`)",
    "403": "The caller may not do this (`auth.admin_only`, `auth.partner_only`, ...)",
}
_WRITE = {
    "408": "The request body arrived too slowly (`body.timeout`)",
    "409": "Conflicts with the ledger: a stale head, a closed lot, an existing id (`code`)",
    "413": "The body is larger than the route accepts (`body.too_large`)",
    "415": "The body is not declared `application/json` (`request.media_type`)",
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, schema in schemas["Problem"].pop("$defs", {}).items():
        schemas.setdefault(name, schema)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A partner's API key, or the admin token",
    }
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            _describe_errors(path, method, operation)
    return doc


def _describe_errors(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    errors = dict(_ALWAYS)
    if operation.get("security"):  # the bearer scheme of app.api.deps, or BEARER
        errors |= _AUTH
    if method in ("post", "put"):
        errors |= _WRITE
    for status, description in errors.items():
        if status in responses and "text/html" in responses[status].get("content", {}):
            continue  # the page answers its own 404 as a page
        if status in responses and status != "422":
            responses[status].setdefault("content", {})[PROBLEM_MEDIA] = {
                "schema": {"$ref": "#/components/schemas/Problem"}
            }
            continue
        responses[status] = _problem(description)


def install_openapi(app: FastAPI) -> None:
    """Serve the rewritten document at /openapi.json (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
