"""A partner's own view of itself, and the public directory of partners and keys."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from app.api.deps import ContextDep, PartnerDep, ReaderDep, model_body
from app.api.routes.admin import KeyId, PartnerId
from app.db import read_transaction
from app.ledger.events import LOT_ID, PARTNER_ID
from app.models import repository
from app.models.schemas import KeyOut, KeyRevoke, LotOut, LotPage, PartnerOut, PartnerPage
from app.services import registry
from app.services.errors import NotFound

router = APIRouter(prefix="/v1/partners", tags=["partners"])


@router.get("/me", summary="The calling partner, with its keys")
def me(partner: PartnerDep, ctx: ContextDep) -> dict[str, object]:
    with read_transaction(ctx.engine) as conn:
        keys = repository.keys_of_partner(conn, partner.id)
    return {
        "partner": PartnerOut.of(partner).model_dump(),
        "keys": [KeyOut.of(key).model_dump() for key in keys],
    }


@router.post(
    "/me/keys/{key_id}/revoke",
    response_model=KeyOut,
    summary="Revoke one of your own keys (for example when it is lost)",
)
def revoke_own_key(
    partner: PartnerDep,
    ctx: ContextDep,
    key_id: KeyId,
    body: Annotated[KeyRevoke, Depends(model_body(KeyRevoke, optional=True))],
) -> KeyOut:
    return KeyOut.of(
        registry.revoke_key(ctx, partner_id=partner.id, key_id=key_id, reason=body.reason)
    )


@router.get(
    "/me/lots",
    response_model=LotPage,
    summary="Lots you hold or are being sent; with held=ever, every lot whose chain you signed",
)
def my_lots(
    partner: PartnerDep,
    ctx: ContextDep,
    held: Annotated[
        Literal["now", "ever"],
        Query(description="now: held or pending to you; ever: also lots whose chain you signed"),
    ] = "ever",
    after: Annotated[
        str | None, Query(max_length=64, pattern=LOT_ID.pattern, description="last id seen")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> LotPage:
    with read_transaction(ctx.engine) as conn:
        rows = repository.lots_of_partner(
            conn, partner.id, ever=held == "ever", after=after, limit=limit
        )
    return LotPage(
        lots=[LotOut.of(row) for row in rows],
        next_after=rows[-1].lot if len(rows) == limit else None,
    )


@router.get(
    "", response_model=PartnerPage, summary="Every partner, paged by id (auditors and admin)"
)
def list_partners(
    _: ReaderDep,
    ctx: ContextDep,
    after: Annotated[
        str | None, Query(max_length=64, pattern=PARTNER_ID.pattern, description="last id seen")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> PartnerPage:
    with read_transaction(ctx.engine) as conn:
        rows = repository.list_partners(conn, after=after, limit=limit)
    return PartnerPage(
        partners=[PartnerOut.of(row) for row in rows],
        next_after=rows[-1].id if len(rows) == limit else None,
    )


@router.get(
    "/{partner_id}",
    summary="A partner's public identity and public keys (what a verifier needs)",
)
def public_partner(partner_id: PartnerId, ctx: ContextDep) -> dict[str, object]:
    with read_transaction(ctx.engine) as conn:
        partner = repository.partner_by_id(conn, partner_id)
        keys = repository.keys_of_partner(conn, partner_id)
    if partner is None:
        raise NotFound("partner.unknown", f"no partner {partner_id}", field="partner_id")
    return {
        "partner": PartnerOut.of(partner).model_dump(),
        "keys": [KeyOut.of(key).model_dump() for key in keys],
    }
