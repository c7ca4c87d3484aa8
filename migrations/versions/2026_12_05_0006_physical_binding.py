"""Binding passports to physical pieces: NFC tags, claim codes, bars (PROTOCOL.md §21).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

``bindings`` is a projection of the ledger the writer keeps (what each binding entry bound to
which lot, and the entry that ended it); a ledger logged before has no binding entries, so
it starts empty. ``tags`` holds the NFC tags partners registered and the highest read counter
accepted; ``tag_taps`` and ``claim_attempts`` every tap and claim attempt (no personal data).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bindings",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("lot_id", sa.String(64), nullable=False),
        sa.Column("ended_seq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["seq"], ["ledger_entries.seq"], name="fk_bindings_seq_ledger_entries"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_bindings"),
    )
    op.create_index("ix_bindings_kind_key", "bindings", ["kind", "key"])
    op.create_index("ix_bindings_kind_lot_id", "bindings", ["kind", "lot_id"])
    op.create_table(
        "tags",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("uid_digest", sa.String(64), nullable=False),
        sa.Column("registered_by", sa.String(64), nullable=False),
        sa.Column("registered_at", sa.String(32), nullable=False),
        sa.Column("last_counter", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["registered_by"], ["partners.id"], name="fk_tags_registered_by_partners"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tags"),
        sa.UniqueConstraint("uid_digest", name="uq_tags_uid_digest"),
    )
    op.create_table(
        "tag_taps",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("tag_id", sa.String(16), nullable=False),
        sa.Column("counter", sa.BigInteger(), nullable=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name="fk_tag_taps_tag_id_tags"),
        sa.PrimaryKeyConstraint("id", name="pk_tag_taps"),
    )
    op.create_index("ix_tag_taps_tag_id_id", "tag_taps", ["tag_id", "id"])
    op.create_table(
        "claim_attempts",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("lot_id", sa.String(64), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_claim_attempts"),
    )
    op.create_index("ix_claim_attempts_lot_id_id", "claim_attempts", ["lot_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_claim_attempts_lot_id_id", table_name="claim_attempts")
    op.drop_table("claim_attempts")
    op.drop_index("ix_tag_taps_tag_id_id", table_name="tag_taps")
    op.drop_table("tag_taps")
    op.drop_table("tags")
    op.drop_index("ix_bindings_kind_lot_id", table_name="bindings")
    op.drop_index("ix_bindings_kind_key", table_name="bindings")
    op.drop_table("bindings")
