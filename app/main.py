"""The application factory. Nothing happens at import time."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from app import __version__
from app.api import docs, telemetry
from app.api.limits import BodySizeLimit
from app.api.openapi import install_openapi
from app.api.pages import routes as pages
from app.api.problems import install_problem_handlers
from app.api.routes import (
    admin,
    audit,
    batch,
    health,
    lots,
    partners,
    transformations,
    wellknown,
)
from app.api.routes import binding as binding_routes
from app.api.routes import feed as feed_routes
from app.api.routes import log as log_routes
from app.api.security import SecurityHeaders
from app.api.telemetry import RequestTelemetry
from app.config import Settings
from app.db import WalCheckpointer, make_engine
from app.keystore import load_or_create_secrets
from app.migrate import is_at_head
from app.services.context import LedgerContext
from app.services.feed import Dispatcher
from app.services.sequencer import Sequencer
from app.telemetry import configure_logging

__all__ = ["create_app"]

logger = logging.getLogger("goldtrail")


async def _issue_checkpoints(ctx: LedgerContext, sequencer: Sequencer) -> None:
    """Sign a checkpoint at most once per interval while the tree grows.

    Batches sign one when it is due; this round covers the entries after the last
    batch. Readers get one on demand too (``log.checkpoint_covering``), so the
    round need not run more often than twice a second. It runs on the event loop
    through the sequencer, which never waits there for the lock.
    """
    interval = max(ctx.settings.checkpoint_interval_seconds, 0.5)
    while True:
        await asyncio.sleep(interval)
        try:
            sequencer.checkpoint()
        except Exception:  # a failed round is logged and retried; the loop must live
            logger.exception("could not issue a checkpoint")


def _tune_garbage_collector() -> None:
    """Full collections walked every object the process holds (modules, caches of keys,
    summaries and passports) and stalled the event loop for tens of milliseconds: the p99
    of an append was 62 ms, 11 ms without them (docs/BENCHMARKS.md). What exists at start
    is frozen out of collection, and the young generation collects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 50)


GC_YOUNG_THRESHOLD = 20_000


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API. The database must already be migrated (``goldtrail db upgrade``)."""
    settings = settings or Settings()
    configure_logging(settings.log_style)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        engine = make_engine(settings.database_url, background_checkpoints=True)
        if not is_at_head(engine):
            engine.dispose()
            raise RuntimeError("the database is not migrated: run `goldtrail db upgrade`")
        wal = WalCheckpointer(engine).start() if engine.dialect.name == "sqlite" else None
        secrets = load_or_create_secrets(settings, create=False)
        app.state.context = LedgerContext(
            engine=engine, settings=settings, service_key=secrets.service_key
        )
        app.state.admin_token = secrets.admin_token
        app.state.sequencer = Sequencer(app.state.context)
        checkpointer = asyncio.create_task(
            _issue_checkpoints(app.state.context, app.state.sequencer)
        )
        deliveries = asyncio.create_task(Dispatcher(app.state.context).run())
        _tune_garbage_collector()
        try:
            yield
        finally:
            for task in (checkpointer, deliveries):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            app.state.sequencer.close()
            app.state.context.close()
            if wal is not None:
                wal.stop()
            engine.dispose()

    app = FastAPI(
        title="Goldtrail",
        version=__version__,
        summary="Green ID cards for gold: a signed, hash-chained custody ledger.",
        lifespan=lifespan,
        docs_url=None,  # served from local files by app.api.docs
        redoc_url=None,
    )
    install_problem_handlers(app)
    install_openapi(app)
    for module in (
        health,
        admin,
        feed_routes,
        partners,
        lots,
        transformations,
        batch,
        log_routes,
        audit,
        pages,
        binding_routes,
        wellknown,
    ):
        app.include_router(module.router)
    app.include_router(pages.static_router)
    app.include_router(docs.router)
    app.include_router(telemetry.router)
    # The hottest route, matched before FastAPI's routers (app.api.routes.lots.post_event_fast).
    app.router.routes.insert(0, lots.hot_route())
    app.router.routes.insert(1, binding_routes.hot_route())
    app.add_middleware(BodySizeLimit, limit_for=settings.body_limit)
    app.add_middleware(
        SecurityHeaders,
        body_timeout=settings.body_timeout_seconds,
        body_deadline=settings.body_deadline_seconds,
    )
    # Passports and exports are large, repetitive JSON: about a fifth of the size gzipped.
    app.add_middleware(GZipMiddleware, minimum_size=4096)
    app.add_middleware(RequestTelemetry)  # outermost: sees every answer, 413 and 408 too
    return app
