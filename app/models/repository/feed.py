"""The partner feed and its webhooks: items, deliveries and leases (PROTOCOL.md §20)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from app.ledger.records import LedgerEntry
from app.models.repository._sql import bulk, entry_of
from app.models.tables import (
    feed,
    ledger_entries,
    lots,
    webhook_deliveries,
    webhooks,
)

__all__ = [
    "FeedItem",
    "WebhookRow",
    "append_feed_rows",
    "delete_webhook",
    "deliveries_of",
    "due_webhooks",
    "feed_items",
    "feed_rows",
    "last_feed_id",
    "lease_webhook",
    "save_webhook",
    "webhook_done",
    "webhook_of",
]


def append_feed_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Feed items: dicts of seq, partner_id, topic and lot_id, in seq order."""
    if rows:
        bulk(conn, "insert", "feed", rows)


@dataclass(frozen=True, slots=True)
class FeedItem:
    id: int
    topic: str
    lot: str | None
    entry: LedgerEntry
    awaiting_receipt: bool | None
    """For a transfer: whether the lot still waits for this partner's ``received``."""

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": self.id,
            "topic": self.topic,
            "lot": self.lot,
            "seq": self.entry.seq,
            "entry": self.entry.to_json(),
        }
        if self.awaiting_receipt is not None:
            item["awaiting_receipt"] = self.awaiting_receipt
        return item


def feed_items(
    conn: Connection,
    partner_id: str,
    *,
    after: int,
    limit: int,
    topics: set[str] | None = None,
    awaiting: bool = False,
) -> list[FeedItem]:
    """The partner's feed items after ``after``, in order, each with its ledger entry;
    ``awaiting``: only transfers whose lot still waits for the partner's ``received``."""
    query = (
        select(feed.c.id, feed.c.topic, feed.c.lot_id, lots.c.pending_to, ledger_entries)
        .join(ledger_entries, ledger_entries.c.seq == feed.c.seq)
        .outerjoin(lots, lots.c.id == feed.c.lot_id)
        .where(feed.c.partner_id == partner_id, feed.c.id > after)
        .order_by(feed.c.id)
        .limit(limit)
    )
    if topics:
        query = query.where(feed.c.topic.in_(sorted(topics)))
    if awaiting:
        query = query.where(feed.c.topic == "transfer", lots.c.pending_to == partner_id)
    return [
        FeedItem(
            id=row.id,
            topic=row.topic,
            lot=row.lot_id,
            entry=entry_of(row),
            awaiting_receipt=(row.pending_to == partner_id) if row.topic == "transfer" else None,
        )
        for row in conn.execute(query)
    ]


def feed_rows(conn: Connection) -> list[tuple[int, str, str, str | None]]:
    """Every feed item as (seq, partner, topic, lot), in order (for the audit)."""
    query = select(feed.c.seq, feed.c.partner_id, feed.c.topic, feed.c.lot_id).order_by(feed.c.id)
    return [(int(row[0]), row[1], row[2], row[3]) for row in conn.execute(query)]


def last_feed_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(feed.c.id), 0))).scalar_one())


@dataclass(frozen=True, slots=True)
class WebhookRow:
    partner_id: str
    url: str
    secret: str
    delivered_through: int
    attempts: int
    next_attempt_at: float
    lease_until: float


def webhook_of(conn: Connection, partner_id: str) -> WebhookRow | None:
    row = conn.execute(select(webhooks).where(webhooks.c.partner_id == partner_id)).first()
    return None if row is None else WebhookRow(*row)


def save_webhook(conn: Connection, hook: WebhookRow) -> None:
    conn.execute(delete(webhooks).where(webhooks.c.partner_id == hook.partner_id))
    conn.execute(insert(webhooks).values(**{f: getattr(hook, f) for f in hook.__slots__}))


def delete_webhook(conn: Connection, partner_id: str) -> bool:
    return bool(conn.execute(delete(webhooks).where(webhooks.c.partner_id == partner_id)).rowcount)


def due_webhooks(conn: Connection, now: float) -> list[WebhookRow]:
    """Webhooks with items beyond what they delivered, due and not leased by a worker."""
    pending = (
        select(feed.c.id)
        .where(feed.c.partner_id == webhooks.c.partner_id, feed.c.id > webhooks.c.delivered_through)
        .exists()
    )
    query = select(webhooks).where(
        webhooks.c.next_attempt_at <= now, webhooks.c.lease_until < now, pending
    )
    return [WebhookRow(*row) for row in conn.execute(query)]


def lease_webhook(conn: Connection, partner_id: str, *, now: float, until: float) -> bool:
    """Take the partner's deliveries for this worker until ``until``, if no one holds them."""
    taken = conn.execute(
        update(webhooks)
        .where(webhooks.c.partner_id == partner_id, webhooks.c.lease_until < now)
        .values(lease_until=until)
    )
    return taken.rowcount == 1


def webhook_done(
    conn: Connection,
    partner_id: str,
    *,
    delivered_through: int,
    attempts: int,
    next_attempt_at: float,
    delivery: dict[str, Any],
) -> None:
    """Record an attempt and what follows from it; release the lease."""
    conn.execute(
        update(webhooks)
        .where(webhooks.c.partner_id == partner_id)
        .values(
            delivered_through=delivered_through,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            lease_until=0.0,
        )
    )
    conn.execute(insert(webhook_deliveries).values(partner_id=partner_id, **delivery))


def deliveries_of(
    conn: Connection, partner_id: str, *, after: int, limit: int
) -> list[dict[str, Any]]:
    query = (
        select(webhook_deliveries)
        .where(webhook_deliveries.c.partner_id == partner_id, webhook_deliveries.c.id > after)
        .order_by(webhook_deliveries.c.id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]
