"""Core ledger: entries, events, lots, partners, keys; append-only triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("ledger_entries", "events")


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(88), nullable=False),
        sa.Column("signer", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("receipt", sa.String(88), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_ledger_entries"),
        sa.UniqueConstraint("hash", name="uq_ledger_entries_hash"),
    )
    op.create_index("ix_ledger_entries_kind", "ledger_entries", ["kind"])
    op.create_table(
        "partners",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("api_key_hash", sa.String(64), nullable=False),
        sa.Column("registered_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_partners"),
        sa.UniqueConstraint("api_key_hash", name="uq_partners_api_key_hash"),
    )
    op.create_table(
        "partner_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("public_key", sa.String(44), nullable=False),
        sa.Column("registered_seq", sa.BigInteger(), nullable=False),
        sa.Column("revoked_seq", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name="fk_partner_keys_partner_id_partners"
        ),
        sa.PrimaryKeyConstraint("key_id", name="pk_partner_keys"),
        sa.UniqueConstraint("public_key", name="uq_partner_keys_public_key"),
    )
    op.create_index("ix_partner_keys_partner_id", "partner_keys", ["partner_id"])
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("lot_id", sa.String(64), nullable=False),
        sa.Column("lot_seq", sa.Integer(), nullable=False),
        sa.Column("prev", sa.String(64), nullable=True),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("occurred_at", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["seq"], ["ledger_entries.seq"], name="fk_events_seq_ledger_entries"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_events"),
        sa.UniqueConstraint("lot_id", "lot_seq", name="uq_events_lot_id_lot_seq"),
    )
    op.create_index("ix_events_partner_id", "events", ["partner_id"])
    op.create_table(
        "lots",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("form", sa.String(16), nullable=True),
        sa.Column("mass_g", sa.String(32), nullable=True),
        sa.Column("fineness", sa.String(32), nullable=True),
        sa.Column("custodian", sa.String(64), nullable=False),
        sa.Column("pending_to", sa.String(64), nullable=True),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("last_action", sa.String(32), nullable=False),
        sa.Column("last_occurred_at", sa.String(32), nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("created_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["custodian"], ["partners.id"], name="fk_lots_custodian_partners"),
        sa.PrimaryKeyConstraint("id", name="pk_lots"),
    )
    _create_append_only_triggers()


def _create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
                )
    elif dialect == "postgresql":
        op.execute(
            """
            CREATE FUNCTION goldtrail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
            END $$
            """
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION goldtrail_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION goldtrail_append_only()"
            )
    else:
        raise RuntimeError(f"no append-only triggers for the {dialect} dialect")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    elif dialect == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS goldtrail_append_only()")
    op.drop_table("lots")
    op.drop_table("events")
    op.drop_index("ix_partner_keys_partner_id", table_name="partner_keys")
    op.drop_table("partner_keys")
    op.drop_table("partners")
    op.drop_index("ix_ledger_entries_kind", table_name="ledger_entries")
    op.drop_table("ledger_entries")
