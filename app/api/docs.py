"""/docs (Swagger UI) and /redoc (ReDoc) served from this server's own files.

The interactive documentation must work where the service runs without internet access
(and where CDNs are slow or blocked): the assets come from the ``fastapi-offline``
package, and the pages hold no inline script, so the page policy applies, loosened only
for the inline styles both viewers set and ReDoc's worker.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as FastApiPath
from fastapi.responses import HTMLResponse, Response

from app.services.errors import NotFound

__all__ = ["DOCS_POLICY", "router"]

router = APIRouter(include_in_schema=False)

DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}

_SWAGGER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Goldtrail API</title>
<link rel="icon" href="/docs/assets/favicon.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head><body>
<div id="swagger-ui" data-spec="/openapi.json"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script type="module" src="/static/swagger-init.mjs"></script>
</body></html>
"""

_REDOC = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Goldtrail API</title>
<link rel="icon" href="/docs/assets/favicon.png">
</head><body>
<redoc spec-url="/openapi.json"></redoc>
<script src="/docs/assets/redoc.standalone.js"></script>
</body></html>
"""


def _page(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_POLICY})


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return _page(_SWAGGER)


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return _page(_REDOC)


@lru_cache(maxsize=len(_ASSETS))
def _asset(name: str) -> bytes:
    return (files("fastapi_offline") / "static" / name).read_bytes()


@router.get("/docs/assets/{name}")
def asset(
    name: Annotated[str, FastApiPath(pattern=r"^[a-z-]+(\.standalone)?\.(js|css|png)$")],
) -> Response:
    if name not in _ASSETS:
        raise NotFound("docs.unknown_asset", f"no asset {name}", field="name")
    return Response(
        _asset(name),
        media_type=_ASSETS[name],
        headers={"Cache-Control": "public, max-age=86400"},
    )
