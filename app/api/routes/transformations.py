"""Transformations: post a signed split, merge, melt or fabrication of lots."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from app.api.answers import transformed
from app.api.deps import arrival, in_database, json_body, partner_of
from app.api.examples import TRANSFORMATION_EXAMPLE
from app.api.limits import TRANSFORMATION_LIMITS
from app.api.openapi import signed_post
from app.ledger.events import LOT_ID, PARTNER_ID
from app.ledger.provenance.transformations import TRANSFORMATION_ACTIONS, TRANSFORMATION_TYPE
from app.models.schemas import TransformedOut
from app.services import transformations
from app.services.context import LedgerContext

router = APIRouter(prefix="/v1/transformations", tags=["transformations"])

_QUANTITY = {"type": "number", "exclusiveMinimum": 0}

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["transformation", "signature"],
    "additionalProperties": False,
    "properties": {
        "signature": {
            "type": "string",
            "pattern": "^[A-Za-z0-9+/]{85}[AQgw]==$",
            "description": "Ed25519 signature over the transformation's RFC 8785 bytes, base64",
        },
        "transformation": {
            "type": "object",
            "description": f"A {TRANSFORMATION_TYPE} object (docs/PROTOCOL.md §13)",
            "required": [
                "type",
                "partner",
                "key",
                "stage",
                "action",
                "occurred_at",
                "inputs",
                "outputs",
                "data",
            ],
            "additionalProperties": False,
            "properties": {
                "type": {"const": TRANSFORMATION_TYPE},
                "partner": {"type": "string", "pattern": PARTNER_ID.pattern},
                "key": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                "stage": {"enum": ["mining", "smelting", "circulation"]},
                "action": {"enum": list(TRANSFORMATION_ACTIONS)},
                "occurred_at": {"type": "string", "format": "date-time"},
                "inputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["lot", "prev"],
                        "additionalProperties": False,
                        "properties": {
                            "lot": {"type": "string", "pattern": LOT_ID.pattern},
                            "prev": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                            "fine_g": _QUANTITY,
                        },
                    },
                },
                "outputs": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["lot", "form", "mass_g", "fineness"],
                        "additionalProperties": False,
                        "properties": {
                            "lot": {"type": "string", "pattern": LOT_ID.pattern},
                            "form": {"type": "string"},
                            "mass_g": _QUANTITY,
                            "fineness": {**_QUANTITY, "maximum": 1000},
                        },
                    },
                },
                "data": {"type": "object", "description": "Facts (docs/PROTOCOL.md §14)"},
            },
        },
    },
}


@router.post(
    "",
    response_model=TransformedOut,
    status_code=status.HTTP_201_CREATED,
    summary="Append a signed transformation of lots (idempotent: a repeat answers 200)",
    responses={200: {"model": TransformedOut, "description": "Already accepted"}},
    openapi_extra=signed_post(ENVELOPE_SCHEMA, TRANSFORMATION_EXAMPLE),
)
async def post_transformation(request: Request) -> Any:
    # No dependencies here: resolving them cost as much as the rest of the request.
    ctx: LedgerContext = request.app.state.context
    arriving = arrival(request)
    try:
        partner = await partner_of(request)
        body = await json_body(request, TRANSFORMATION_LIMITS)
        submission = await in_database(
            ctx,
            partial(transformations.prepare_transformation, ctx, partner=partner, envelope=body),
        )
        (outcome,) = await arriving.submit([submission])
    finally:
        arriving.leave()
    done = await in_database(ctx, partial(transformations.accepted_transformation, ctx, outcome))
    return JSONResponse(
        transformed(done),
        status_code=status.HTTP_201_CREATED if done.created else status.HTTP_200_OK,
    )
