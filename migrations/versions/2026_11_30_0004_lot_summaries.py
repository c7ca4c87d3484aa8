"""Logged lot summaries: an index of the summary entries, and each lot's latest one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

A summary is a ledger entry (kind ``summary``, signed by the service) stating
what a lot's fine gold carries at one link of its chain. ``summaries`` finds
them by lot and head; ``lots.summary_seq`` names each lot's latest. Lots that
existed before have none until ``goldtrail db upgrade`` (or ``serve``) appends
them; until then their passports and metrics are replayed from the genealogy.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "summaries",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("lot_id", sa.String(64), nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["seq"], ["ledger_entries.seq"], name="fk_summaries_seq_ledger_entries"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_summaries"),
    )
    op.create_index("ix_summaries_lot_id_head", "summaries", ["lot_id", "head"])
    with op.batch_alter_table("lots") as batch:
        batch.add_column(sa.Column("summary_seq", sa.BigInteger(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER summaries_no_{verb.lower()} BEFORE {verb} ON summaries "
                f"BEGIN SELECT RAISE(ABORT, 'summaries is append-only: {verb} refused'); END"
            )
    else:
        op.execute(
            "CREATE TRIGGER summaries_append_only BEFORE UPDATE OR DELETE ON summaries "
            "FOR EACH ROW EXECUTE FUNCTION goldtrail_append_only()"
        )
        op.execute(
            "CREATE TRIGGER summaries_no_truncate BEFORE TRUNCATE ON summaries "
            "FOR EACH STATEMENT EXECUTE FUNCTION goldtrail_append_only()"
        )


def downgrade() -> None:
    bind = op.get_bind()
    logged = bind.execute(sa.text("SELECT count(*) FROM summaries")).scalar()
    if logged:
        raise RuntimeError(f"{logged} summaries are in the log; version 0003 cannot hold them")
    if bind.dialect.name == "sqlite":
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS summaries_no_{verb}")
    else:
        op.execute("DROP TRIGGER IF EXISTS summaries_append_only ON summaries")
        op.execute("DROP TRIGGER IF EXISTS summaries_no_truncate ON summaries")
    with op.batch_alter_table("lots") as batch:
        batch.drop_column("summary_seq")
    op.drop_index("ix_summaries_lot_id_head", table_name="summaries")
    op.drop_table("summaries")
