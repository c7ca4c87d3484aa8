"""Database tables.

``ledger_entries`` and ``events`` are the ledger: append-only, and the database
refuses UPDATE, DELETE (and on PostgreSQL TRUNCATE) on them with triggers
created by the migrations. ``lots``, ``partners`` and ``partner_keys`` are
projections the service maintains from the ledger, plus API-key hashes.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

__all__ = [
    "APPEND_ONLY_TABLES",
    "bindings",
    "claim_attempts",
    "events",
    "feed",
    "ledger_entries",
    "lots",
    "metadata",
    "partner_keys",
    "partners",
    "summaries",
    "tag_taps",
    "tags",
    "webhook_deliveries",
    "webhooks",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("body", Text, nullable=False),
    Column("signature", String(88), nullable=False),
    Column("signer", String(64), nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("receipt", String(88), nullable=False),
)

# One row per link of a lot's chain. An event is one link; a transformation is
# a link of each lot it names (``role`` input or output), all at the same seq.
events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, ForeignKey("ledger_entries.seq"), nullable=False),
    Column("lot_id", String(64), primary_key=True),
    Column("lot_seq", Integer, primary_key=True, autoincrement=False),
    Column("prev", String(64), nullable=True),
    Column("partner_id", String(64), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("action", String(32), nullable=False),
    Column("occurred_at", String(32), nullable=False),
    Column("role", String(8), nullable=False, server_default="event"),
)

lots = Table(
    "lots",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("form", String(16), nullable=True),
    Column("mass_g", String(32), nullable=True),
    Column("fineness", String(32), nullable=True),
    Column("custodian", String(64), ForeignKey("partners.id"), nullable=False),
    Column("pending_to", String(64), nullable=True),
    Column("stage", String(16), nullable=False),
    Column("last_action", String(32), nullable=False),
    Column("last_occurred_at", String(32), nullable=False),
    Column("head", String(64), nullable=False),
    Column("length", Integer, nullable=False),
    Column("created_seq", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    Column("consumed_by", String(64), nullable=True),
    Column("summary_seq", BigInteger, nullable=True),
)

# The summary entries of the log (kind ``summary``), by lot and the head they state.
summaries = Table(
    "summaries",
    metadata,
    Column(
        "seq", BigInteger, ForeignKey("ledger_entries.seq"), primary_key=True, autoincrement=False
    ),
    Column("lot_id", String(64), nullable=False),
    Column("head", String(64), nullable=False),
    Column("length", Integer, nullable=False),
)

partners = Table(
    "partners",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("roles", String(200), nullable=False),
    Column("country", String(2), nullable=True),
    Column("api_key_hash", String(64), nullable=False, unique=True),
    Column("registered_seq", BigInteger, nullable=False),
)

partner_keys = Table(
    "partner_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("partner_id", String(64), ForeignKey("partners.id"), nullable=False),
    Column("public_key", String(44), nullable=False, unique=True),
    Column("registered_seq", BigInteger, nullable=False),
    Column("revoked_seq", BigInteger, nullable=True),
    Column("revoked_at", String(32), nullable=True),
)

tree_nodes = Table(
    "tree_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    Column("completed_at", BigInteger, nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("issued_at", String(32), nullable=False),
)

# What concerns each partner (PROTOCOL.md §20), a projection of the ledger the writer keeps:
# transfers to it, transformations that took gold from lots it signed for, its key records.
# ``id`` orders the feed (items are appended under the sequencer lock, in seq order).
_FEED_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite numbers INTEGER keys itself

feed = Table(
    "feed",
    metadata,
    Column("id", _FEED_ID, primary_key=True, autoincrement=True),
    Column("seq", BigInteger, ForeignKey("ledger_entries.seq"), nullable=False),
    Column("partner_id", String(64), nullable=False),
    Column("topic", String(16), nullable=False),
    Column("lot_id", String(64), nullable=True),
)

# A partner's webhook: where its feed is delivered, the secret deliveries are signed with,
# how far delivery got, and when to try next.
webhooks = Table(
    "webhooks",
    metadata,
    Column("partner_id", String(64), ForeignKey("partners.id"), primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", String(64), nullable=False),
    Column("delivered_through", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("lease_until", Float, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", _FEED_ID, primary_key=True, autoincrement=True),
    Column("partner_id", String(64), nullable=False),
    Column("attempted_at", String(32), nullable=False),
    Column("first_item", BigInteger, nullable=False),
    Column("last_item", BigInteger, nullable=False),
    Column("items", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Float, nullable=False),
    Column("next_attempt_at", String(32), nullable=True),
)

# Binding to the physical piece (PROTOCOL.md §21). ``bindings`` is a projection of the
# ledger the writer keeps: what each binding entry bound (a tag, a claim code, a bar's
# identity) to which lot, and the entry that ended it (an unbinding; a claim ends nothing).
# ``key`` is the tag id, the claim code's commitment, or the bar's "<brand>|<serial>" folded.
bindings = Table(
    "bindings",
    metadata,
    Column("seq", BigInteger, ForeignKey("ledger_entries.seq"), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("key", String(160), nullable=False),
    Column("lot_id", String(64), nullable=False),
    Column("ended_seq", BigInteger, nullable=True),
)

# NFC tags registered by partners (not ledger entries: the binding is). ``uid_digest`` is the
# UID as the service digests it; ``last_counter`` the highest SUN read counter accepted.
tags = Table(
    "tags",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("uid_digest", String(64), nullable=False, unique=True),
    Column("registered_by", String(64), ForeignKey("partners.id"), nullable=False),
    Column("registered_at", String(32), nullable=False),
    Column("last_counter", BigInteger, nullable=False),
)

# Every tap of a tag's URL (no personal data): its counter, when, and what it was found to be.
tag_taps = Table(
    "tag_taps",
    metadata,
    Column("id", _FEED_ID, primary_key=True, autoincrement=True),
    Column("tag_id", String(16), ForeignKey("tags.id"), nullable=False),
    Column("counter", BigInteger, nullable=True),
    Column("at", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
)

# Every claim attempt on a lot (no personal data): for the rate limit and the lot's history.
claim_attempts = Table(
    "claim_attempts",
    metadata,
    Column("id", _FEED_ID, primary_key=True, autoincrement=True),
    Column("lot_id", String(64), nullable=False),
    Column("at", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
)

Index("ix_bindings_kind_key", bindings.c.kind, bindings.c.key)
Index("ix_bindings_kind_lot_id", bindings.c.kind, bindings.c.lot_id)
Index("ix_tag_taps_tag_id_id", tag_taps.c.tag_id, tag_taps.c.id)
Index("ix_claim_attempts_lot_id_id", claim_attempts.c.lot_id, claim_attempts.c.id)
Index("ix_feed_partner_id_id", feed.c.partner_id, feed.c.id)
Index(
    "ix_webhook_deliveries_partner_id_id", webhook_deliveries.c.partner_id, webhook_deliveries.c.id
)
Index("ix_tree_nodes_completed_at", tree_nodes.c.completed_at)
Index("ix_events_partner_id", events.c.partner_id)
Index("ix_events_seq_role", events.c.seq, events.c.role)
Index("ix_partner_keys_partner_id", partner_keys.c.partner_id)
Index("ix_ledger_entries_kind", ledger_entries.c.kind)
Index("ix_summaries_lot_id_head", summaries.c.lot_id, summaries.c.head)

APPEND_ONLY_TABLES = ("ledger_entries", "events", "tree_nodes", "checkpoints", "summaries")
