"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.api.deps import ContextDep
from app.migrate import is_at_head
from app.services import service_keys

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database answers, is migrated, and the signing key is loaded",
    responses={503: {"description": "Not ready: `checks` says what is missing"}},
)
def readyz(ctx: ContextDep) -> Any:
    checks: dict[str, str] = {}
    try:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
        checks["migrations"] = "ok" if is_at_head(ctx.engine) else "behind"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    checks["service_key"] = ctx.service_key.public.key_id
    ready = checks.get("database") == "ok" and checks.get("migrations") == "ok"
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get(
    "/v1/service/key",
    summary="The service's Ed25519 public key in force (also in every export)",
    description="After a rotation, the new key; `/v1/log/keys` lists every key (PROTOCOL.md §19).",
)
def service_key(ctx: ContextDep) -> dict[str, str]:
    public = service_keys.refresh(ctx).public
    return {"key_id": public.key_id, "public_key": public.b64}
