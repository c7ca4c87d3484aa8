"""What an operator sees: Prometheus metrics and structured logs.

Metrics follow Prometheus conventions (base units, ``_total`` counters, ``_seconds``
histograms). With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` must name an
empty directory before any process starts (``goldtrail serve`` prepares one): every
process writes its samples there and a scrape of any worker sums them.

Logs are one JSON object per line (``GOLDTRAIL_LOG_FORMAT=json``, the default outside
development) or plain text. Nothing secret is ever passed to a logger: requests are
logged by route, status and partner id, never headers or bodies.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

from prometheus_client import Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter

__all__ = [
    "APPEND_BATCH",
    "APPEND_SECONDS",
    "CHECKPOINT_INCLUSION",
    "DB_POOL_IN_USE",
    "ENTRIES_APPENDED",
    "REQUESTS",
    "REQUEST_SECONDS",
    "WEBHOOK_DELIVERIES",
    "WEBHOOK_SECONDS",
    "configure_logging",
    "log",
]

log = logging.getLogger("goldtrail")

REQUESTS = Counter(
    "goldtrail_http_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "goldtrail_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ENTRIES_APPENDED = Counter(
    "goldtrail_entries_appended_total",
    "Ledger entries appended, by kind (event, transformation, summary, registry records)",
    ["kind"],
)
APPEND_BATCH = Histogram(
    "goldtrail_append_batch_entries",
    "Entries committed together in one sequencer transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048),
)
APPEND_SECONDS = Histogram(
    "goldtrail_append_batch_duration_seconds",
    "Time the sequencer holds the write lock for one batch: rules, numbering, writing, commit",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
CHECKPOINT_INCLUSION = Histogram(
    "goldtrail_checkpoint_inclusion_seconds",
    "Time from a request's arrival to its entry's inclusion in a signed checkpoint",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30),
)
WEBHOOK_DELIVERIES = Counter(
    "goldtrail_webhook_deliveries_total",
    "Attempts to deliver partners' feed items to their webhooks, by outcome",
    ["outcome"],
)
WEBHOOK_SECONDS = Histogram(
    "goldtrail_webhook_delivery_duration_seconds",
    "Time a webhook took to answer a delivery (or to fail)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DB_POOL_IN_USE = Gauge(
    "goldtrail_db_pool_connections_in_use",
    "Database connections checked out of the pools, summed over live worker processes",
    multiprocess_mode="livesum",
)


def configure_logging(fmt: Literal["json", "text"], *, level: int = logging.INFO) -> None:
    """Send the service's logs to stderr, one line each, as JSON or plain text."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                datefmt="%Y-%m-%dT%H:%M:%S%z",
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    for name in ("goldtrail", "app"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
