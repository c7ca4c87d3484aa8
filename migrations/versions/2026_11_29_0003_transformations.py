"""Transformations: one ledger entry may be a link of several lot chains.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

``events`` was keyed by ledger position (one lot per entry). A transformation
is the next link of each input lot and the first link of each output lot, so
the table is keyed by (lot_id, lot_seq), indexed by (seq, role), and says each link's
role: ``event``, ``input`` or ``output``. ``lots.consumed_by`` names the
transformation that took all of a lot's gold.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _drop_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS events_no_{verb}")
    else:
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        op.execute("DROP TRIGGER IF EXISTS events_no_truncate ON events")


def _create_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_no_{verb.lower()} BEFORE {verb} ON events "
                f"BEGIN SELECT RAISE(ABORT, 'events is append-only: {verb} refused'); END"
            )
    else:
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION goldtrail_append_only()"
        )
        op.execute(
            "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
            "FOR EACH STATEMENT EXECUTE FUNCTION goldtrail_append_only()"
        )


def upgrade() -> None:
    _drop_triggers()
    with op.batch_alter_table("events", recreate="auto") as batch:
        batch.add_column(
            sa.Column("role", sa.String(8), nullable=False, server_default="event")
        )
        batch.drop_constraint("uq_events_lot_id_lot_seq", type_="unique")
        batch.drop_constraint("pk_events", type_="primary")
        batch.create_primary_key("pk_events", ["lot_id", "lot_seq"])
    op.create_index("ix_events_seq_role", "events", ["seq", "role"])
    with op.batch_alter_table("lots") as batch:
        batch.add_column(sa.Column("consumed_by", sa.String(64), nullable=True))
    _create_triggers()


def downgrade() -> None:
    bind = op.get_bind()
    linked = bind.execute(sa.text("SELECT count(*) FROM events WHERE role <> 'event'")).scalar()
    if linked:
        raise RuntimeError(
            f"{linked} chain links belong to transformations; version 0002 cannot hold them"
        )
    _drop_triggers()
    with op.batch_alter_table("lots") as batch:
        batch.drop_column("consumed_by")
    op.drop_index("ix_events_seq_role", table_name="events")
    with op.batch_alter_table("events", recreate="auto") as batch:
        batch.drop_constraint("pk_events", type_="primary")
        batch.create_primary_key("pk_events", ["seq"])
        batch.create_unique_constraint("uq_events_lot_id_lot_seq", ["lot_id", "lot_seq"])
        batch.drop_column("role")
    _create_triggers()
