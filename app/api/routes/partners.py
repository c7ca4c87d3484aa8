"""A partner's own view of itself, and the public directory of partners and keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.api.deps import ContextDep, PartnerDep, ReaderDep, model_body
from app.api.routes.admin import KeyId, PartnerId
from app.db import read_transaction
from app.models import repository
from app.models.schemas import KeyOut, KeyRevoke, PartnerOut
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


@router.get("", response_model=list[PartnerOut], summary="Every partner (auditors and admin)")
def list_partners(_: ReaderDep, ctx: ContextDep) -> list[PartnerOut]:
    with read_transaction(ctx.engine) as conn:
        return [PartnerOut.of(row) for row in repository.list_partners(conn)]


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
