"""Binding to the physical piece (PROTOCOL.md §21): NFC tags and their taps, claims, bars.

``GET /t/{tag}`` is what a tag's URL opens: the verdict of that tap, in the reader's
language. Its JSON twin is ``GET /v1/tags/{tag}/tap``.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.requests import Request
from starlette.routing import Route

from app.api.deps import ContextDep, OptionalCaller, PartnerDep, in_database, model_body
from app.api.hot import HotRoute, invalid_string
from app.api.openapi import json_body_of
from app.api.pages.i18n import TAP_WORDS, choose
from app.api.pages.routes import TEMPLATES, page_url
from app.api.routes.lots import LotId
from app.models.schemas import ClaimIn, TagIn
from app.services import binding
from app.services.context import LedgerContext
from app.services.errors import Unauthorized

router = APIRouter(tags=["binding"])

TAG_ID_PATTERN = "^[0-9a-f]{16}$"
_PICC_MAX, _CMAC_MAX = 64, 32
TagId = Annotated[str, Path(pattern=TAG_ID_PATTERN, description="The tag's id")]
PiccData = Annotated[
    str | None,
    Query(max_length=_PICC_MAX, description="PICCData the tag wrote: 16 bytes, hex (AN12196)"),
]
Cmac = Annotated[
    str | None,
    Query(max_length=_CMAC_MAX, description="The SDMMAC the tag wrote: 8 bytes, hex"),
]


@router.post(
    "/v1/tags",
    status_code=201,
    summary="Register an NFC tag (NTAG 424 DNA) and get the keys to provision it with",
    description="The answer holds the tag's two SDM keys, once: write them onto the tag with "
    "its URL, then bind it to a lot with a signed `tag_bound` event naming `tag` and "
    "`tag_uid_digest`.",
    openapi_extra=json_body_of(TagIn),
)
def register_tag(
    partner: PartnerDep,
    ctx: ContextDep,
    body: Annotated[TagIn, Depends(model_body(TagIn))],
) -> dict[str, Any]:
    registered = binding.register_tag(ctx, partner, body.uid)
    return {
        "tag": registered.tag.id,
        "uid_digest": registered.tag.uid_digest,
        "url": registered.url,
        "keys": {
            "sdm_meta_read": registered.keys.meta_read.hex().upper(),
            "sdm_file_read": registered.keys.file_read.hex().upper(),
        },
        "registered_at": registered.tag.registered_at,
    }


@router.get(
    "/v1/tags/{tag_id}/tap",
    summary="Verify a tap of a tag (what the tag's URL carries) and say what it is",
    description="Each tap is accepted once: a counter no higher than one accepted before is "
    "a replay (a copied URL). The answer's `outcome` is genuine, replay, invalid or unknown.",
)
def tap_json(tag_id: TagId, ctx: ContextDep, picc_data: PiccData = None, cmac: Cmac = None) -> Any:
    return binding.tap(ctx, tag_id, picc_data, cmac).to_json()


@router.get(
    "/v1/tags/{tag_id}/taps",
    summary="A tag's taps (counter, time, outcome): for its registrant, its holder, auditors",
)
def tap_history(
    tag_id: TagId,
    ctx: ContextDep,
    caller: OptionalCaller,
    after: Annotated[int, Query(ge=0, le=2**53)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    if not caller.admin and caller.partner is None:
        raise Unauthorized("auth.required", "a partner API key is required", field="authorization")
    return binding.tap_history(ctx, caller.partner, tag_id, after=after, limit=limit)


@router.post(
    "/v1/lots/{lot_id}/claim",
    status_code=201,
    summary="Claim a piece with its one-time claim code",
    description="The first claim with the code printed with the piece is recorded in the log "
    "(a claim record the service signs); a second claim, or a code of another piece, is "
    "refused and counted on the piece's card. Refused claims are limited per piece.",
    openapi_extra=json_body_of(ClaimIn),
)
def claim(
    lot_id: LotId, ctx: ContextDep, body: Annotated[ClaimIn, Depends(model_body(ClaimIn))]
) -> dict[str, Any]:
    claimed = binding.claim(ctx, lot_id, body.code)
    return {"lot": claimed.lot, "claimed_at": claimed.claimed_at, "seq": claimed.seq}


@router.get("/v1/lots/{lot_id}/claim", summary="Whether the piece was claimed, and when")
def claim_status(lot_id: LotId, ctx: ContextDep) -> dict[str, Any]:
    return binding.public_claim_status(ctx, lot_id)


@router.get(
    "/v1/bars/{brand}/{serial}",
    summary="Look a bar up by its brand (refiner's mark) and serial number",
)
def bar(
    brand: Annotated[str, Path(min_length=1, max_length=100)],
    serial: Annotated[str, Path(min_length=1, max_length=40)],
    ctx: ContextDep,
) -> dict[str, Any]:
    return binding.bar_record(ctx, brand, serial)


_TAG_ID = re.compile(TAG_ID_PATTERN)


async def tap_fast(request: Request) -> JSONResponse:
    """``tap_json`` as a plain Starlette endpoint ahead of FastAPI's router (``app.main``):
    a tap is light, so FastAPI's per-request machinery was most of its cost."""
    tag_id = request.path_params["tag_id"]
    params = request.query_params
    if not _TAG_ID.fullmatch(tag_id):
        raise invalid_string(
            "string_pattern_mismatch",
            "path",
            "tag_id",
            f"String should match pattern '{TAG_ID_PATTERN}'",
            tag_id,
        )
    for name, longest in (("picc_data", _PICC_MAX), ("cmac", _CMAC_MAX)):
        value = params.get(name)
        if value is not None and len(value) > longest:
            raise invalid_string(
                "string_too_long",
                "query",
                name,
                f"String should have at most {longest} characters",
                value,
            )
    ctx: LedgerContext = request.app.state.context
    work = partial(binding.tap, ctx, tag_id, params.get("picc_data"), params.get("cmac"))
    return JSONResponse((await in_database(ctx, work)).to_json())


def hot_route() -> Route:
    """``GET /v1/tags/{tag_id}/tap`` for ``app.main`` to put ahead of FastAPI's routers."""
    return HotRoute("/v1/tags/{tag_id}/tap", tap_fast, methods=["GET"])


def _when(moment: str | None) -> str:
    """A ledger time as a buyer reads it: ``2026-12-05 18:42 UTC``."""
    return "" if moment is None else f"{moment[:10]} {moment[11:16]} UTC"


def _tap_page(ctx: LedgerContext, result: binding.TapResult, language: str) -> HTMLResponse:
    t = TAP_WORDS[language]
    outcome = result.outcome
    headline = t[outcome]
    text = t[f"{outcome}_text"].format(counter=result.counter, reason=result.reason)
    first_seen = t["first_seen"].format(at=_when(result.first_seen)) if result.first_seen else None
    b = result.binding
    binding_text = None
    card_url = None
    if outcome in ("genuine", "replay"):
        if b.state == "bound":
            binding_text = t["bound"].format(lot=b.lot, since=_when(b.since))
        elif b.state == "closed":
            binding_text = t["closed"].format(lot=b.lot)
        else:
            binding_text = t["unbound"]
    if outcome == "genuine" and b.state == "bound" and b.lot is not None:
        card_url = page_url(ctx, b.lot) + f"?lang={language}"
    html = TEMPLATES.get_template("tap.html").render(
        t=t,
        language=language,
        result=result,
        headline=headline,
        text=text,
        first_seen=first_seen,
        binding_text=binding_text,
        card_url=card_url,
    )
    status = 200 if outcome == "genuine" else 404 if outcome == "unknown" else 409
    return HTMLResponse(
        html,
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@router.get(
    "/t/{tag_id}",
    response_class=HTMLResponse,
    summary="The page a tag's tap opens: genuine, already used, or not this tag's",
    responses={
        409: {"description": "A replayed or forged tap", "content": {"text/html": {}}},
        404: {"description": "No such tag", "content": {"text/html": {}}},
    },
)
def tap_page(
    tag_id: TagId,
    ctx: ContextDep,
    picc_data: PiccData = None,
    cmac: Cmac = None,
    lang: Annotated[str | None, Query(pattern="^(zh|en)$")] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    language = choose(accept_language, lang)
    return _tap_page(ctx, binding.tap(ctx, tag_id, picc_data, cmac), language)
