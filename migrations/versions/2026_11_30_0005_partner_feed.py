"""The partner feed and webhooks (PROTOCOL.md §20).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

``feed`` lists, for each partner, the entries that concern it — transfers to it,
transformations that took gold from lots it signed for, its key registrations and
revocations — a projection of the ledger that the writer extends with every batch. The
upgrade fills it from the ledger as it stands. ``webhooks`` and ``webhook_deliveries`` hold
where a partner's feed is delivered and every attempt.
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FEED_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "feed",
        sa.Column("id", FEED_ID, autoincrement=True, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(16), nullable=False),
        sa.Column("lot_id", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["seq"], ["ledger_entries.seq"], name="fk_feed_seq_ledger_entries"),
        sa.PrimaryKeyConstraint("id", name="pk_feed"),
    )
    op.create_index("ix_feed_partner_id_id", "feed", ["partner_id", "id"])
    op.create_table(
        "webhooks",
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("delivered_through", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("lease_until", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name="fk_webhooks_partner_id_partners"
        ),
        sa.PrimaryKeyConstraint("partner_id", name="pk_webhooks"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", FEED_ID, autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("attempted_at", sa.String(32), nullable=False),
        sa.Column("first_item", sa.BigInteger(), nullable=False),
        sa.Column("last_item", sa.BigInteger(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("next_attempt_at", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
    )
    op.create_index(
        "ix_webhook_deliveries_partner_id_id", "webhook_deliveries", ["partner_id", "id"]
    )
    _fill_feed()


def _fill_feed() -> None:
    """The feed of the ledger as it stands, in seq order (what the writer would have kept)."""
    bind = op.get_bind()
    rows: list[dict[str, object]] = []
    signed: dict[str, set[str]] = {}
    entries = bind.execute(
        sa.text(
            "SELECT seq, kind, body FROM ledger_entries "
            "WHERE kind IN ('event', 'transformation', 'key', 'key_revocation') ORDER BY seq"
        )
    )
    for seq, kind, text in entries:
        body = json.loads(text)
        if kind in ("key", "key_revocation"):
            rows.append({"seq": seq, "partner_id": body["partner"], "topic": "key", "lot_id": None})
            continue
        partner = body["partner"]
        if kind == "event":
            recipient = body["data"].get("to")
            if body["action"] == "transferred" and isinstance(recipient, str):
                rows.append(
                    {"seq": seq, "partner_id": recipient, "topic": "transfer", "lot_id": body["lot"]}
                )
            signed.setdefault(body["lot"], set()).add(partner)
            continue
        for item in body["inputs"]:
            for holder in sorted(signed.get(item["lot"], set()) - {partner}):
                rows.append(
                    {"seq": seq, "partner_id": holder, "topic": "consumed", "lot_id": item["lot"]}
                )
        for lot in [i["lot"] for i in body["inputs"]] + [o["lot"] for o in body["outputs"]]:
            signed.setdefault(lot, set()).add(partner)
    if rows:
        op.bulk_insert(
            sa.table(
                "feed",
                sa.column("seq", sa.BigInteger()),
                sa.column("partner_id", sa.String()),
                sa.column("topic", sa.String()),
                sa.column("lot_id", sa.String()),
            ),
            rows,
        )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_partner_id_id", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.drop_index("ix_feed_partner_id_id", table_name="feed")
    op.drop_table("feed")
