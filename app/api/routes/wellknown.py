"""/.well-known/did.json: the issuer's DID document, when credentials are issued as a did:web."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import ContextDep
from app.ledger.documents.credentials import GOLDTRAIL_CREDENTIALS_CONTEXT
from app.services import passport
from app.services.errors import NotFound

router = APIRouter(tags=["passport"])


@router.get(
    "/contexts/credentials/v1",
    summary="The JSON-LD context of passport credentials (https://w3id.org/goldtrail/credentials/v1)",
    response_class=JSONResponse,
    responses={200: {"content": {"application/ld+json": {"schema": {"type": "object"}}}}},
)
def credentials_context() -> JSONResponse:
    return JSONResponse(
        GOLDTRAIL_CREDENTIALS_CONTEXT,
        media_type="application/ld+json",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/.well-known/did.json", summary="The did:web document naming the service key")
def did_json(ctx: ContextDep) -> dict[str, Any]:
    if ctx.settings.issuer_did is None:
        raise NotFound(
            "did.not_configured",
            "credentials are issued by a did:key; set GOLDTRAIL_ISSUER_DID for a did:web",
        )
    return passport.did_document(ctx)
