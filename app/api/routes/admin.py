"""Administration: registering partners and their keys, revoking keys, rotating API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from app.api.deps import AdminDep, ContextDep, model_body
from app.models.schemas import (
    KeyCreate,
    KeyOut,
    KeyRevoke,
    PartnerCreate,
    PartnerCreated,
    PartnerOut,
)
from app.services import registry

router = APIRouter(prefix="/v1/admin", tags=["admin"])

PartnerId = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")]
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


@router.post(
    "/partners",
    status_code=status.HTTP_201_CREATED,
    response_model=PartnerCreated,
    summary="Register a partner with its roles and Ed25519 public keys",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PartnerCreate.model_json_schema()}},
        }
    },
)
def create_partner(
    _: AdminDep,
    ctx: ContextDep,
    body: Annotated[PartnerCreate, Depends(model_body(PartnerCreate))],
) -> PartnerCreated:
    created = registry.register_partner(
        ctx,
        partner_id=body.id,
        name=body.name,
        roles=body.roles,
        country=body.country,
        public_keys=body.public_keys,
    )
    return PartnerCreated(
        partner=PartnerOut.of(created.partner),
        api_key=created.api_key,
        keys=[KeyOut.of(key) for key in created.keys],
    )


@router.post(
    "/partners/{partner_id}/keys",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyOut,
    summary="Register another public key for a partner",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": KeyCreate.model_json_schema()}},
        }
    },
)
def add_key(
    _: AdminDep,
    ctx: ContextDep,
    partner_id: PartnerId,
    body: Annotated[KeyCreate, Depends(model_body(KeyCreate))],
) -> KeyOut:
    return KeyOut.of(registry.add_key(ctx, partner_id=partner_id, public_key=body.public_key))


@router.post(
    "/partners/{partner_id}/keys/{key_id}/revoke",
    response_model=KeyOut,
    summary="Revoke a partner's key; events accepted before stay valid",
)
def revoke_key(
    _: AdminDep,
    ctx: ContextDep,
    partner_id: PartnerId,
    key_id: KeyId,
    body: Annotated[KeyRevoke, Depends(model_body(KeyRevoke, optional=True))],
) -> KeyOut:
    return KeyOut.of(
        registry.revoke_key(ctx, partner_id=partner_id, key_id=key_id, reason=body.reason)
    )


@router.post(
    "/partners/{partner_id}/api-key",
    summary="Issue a new API key for a partner; the old one stops working",
)
def rotate_api_key(_: AdminDep, ctx: ContextDep, partner_id: PartnerId) -> dict[str, str]:
    return {"partner": partner_id, "api_key": registry.rotate_api_key(ctx, partner_id=partner_id)}
