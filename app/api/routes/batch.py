"""POST /v1/batch: many signed events and transformations in one request."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api import answers
from app.api.deps import arrival, in_database, json_body, partner_of
from app.api.examples import BATCH_EXAMPLE
from app.api.limits import BATCH_LIMITS, MAX_BATCH_ITEMS
from app.api.openapi import signed_post
from app.api.problems import describe
from app.api.routes.lots import ENVELOPE_SCHEMA as EVENT_ENVELOPE
from app.api.routes.transformations import ENVELOPE_SCHEMA as TRANSFORMATION_ENVELOPE
from app.services import batches
from app.services.context import LedgerContext
from app.services.ingest import Accepted, Submission, Transformed

router = APIRouter(prefix="/v1/batch", tags=["ingest"])

BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["items"],
    "additionalProperties": False,
    "properties": {
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BATCH_ITEMS,
            "items": {"oneOf": [EVENT_ENVELOPE, TRANSFORMATION_ENVELOPE]},
        }
    },
}
_RESULT = {
    "type": "object",
    "required": ["index", "status"],
    "properties": {
        "index": {"type": "integer", "description": "The item's position in the request"},
        "status": {"type": "integer", "description": "201 appended, 200 a repeat, else 4xx"},
        "kind": {"enum": ["event", "transformation"]},
        "problem": {"$ref": "#/components/schemas/Problem"},
    },
    "additionalProperties": True,
    "description": "An accepted item carries what POST /v1/lots/{lot}/events or "
    "POST /v1/transformations answers; a refused one its problem",
}
BATCH_ANSWER: dict[str, Any] = {
    "type": "object",
    "required": ["accepted", "repeated", "refused", "results"],
    "properties": {
        "accepted": {"type": "integer"},
        "repeated": {"type": "integer"},
        "refused": {"type": "integer"},
        "results": {"type": "array", "items": _RESULT},
    },
}


def _result(index: int, answer: batches.Answer) -> dict[str, Any]:
    if isinstance(answer, Accepted):
        status = 201 if answer.created else 200
        return {"index": index, "status": status, "kind": "event"} | answers.accepted_event(answer)
    if isinstance(answer, Transformed):
        status = 201 if answer.created else 200
        return {
            "index": index,
            "status": status,
            "kind": "transformation",
        } | answers.transformed(answer)
    problem = describe(answer)
    return {"index": index, "status": problem.status, "problem": problem.body()}


@router.post(
    "",
    summary=f"Append up to {MAX_BATCH_ITEMS} signed events and transformations, in order",
    description=(
        "Each item is an event envelope or a transformation envelope, answered in order with "
        "its own status: 201 appended, 200 already accepted, or a 4xx with its problem. Items "
        "are appended contiguously and in order, so an item may extend a chain an earlier item "
        "moved; a well-formed item that its signature, keys or the rules refuse refuses only "
        "itself (an item that depended on it is refused in turn). A malformed item (a missing "
        "or invalid member) makes the whole request malformed: 422 naming `items[i].field`, "
        "nothing written. The request answers 200 once every accepted item is committed."
    ),
    responses={200: {"content": {"application/json": {"schema": BATCH_ANSWER}}}},
    openapi_extra=signed_post(BATCH_SCHEMA, BATCH_EXAMPLE),
)
async def post_batch(request: Request) -> JSONResponse:
    # No dependencies here, as for the single ingest routes.
    ctx: LedgerContext = request.app.state.context
    arriving = arrival(request)
    try:
        partner = await partner_of(request)
        items = batches.items_of(await json_body(request, BATCH_LIMITS), max_items=MAX_BATCH_ITEMS)
        prepared = await in_database(ctx, partial(batches.prepare_items, ctx, partner, items))
        outcomes = await arriving.submit([p for p in prepared if isinstance(p, Submission)])
    finally:
        arriving.leave()
    results = await in_database(ctx, partial(batches.answers, ctx, prepared, outcomes))
    documents = [_result(index, answer) for index, answer in enumerate(results)]
    accepted = sum(1 for d in documents if d["status"] == 201)
    repeated = sum(1 for d in documents if d["status"] == 200)
    return JSONResponse(
        {
            "accepted": accepted,
            "repeated": repeated,
            "refused": len(documents) - accepted - repeated,
            "results": documents,
        }
    )
