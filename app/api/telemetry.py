"""Per-request telemetry: a request id, one structured log line, Prometheus samples; /metrics.

The request id is the client's ``X-Request-ID`` when it is a short token, else a new one;
it is echoed in the answer and in the log line. The line names the route template (never
the raw path with ids in it), the status, the duration and the partner that called — no
header, query or body, so no API key, admin token or private key can reach a log.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import read_transaction
from app.models import repository
from app.services.context import LedgerContext
from app.telemetry import DB_POOL_IN_USE, REQUEST_SECONDS, REQUESTS, log

__all__ = ["RequestTelemetry", "router"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

router = APIRouter(include_in_schema=False)


class RequestTelemetry:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _record(scope, status, time.perf_counter() - started, request_id)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _record(scope: Scope, status: int, seconds: float, request_id: str) -> None:
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    method = scope.get("method", "")
    REQUESTS.labels(method, route, str(status)).inc()
    REQUEST_SECONDS.labels(method, route).observe(seconds)
    state: dict[str, Any] = scope.get("state", {})
    app = scope.get("app")
    context: LedgerContext | None = getattr(getattr(app, "state", None), "context", None)
    if context is not None:
        DB_POOL_IN_USE.set(_checked_out(context))
    log.info(
        "%s %s %s %.1f ms",
        method,
        route,
        status,
        seconds * 1000,
        extra={
            "event": "request",
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "partner": state.get("partner_id"),
        },
    )


def _checked_out(context: LedgerContext) -> int:
    checked_out = getattr(context.engine.pool, "checkedout", None)
    return int(checked_out()) if callable(checked_out) else 0


class _LedgerCollector(Collector):
    """Read at scrape time from the database, the same whatever worker answers."""

    def __init__(self, context: LedgerContext) -> None:
        self.context = context

    def collect(self) -> Any:
        with read_transaction(self.context.engine) as conn:
            size = repository.next_seq(conn)
            latest = repository.latest_checkpoint(conn)
        yield GaugeMetricFamily("goldtrail_log_entries", "Entries in the log (the tree size)", size)
        if latest is not None:
            yield GaugeMetricFamily(
                "goldtrail_checkpoint_size",
                "Tree size of the latest signed checkpoint",
                latest.size,
            )
            issued = _epoch(latest.issued_at)
            yield GaugeMetricFamily(
                "goldtrail_checkpoint_age_seconds",
                "Seconds since the latest checkpoint was signed",
                max(0.0, time.time() - issued),
            )


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text exposition: every worker's samples, then the ledger's gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)  # type: ignore[no-untyped-call]
        samples = generate_latest(processes)
    else:
        samples = generate_latest(REGISTRY)
    ledger = CollectorRegistry()
    ledger.register(_LedgerCollector(request.app.state.context))
    return Response(samples + generate_latest(ledger), media_type=CONTENT_TYPE_LATEST)
