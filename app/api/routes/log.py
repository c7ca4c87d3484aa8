"""The transparency log: checkpoints, its key, entries, proofs and receipts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from app.api.deps import ContextDep, ReaderDep
from app.services import audit, log, service_keys
from app.services.errors import ServiceError

router = APIRouter(prefix="/v1/log", tags=["transparency log"])

MAX_INDEX = 2**53
Index = Annotated[int, Query(ge=0, le=MAX_INDEX, description="A leaf index (ledger seq)")]
Size = Annotated[int, Query(ge=1, le=MAX_INDEX, description="A tree size")]
NOTE: dict[str, Any] = {"content": {"text/plain": {}}}


class NoSuchProof(ServiceError):
    """The request names a proof that cannot exist (a leaf outside the tree, a tree that
    shrinks): 404, like a proof beyond the tree."""

    status = 404


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    responses={200: NOTE},
    summary="The latest signed checkpoint (C2SP tlog-checkpoint)",
)
def checkpoint(ctx: ContextDep) -> str:
    return log.issue_checkpoint(ctx).note


@router.get(
    "/checkpoints/{size}",
    response_class=PlainTextResponse,
    responses={200: NOTE},
    summary="A checkpoint issued earlier, by its tree size",
)
def checkpoint_at(ctx: ContextDep, size: Annotated[int, Path(ge=0, le=MAX_INDEX)]) -> str:
    return log.stored_checkpoint(ctx, size).note


@router.get(
    "/key",
    response_class=PlainTextResponse,
    responses={200: NOTE},
    summary="The log's verifier key in force, <name>+<key id>+<base64 key> (C2SP signed-note)",
    description="The key that signs checkpoints now; `/v1/log/keys` lists every key the log "
    "has used since its first.",
)
def key(ctx: ContextDep) -> str:
    service_keys.refresh(ctx)
    return str(log.verifier(ctx)) + "\n"


@router.get(
    "/keys",
    summary="Every service key the log has used, and the first position each signs",
    description="The log's verifier keys in the order they were in force (PROTOCOL.md §19). "
    "A key announced by the `service_key` entry at seq `announced_seq` signs the entries "
    "from `first_position` on and the checkpoints of at least `first_position` entries; the "
    "checkpoint of exactly `first_position` entries (the handover) is co-signed by the key "
    "before it. Verify each announcement from a key you trust before trusting the next.",
)
def keys(ctx: ContextDep) -> dict[str, Any]:
    history = service_keys.published(ctx)
    return {"origin": ctx.settings.log_origin, "keys": history.to_json(ctx.settings.log_origin)}


@router.get("/entries/{index}", summary="One entry and its leaf")
def entry(ctx: ContextDep, index: Annotated[int, Path(ge=0, le=MAX_INDEX)]) -> dict[str, Any]:
    return log.entry(ctx, index)


@router.get(
    "/proof/inclusion",
    summary="RFC 9162 inclusion proof of a leaf in a tree size",
    description="404 `log.no_proof` if `index` is not below `size` (no such leaf in that tree), "
    "404 `log.beyond_tree` if `size` is beyond the tree.",
)
def inclusion(ctx: ContextDep, index: Index, size: Size) -> dict[str, Any]:
    if index >= size:
        raise NoSuchProof(
            "log.no_proof", f"index {index} is not below size {size}: no such leaf", field="index"
        )
    return log.inclusion(ctx, index=index, size=size)


@router.get(
    "/proof/consistency",
    summary="RFC 9162 consistency proof between two tree sizes",
    description="404 `log.no_proof` if `from` is larger than `to` (a log never shrinks), "
    "404 `log.beyond_tree` if `to` is beyond the tree.",
)
def consistency(
    ctx: ContextDep,
    old: Annotated[int, Query(alias="from", ge=1, le=MAX_INDEX)],
    new: Annotated[int, Query(alias="to", ge=1, le=MAX_INDEX)],
) -> dict[str, Any]:
    if old > new:
        raise NoSuchProof(
            "log.no_proof", f"from {old} is larger than to {new}: a log never shrinks", field="from"
        )
    return log.consistency(ctx, old=old, new=new)


@router.get("/receipts/{index}", summary="An entry with its inclusion proof and checkpoint")
def receipt(ctx: ContextDep, index: Annotated[int, Path(ge=0, le=MAX_INDEX)]) -> dict[str, Any]:
    return log.receipt(ctx, index)


@router.post("/audit", summary="Audit the whole log now (auditors and admin)")
def run_audit(_: ReaderDep, ctx: ContextDep) -> dict[str, Any]:
    service_keys.refresh(ctx)
    report = audit.run(
        ctx.engine, service_key=ctx.service_key.public, origin=ctx.settings.log_origin
    )
    return report.to_json()
