"""Transparency log: the Merkle tree's perfect subtrees and the signed checkpoints.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Existing entries are added to the tree in sequence order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.ledger.log.merkle import CompactRange, leaf_hash
from app.ledger.records import leaf_bytes

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("tree_nodes", "checkpoints")


def upgrade() -> None:
    op.create_table(
        "tree_nodes",
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.Column("completed_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_tree_nodes"),
    )
    op.create_index("ix_tree_nodes_completed_at", "tree_nodes", ["completed_at"])
    op.create_table(
        "checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("size", name="pk_checkpoints"),
    )
    _backfill()
    _append_only()


def _backfill() -> None:
    bind = op.get_bind()
    entries = bind.execute(
        sa.text(
            "SELECT seq, kind, hash, signature, signer, recorded_at FROM ledger_entries ORDER BY seq"
        )
    )
    tree = CompactRange()
    nodes = sa.table(
        "tree_nodes",
        sa.column("level"),
        sa.column("idx"),
        sa.column("hash"),
        sa.column("completed_at"),
    )
    for row in entries:
        leaf = leaf_hash(
            leaf_bytes(
                seq=row.seq,
                kind=row.kind,
                entry_hash=row.hash,
                signature=row.signature,
                signer=row.signer,
                recorded_at=row.recorded_at,
            )
        )
        completed = tree.append(leaf)
        op.bulk_insert(
            nodes,
            [
                {"level": level, "idx": index, "hash": value, "completed_at": row.seq}
                for (level, index), value in completed
            ],
        )


def _append_only() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        if dialect == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
                )
        else:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION goldtrail_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION goldtrail_append_only()"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        if dialect == "sqlite":
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    op.drop_table("checkpoints")
    op.drop_index("ix_tree_nodes_completed_at", table_name="tree_nodes")
    op.drop_table("tree_nodes")
