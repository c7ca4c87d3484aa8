"""The application factory. Nothing happens at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from app import __version__
from app.api.limits import BodySizeLimit
from app.api.problems import install_problem_handlers
from app.api.routes import admin, audit, health, lots, partners
from app.config import Settings
from app.db import make_engine
from app.keystore import load_or_create_secrets
from app.migrate import is_at_head
from app.services.context import LedgerContext

__all__ = ["create_app"]

log = logging.getLogger("goldtrail")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API. The database must already be migrated (``goldtrail db upgrade``)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        engine = make_engine(settings.database_url)
        if not is_at_head(engine):
            engine.dispose()
            raise RuntimeError("the database is not migrated: run `goldtrail db upgrade`")
        secrets = load_or_create_secrets(settings, create=False)
        app.state.context = LedgerContext(
            engine=engine, settings=settings, service_key=secrets.service_key
        )
        app.state.admin_token = secrets.admin_token
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="Goldtrail",
        version=__version__,
        summary="Green ID cards for gold: a signed, hash-chained custody ledger.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    for module in (health, admin, partners, lots, audit):
        app.include_router(module.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
