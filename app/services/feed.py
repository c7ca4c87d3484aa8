"""What concerns a partner (PROTOCOL.md §20): its feed by cursor, as Server-Sent Events, and
delivered to its webhook, each delivery signed with an HMAC of the partner's secret.

The feed is a projection of the ledger the writer keeps (``app.services.writer``): transfers
to the partner (and whether the lot still awaits its ``received``), transformations that took
gold from lots it signed for, and its key registrations and revocations. Each item carries
its signed ledger entry, so what the feed says can be verified like any entry.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
from sqlalchemy import Connection

from app import __version__
from app.db import read_transaction, write_transaction
from app.models import repository
from app.models.repository import WebhookRow
from app.services import egress
from app.services.clock import format_time, utc_now
from app.services.context import LedgerContext
from app.services.errors import NotFound, ServiceError
from app.telemetry import WEBHOOK_DELIVERIES, WEBHOOK_SECONDS

__all__ = [
    "TOPICS",
    "Dispatcher",
    "deliveries",
    "page",
    "remove_webhook",
    "set_webhook",
    "signature",
    "stream",
    "unix_time",
    "webhook",
]

TOPICS = ("transfer", "consumed", "key")
MAX_ITEMS_PER_DELIVERY = 100
SIGNATURE_HEADER = "Goldtrail-Signature"

log = logging.getLogger("goldtrail.feed")


class InvalidWebhook(ServiceError):
    status = 422


def page(
    ctx: LedgerContext,
    partner_id: str,
    *,
    after: int,
    limit: int,
    topics: set[str] | None,
    awaiting: bool = False,
) -> dict[str, Any]:
    """Items after the cursor ``after``; ``next_after`` is the cursor to ask with next.
    ``awaiting``: only the transfers whose lot still waits for the partner's ``received``."""
    with read_transaction(ctx.engine) as conn:
        return _page(conn, partner_id, after=after, limit=limit, topics=topics, awaiting=awaiting)


def _page(
    conn: Connection,
    partner_id: str,
    *,
    after: int,
    limit: int,
    topics: set[str] | None,
    awaiting: bool = False,
) -> dict[str, Any]:
    items = repository.feed_items(
        conn, partner_id, after=after, limit=limit, topics=topics, awaiting=awaiting
    )
    return {
        "items": [item.to_json() for item in items],
        "next_after": items[-1].id if items else after,
    }


KEY_NO_LONGER_VALID = "the API key this stream was opened with is no longer valid"


async def stream(
    ctx: LedgerContext,
    partner_id: str,
    *,
    api_key_hash: str,
    after: int,
    topics: set[str] | None,
    poll: float = 0.5,
    heartbeat: float = 15.0,
) -> AsyncIterator[str]:
    """Server-Sent Events: one event per item (``id`` the cursor, ``event`` the topic), and a
    comment line every ``heartbeat`` seconds so that proxies keep the connection open.

    The stream lives no longer than the API key it was opened with: every poll reads the
    key in the same transaction as the items, and once the key is reissued (or its partner
    gone) the stream sends an ``end`` event saying so and closes.
    """
    quiet_since = time.monotonic()
    yield "retry: 2000\n\n"
    while True:
        found = await anyio.to_thread.run_sync(
            _page_while_key_valid, ctx, partner_id, api_key_hash, after, topics
        )
        if found is None:
            reason = json.dumps({"reason": KEY_NO_LONGER_VALID})
            yield f"event: end\ndata: {reason}\n\n"
            return
        for item in found["items"]:
            data = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
            yield f"id: {item['id']}\nevent: {item['topic']}\ndata: {data}\n\n"
        after = found["next_after"]
        if found["items"]:
            quiet_since = time.monotonic()
            continue
        if time.monotonic() - quiet_since >= heartbeat:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(poll)


def _page_while_key_valid(
    ctx: LedgerContext, partner_id: str, api_key_hash: str, after: int, topics: set[str] | None
) -> dict[str, Any] | None:
    """The next items, or None once the API key no longer belongs to the partner."""
    with read_transaction(ctx.engine) as conn:
        holder = repository.partner_by_api_key_hash(conn, api_key_hash)
        if holder is None or holder.id != partner_id:
            return None
        return _page(conn, partner_id, after=after, limit=100, topics=topics)


# Webhooks --------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body under the secret>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _check_url(ctx: LedgerContext, url: str, resolver: egress.Resolver) -> None:
    """Refuse a URL the dispatcher could not deliver to; each delivery checks it again."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    production = ctx.settings.environment == "production"
    allowed = ("https",) if production else ("https", "http")
    if parts is None or parts.scheme not in allowed or not parts.hostname:
        raise InvalidWebhook(
            "webhook.url",
            f"must be an absolute {' or '.join(allowed)} URL",
            field="url",
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhook("webhook.url", "must not carry a user name or password", field="url")
    try:
        egress.resolve(
            parts.hostname,
            port or (443 if parts.scheme == "https" else 80),
            allow_private=ctx.settings.webhooks_may_reach_private_networks,
            resolver=resolver,
        )
    except egress.EgressRefused as refused:
        if refused.outcome == egress.NOT_PUBLIC:
            raise InvalidWebhook(
                "webhook.url",
                f"must name a host on the internet: {refused.detail}",
                field="url",
            ) from refused
        # A name that does not resolve now may later: each delivery resolves it again.


def set_webhook(
    ctx: LedgerContext, partner_id: str, url: str, *, resolver: egress.Resolver = socket.getaddrinfo
) -> tuple[WebhookRow, str]:
    """Deliver the partner's feed from now on to ``url``; returns the new secret (shown once)."""
    _check_url(ctx, url, resolver)
    secret = "whsec_" + secrets.token_urlsafe(32)
    with write_transaction(ctx.engine) as conn:
        hook = WebhookRow(
            partner_id=partner_id,
            url=url,
            secret=secret,
            delivered_through=repository.last_feed_id(conn),
            attempts=0,
            next_attempt_at=0.0,
            lease_until=0.0,
        )
        repository.save_webhook(conn, hook)
    return hook, secret


def webhook(ctx: LedgerContext, partner_id: str) -> WebhookRow:
    with read_transaction(ctx.engine) as conn:
        hook = repository.webhook_of(conn, partner_id)
    if hook is None:
        raise NotFound("webhook.none", "no webhook is set: PUT one first")
    return hook


def remove_webhook(ctx: LedgerContext, partner_id: str) -> None:
    with write_transaction(ctx.engine) as conn:
        if not repository.delete_webhook(conn, partner_id):
            raise NotFound("webhook.none", "no webhook is set")


def deliveries(ctx: LedgerContext, partner_id: str, *, after: int, limit: int) -> dict[str, Any]:
    with read_transaction(ctx.engine) as conn:
        rows = repository.deliveries_of(conn, partner_id, after=after, limit=limit)
    return {"deliveries": rows, "next_after": rows[-1]["id"] if rows else after}


@dataclass(slots=True)
class Dispatcher:
    """Delivers every partner's due feed items to its webhook, in order, at least once.

    Every worker runs one; a lease in the database lets only one deliver a partner's items at
    a time. A failed delivery (no answer, or not 2xx) is retried after the base delay,
    doubling up to the maximum; every attempt is logged for the partner to read, with a
    coarse outcome (``egress``: what a connection error says stays in the service's log, so
    a partner cannot map the hosts behind it). Each delivery resolves the host once, checks
    the address and connects to it; redirects are not followed; connections are not kept.
    """

    ctx: LedgerContext
    resolver: egress.Resolver = socket.getaddrinfo

    async def run(self) -> None:
        async with httpx.AsyncClient(
            timeout=self.ctx.settings.webhook_timeout_seconds,
            headers={"User-Agent": f"goldtrail-webhooks/{__version__}"},
            follow_redirects=False,
            # A connection is for the address one delivery checked, never reused for another
            # host that resolves to the same address (its TLS name would not be checked).
            limits=httpx.Limits(max_keepalive_connections=0),
        ) as client:
            while True:
                try:
                    await self.round(client)
                except Exception:  # a database hiccup must not end deliveries for good
                    log.exception("webhook deliveries failed; trying again")
                await asyncio.sleep(self.ctx.settings.webhook_poll_seconds)

    async def round(self, client: httpx.AsyncClient) -> None:
        now = time.time()
        due = await anyio.to_thread.run_sync(self._due, now)
        for hook in due:
            if await anyio.to_thread.run_sync(self._lease, hook.partner_id, now):
                await self._deliver(client, hook)

    def _due(self, now: float) -> list[WebhookRow]:
        with read_transaction(self.ctx.engine) as conn:
            return repository.due_webhooks(conn, now)

    def _lease(self, partner_id: str, now: float) -> bool:
        lease = now + self.ctx.settings.webhook_timeout_seconds * 3
        with write_transaction(self.ctx.engine) as conn:
            return repository.lease_webhook(conn, partner_id, now=now, until=lease)

    async def _deliver(self, client: httpx.AsyncClient, hook: WebhookRow) -> None:
        found = await anyio.to_thread.run_sync(
            lambda: page(
                self.ctx,
                hook.partner_id,
                after=hook.delivered_through,
                limit=MAX_ITEMS_PER_DELIVERY,
                topics=None,
            )
        )
        items = found["items"]
        body = json.dumps(
            {"partner": hook.partner_id, "items": items}, separators=(",", ":"), ensure_ascii=False
        ).encode()
        first, last = items[0]["id"], items[-1]["id"]
        started = time.perf_counter()
        status, error = None, None
        try:
            target = await anyio.to_thread.run_sync(self._pin, hook.url)
            answer = await client.post(
                target.url,
                content=body,
                headers={
                    "Host": target.host_header,
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: signature(hook.secret, int(time.time()), body),
                    "Goldtrail-Delivery": f"{hook.partner_id}:{first}-{last}",
                },
                extensions={"sni_hostname": target.server_name},
            )
            status = answer.status_code
            if not answer.is_success:
                error = f"answered {status}"
        except egress.EgressRefused as refused:
            error = refused.outcome
            log.warning("webhook of %s refused: %s", hook.partner_id, refused.detail)
        except httpx.HTTPError as exc:
            error = _outcome(exc)
            log.warning("webhook delivery to %s failed: %r", hook.partner_id, exc)
        WEBHOOK_DELIVERIES.labels("delivered" if error is None else "failed").inc()
        WEBHOOK_SECONDS.observe(time.perf_counter() - started)
        self._record(hook, first, last, len(items), status, error, started)

    def _pin(self, url: str) -> egress.PinnedTarget:
        allow = self.ctx.settings.webhooks_may_reach_private_networks
        return egress.pin(url, allow_private=allow, resolver=self.resolver)

    def _record(
        self,
        hook: WebhookRow,
        first: int,
        last: int,
        count: int,
        status: int | None,
        error: str | None,
        started: float,
    ) -> None:
        settings = self.ctx.settings
        attempt = hook.attempts + 1
        if error is None:
            through, attempts, retry_at = last, 0, 0.0
        else:
            delay = min(
                settings.webhook_retry_base_seconds * 2 ** (attempt - 1),
                settings.webhook_retry_max_seconds,
            )
            through, attempts, retry_at = hook.delivered_through, attempt, time.time() + delay
        delivery = {
            "attempted_at": format_time(utc_now()),
            "first_item": first,
            "last_item": last,
            "items": count,
            "attempt": attempt,
            "status": status,
            "error": error,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "next_attempt_at": None if error is None else unix_time(retry_at),
        }
        with write_transaction(self.ctx.engine) as conn:
            repository.webhook_done(
                conn,
                hook.partner_id,
                delivered_through=through,
                attempts=attempts,
                next_attempt_at=retry_at,
                delivery=delivery,
            )
        log.info(
            "webhook delivery to %s: items %d-%d %s",
            hook.partner_id,
            first,
            last,
            "delivered" if error is None else f"failed ({error})",
            extra={"event": "webhook", "partner": hook.partner_id, "status": status},
        )


def _outcome(exc: httpx.HTTPError) -> str:
    """What the partner is told of a failed connection: no more than the kind of failure."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError | httpx.NetworkError):
        return egress.NOT_RESOLVED
    return "delivery failed"


def unix_time(moment: float) -> str:
    """A Unix time as the API writes times (RFC 3339, UTC)."""
    return format_time(datetime.fromtimestamp(moment, UTC))
