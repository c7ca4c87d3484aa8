"""Lots: post a signed event, read the state, page through events, export and verify."""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request, status
from fastapi.responses import JSONResponse, Response
from starlette.routing import Route

from app.api import answers
from app.api.deps import (
    ContextDep,
    ReaderDep,
    arrival,
    in_database,
    json_body,
    partner_of,
)
from app.api.examples import EVENT_EXAMPLE
from app.api.hot import HotRoute, invalid_string
from app.api.openapi import signed_post
from app.db import read_transaction
from app.ledger.events import LOT_ID, PARTNER_ID
from app.models import repository
from app.models.schemas import AcceptedOut, EntryOut, EventPage, LotOut, LotPage, VerifyOut
from app.services import chains, epcis, events, genealogy, log, passport
from app.services.context import LedgerContext
from app.services.events import require_lot

router = APIRouter(prefix="/v1/lots", tags=["lots"])

LOT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
LotId = Annotated[str, Path(max_length=64, pattern=LOT_ID_PATTERN)]

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event", "signature"],
    "additionalProperties": False,
    "properties": {
        "signature": {
            "type": "string",
            "pattern": "^[A-Za-z0-9+/]{85}[AQgw]==$",
            "description": "Ed25519 signature over the event's RFC 8785 bytes, base64",
        },
        "event": {
            "type": "object",
            "description": "A goldtrail.event.v1 object (docs/PROTOCOL.md §3)",
            "required": [
                "type",
                "lot",
                "partner",
                "key",
                "stage",
                "action",
                "occurred_at",
                "data",
                "prev",
            ],
            "additionalProperties": False,
            "properties": {
                "type": {"const": "goldtrail.event.v1"},
                "lot": {"type": "string", "pattern": LOT_ID.pattern},
                "partner": {"type": "string", "pattern": PARTNER_ID.pattern},
                "key": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                "stage": {"enum": ["exploration", "mining", "smelting", "circulation", "sale"]},
                "action": {"type": "string"},
                "occurred_at": {"type": "string", "format": "date-time"},
                "data": {"type": "object"},
                "prev": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
            },
        },
    },
}


@router.post(
    "/{lot_id}/events",
    response_model=AcceptedOut,
    status_code=status.HTTP_201_CREATED,
    summary="Append a signed event to a lot (idempotent: a repeat answers 200)",
    responses={200: {"model": AcceptedOut, "description": "This event was already accepted"}},
    openapi_extra=signed_post(ENVELOPE_SCHEMA, EVENT_EXAMPLE),
)
async def post_event(lot_id: LotId, request: Request) -> JSONResponse:
    # No dependencies here: resolving them cost as much as the rest of the request.
    ctx: LedgerContext = request.app.state.context
    arriving = arrival(request)
    try:
        partner = await partner_of(request)
        body = await json_body(request)
        submission = await in_database(
            ctx, partial(events.prepare_event, ctx, partner=partner, lot_id=lot_id, envelope=body)
        )
        (outcome,) = await arriving.submit([submission])
    finally:
        arriving.leave()
    accepted = await in_database(ctx, partial(events.accepted_event, ctx, outcome))
    return JSONResponse(
        answers.accepted_event(accepted),
        status_code=status.HTTP_201_CREATED if accepted.created else status.HTTP_200_OK,
    )


async def post_event_fast(request: Request) -> JSONResponse:
    """``post_event`` as a plain Starlette endpoint, ahead of FastAPI's router (see
    ``app.main``): the hottest route skips FastAPI's per-request machinery, which cost a
    tenth of an append. The FastAPI route above stays for the OpenAPI document."""
    lot_id = request.path_params["lot_id"]
    if len(lot_id) > _LOT_ID_MAX or not _LOT_ID.fullmatch(lot_id):
        raise invalid_string(
            "string_pattern_mismatch",
            "path",
            "lot_id",
            f"String should match pattern '{LOT_ID_PATTERN}'",
            lot_id,
        )
    return await post_event(lot_id, request)


_LOT_ID = re.compile(LOT_ID_PATTERN)
_LOT_ID_MAX = 64


def hot_route() -> Route:
    """``POST /v1/lots/{lot_id}/events`` for ``app.main`` to put ahead of FastAPI's routers."""
    return HotRoute("/v1/lots/{lot_id}/events", post_event_fast, methods=["POST"])


@router.get("", response_model=LotPage, summary="Every lot, paged by id (auditors and admin)")
def list_lots(
    _: ReaderDep,
    ctx: ContextDep,
    after: Annotated[
        str | None, Query(max_length=64, pattern=LOT_ID_PATTERN, description="last id seen")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> LotPage:
    with read_transaction(ctx.engine) as conn:
        rows = repository.list_lots(conn, after=after, limit=limit)
    return LotPage(
        lots=[LotOut.of(row) for row in rows],
        next_after=rows[-1].lot if len(rows) == limit else None,
    )


@router.get("/{lot_id}", response_model=LotOut, summary="A lot's current state (public)")
def get_lot(lot_id: LotId, ctx: ContextDep) -> LotOut:
    with read_transaction(ctx.engine) as conn:
        return LotOut.of(require_lot(conn, lot_id))


@router.get(
    "/{lot_id}/events", response_model=EventPage, summary="A lot's events, in order (public)"
)
def list_events(
    lot_id: LotId,
    ctx: ContextDep,
    after: Annotated[int, Query(ge=-1, le=2**31, description="last lot_seq already seen")] = -1,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EventPage:
    with read_transaction(ctx.engine) as conn:
        require_lot(conn, lot_id)
        page = repository.events_of_lot(conn, lot_id, after=after, limit=limit)
    return EventPage(
        lot=lot_id,
        events=[EntryOut.of(entry) for _, entry in page],
        next_after=page[-1][0] if len(page) == limit else None,
    )


@router.get(
    "/{lot_id}/export",
    summary="The lot's chain, registry entries and log proofs, for offline verification",
)
def export(lot_id: LotId, ctx: ContextDep) -> dict[str, Any]:
    return log.proven(
        ctx,
        lambda conn, checkpoint: chains.export_lot(
            conn, lot_id, service_key=ctx.service_key.public, checkpoint=checkpoint
        ),
    )


@router.get(
    "/{lot_id}/epcis",
    summary="The lot's history as a GS1 EPCIS 2.0 document (public)",
    description="ObjectEvents for the lot's own steps and TransformationEvents for the "
    "transformations that made or took from it, with CBV business steps and dispositions; each "
    "event carries, under the `gt:` extension namespace, the members of the signed Goldtrail "
    "body and its ledger entry (hash, signature, receipt), so that it stays verifiable. "
    "`scope=ancestry` gives every entry of the lot's ancestry too. Mapping: docs/EPCIS.md.",
    response_class=JSONResponse,
    responses={200: {"content": {"application/ld+json": {}}}},
)
def get_epcis(
    lot_id: LotId,
    ctx: ContextDep,
    scope: Annotated[Literal["chain", "ancestry"], Query()] = "chain",
) -> JSONResponse:
    document = epcis.lot_history(ctx, lot_id, scope=scope)
    return JSONResponse(document, media_type="application/ld+json")


@router.post("/{lot_id}/verify", response_model=VerifyOut, summary="Verify the lot's chain now")
def verify(lot_id: LotId, ctx: ContextDep) -> Any:
    with read_transaction(ctx.engine) as conn:
        return chains.verify_lot(conn, lot_id, service_key=ctx.service_key.public).to_json()


@router.get(
    "/{lot_id}/genealogy",
    summary="The lot's ancestors and descendants through splits and merges (public)",
)
def get_genealogy(
    lot_id: LotId,
    ctx: ContextDep,
    direction: Annotated[Literal["ancestors", "descendants", "both"], Query()] = "both",
    depth: Annotated[int, Query(ge=1, le=64, description="transformations to walk")] = 8,
    limit: Annotated[int, Query(ge=1, le=10_000, description="edges per direction")] = 1000,
) -> dict[str, Any]:
    with read_transaction(ctx.engine) as conn:
        found = genealogy.genealogy(conn, lot_id, direction=direction, depth=depth, limit=limit)
    return {
        "lot": lot_id,
        "direction": direction,
        "depth": depth,
        "nodes": [LotOut.of(state).model_dump() | {"depth": at} for state, at in found.nodes],
        "edges": [{"from": e.parent, "to": e.child, "seq": e.seq} for e in found.edges],
        "truncated": found.truncated,
    }


@router.get(
    "/{lot_id}/metrics",
    summary="Green metrics replayed from the signed entries of the lot's genealogy (public)",
)
def get_metrics(lot_id: LotId, ctx: ContextDep) -> dict[str, Any]:
    with read_transaction(ctx.engine) as conn:
        return genealogy.metrics(conn, lot_id, tolerance=ctx.settings.assay_tolerance)


@router.get(
    "/{lot_id}/genealogy/export",
    summary="Every signed entry behind the lot's metrics, for offline verification (public)",
)
def export_genealogy(lot_id: LotId, ctx: ContextDep) -> dict[str, Any]:
    return log.proven(
        ctx,
        lambda conn, checkpoint: genealogy.export_genealogy(
            conn,
            lot_id,
            service_key=ctx.service_key.public,
            tolerance=ctx.settings.assay_tolerance,
            checkpoint=checkpoint,
        ),
    )


@router.get(
    "/{lot_id}/passport",
    summary="The lot's green passport: one signed, self-verifying document (public)",
    description=(
        "Without `checkpoint`, the passport is proven against a checkpoint that covers the "
        "lot's latest entries (signed now if none does yet); it may change as the log grows "
        "(`Cache-Control: no-cache`, with an `ETag`). With `checkpoint=N` (the size of a "
        "signed checkpoint) it is the lot as of that tree, the same bytes for ever "
        "(`Cache-Control: immutable`). `Content-Location` names the pinned URL."
    ),
)
def get_passport(
    lot_id: LotId,
    ctx: ContextDep,
    checkpoint: Annotated[
        int | None,
        Query(ge=1, le=2**53, description="Pin the passport to the checkpoint of this tree size"),
    ] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    served = passport.serve(ctx, lot_id, checkpoint_size=checkpoint)
    pinned = f"/v1/lots/{lot_id}/passport?checkpoint={served.size}"
    headers = {
        "ETag": served.etag,
        "Content-Location": pinned,
        "Cache-Control": "public, max-age=31536000, immutable" if checkpoint else "no-cache",
    }
    if if_none_match is not None and served.etag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(served.body, media_type="application/json", headers=headers)


@router.get(
    "/{lot_id}/passport/credential",
    summary="The passport as a W3C Verifiable Credential 2.0, eddsa-jcs-2022 (public)",
)
def get_credential(lot_id: LotId, ctx: ContextDep) -> JSONResponse:
    credential = passport.credential(ctx, passport.build(ctx, lot_id))
    return JSONResponse(credential, media_type="application/vc+ld+json")
