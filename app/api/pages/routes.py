"""GET /p/{lot}: the passport page, its QR code and its certificate.

Plain ``def`` routes: building a passport verifies it, which takes long enough
that it belongs on the thread pool, never on the event loop.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi import Path as FastApiPath
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from app.api.deps import ContextDep
from app.api.pages.documents import FontMissing, certificate_pdf, cjk_font, qr_png, qr_svg
from app.api.pages.i18n import choose, words
from app.api.pages.view import card_of, piece_of, story_of
from app.api.routes.lots import LotId
from app.services import binding, passport
from app.services.context import LedgerContext
from app.services.errors import Inconsistent, NotFound, NotYet

router = APIRouter(prefix="/p", tags=["pages"])
static_router = APIRouter(prefix="/static", tags=["pages"])

HERE = FilePath(__file__).parent
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
)


STATIC = HERE / "static"
_STATIC_TYPES = {".mjs": "text/javascript", ".css": "text/css"}


@lru_cache(maxsize=16)
def _static(name: str) -> bytes | None:
    path = STATIC / name
    if path.suffix not in _STATIC_TYPES or path.parent != STATIC or not path.is_file():
        return None
    return path.read_bytes()


def _script_json(value: object) -> Markup:
    # Inside <script> no HTML escaping applies: keep "</script>" out of the JSON text instead.
    text = json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")
    return Markup(text)  # noqa: S704 (JSON with "<" escaped)


def page_url(ctx: LedgerContext, lot: str) -> str:
    return f"{ctx.settings.public_base_url.rstrip('/')}/p/{lot}"


def _not_found(language: str) -> HTMLResponse:
    w = words(language)
    html = TEMPLATES.get_template("not_found.html").render(w=w, language=language)
    return HTMLResponse(html, status_code=404)


@router.get(
    "/{lot_id}",
    response_class=HTMLResponse,
    summary="The lot's green ID card",
    responses={404: {"description": "No such lot: a page saying so", "content": {"text/html": {}}}},
)
def page(
    lot_id: LotId,
    ctx: ContextDep,
    lang: Annotated[str | None, Query(pattern="^(zh|en)$")] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    language = choose(accept_language, lang)
    w = words(language)
    try:
        built = passport.build(ctx, lot_id)
    except NotFound:
        return _not_found(language)
    except Inconsistent as exc:
        html = TEMPLATES.get_template("broken.html").render(
            w=w, language=language, lot=lot_id, detail=exc.detail
        )
        return HTMLResponse(html, status_code=200)
    failures = [f"{c.check}: {c.detail}" for c in built.report.failures]
    html = TEMPLATES.get_template("passport.html").render(
        w=w,
        language=language,
        card=card_of(built.doc, language, w),
        story=story_of(built.doc, language, w),
        piece=piece_of(binding.piece_status(ctx, lot_id), w),
        server_ok=built.report.ok,
        failures=failures[:10],
        passport_json=_script_json(built.doc),
        words_json=_script_json(w),
    )
    return HTMLResponse(html, headers={"Content-Language": "zh-Hans" if language == "zh" else "en"})


def _binary(media_type: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}}


@router.get(
    "/{lot_id}/qr.svg",
    summary="QR code of the page's address (SVG)",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}},
)
def qr_code_svg(lot_id: LotId, ctx: ContextDep) -> Response:
    passport.require_lot(ctx, lot_id)
    return Response(qr_svg(page_url(ctx, lot_id)), media_type="image/svg+xml")


@router.get(
    "/{lot_id}/qr.png",
    summary="QR code of the page's address (PNG)",
    response_class=Response,
    responses=_binary("image/png"),
)
def qr_code_png(lot_id: LotId, ctx: ContextDep) -> Response:
    passport.require_lot(ctx, lot_id)
    return Response(qr_png(page_url(ctx, lot_id)), media_type="image/png")


_CERTIFICATES: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
_CERTIFICATES_KEPT = 64


@router.get(
    "/{lot_id}/certificate.pdf",
    summary="A printable certificate in Chinese and English, with the QR code",
    response_class=Response,
    responses=_binary("application/pdf"),
)
def certificate(
    lot_id: LotId,
    ctx: ContextDep,
    lang: Annotated[
        str | None, Query(pattern="^(zh|en)$", description="The language printed first")
    ] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> Response:
    language = choose(accept_language, lang)
    built = passport.build(ctx, lot_id)
    url = page_url(ctx, lot_id)
    key = (built.digest, language, url)
    pdf = _CERTIFICATES.get(key)
    if pdf is None:
        try:
            font = cjk_font(ctx.settings.cjk_font)
        except FontMissing as exc:
            raise NotYet("certificate.no_font", str(exc)) from exc
        pdf = certificate_pdf(built.doc, url=url, digest=built.digest, language=language, font=font)
        _CERTIFICATES[key] = pdf
        while len(_CERTIFICATES) > _CERTIFICATES_KEPT:
            _CERTIFICATES.popitem(last=False)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="certificate-{lot_id}.pdf"',
            "Content-Language": "zh-Hans, en",
        },
    )


@static_router.get(
    "/{name}",
    summary="The pages' script modules and stylesheet (goldtrail-verify.mjs verifies passports)",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/javascript": {"schema": {"type": "string"}},
                "text/css": {"schema": {"type": "string"}},
            }
        }
    },
)
def static_file(name: Annotated[str, FastApiPath(pattern=r"^[a-z0-9-]+\.(mjs|css)$")]) -> Response:
    body = _static(name)
    if body is None:
        raise NotFound("static.unknown", f"no file {name}", field="name")
    return Response(
        body,
        media_type=_STATIC_TYPES[FilePath(name).suffix],
        headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"},
    )
