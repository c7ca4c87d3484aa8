"""Lots and their chains: the ``lots`` projection and the ``events`` links of each chain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, bindparam, select

from app.domain.rules import LotState
from app.ledger.records import LedgerEntry
from app.models.repository._sql import bulk, decimal_or_none, driver_rows, entry_of, in_chunks
from app.models.tables import (
    events,
    ledger_entries,
    lots,
)

__all__ = [
    "append_event_rows",
    "events_of_lot",
    "input_prev",
    "iter_lot_ids",
    "iter_lots",
    "list_lots",
    "lot_latest_seq",
    "lot_seq_of",
    "lot_state",
    "lots_by_id",
    "lots_of_partner",
    "save_lots",
    "signers_before",
]


_LOT = select(lots).where(lots.c.id == bindparam("b_id"))


_LOT_SEQ_OF = select(events.c.lot_seq).where(events.c.seq == bindparam("b_seq"))


def input_prev(conn: Connection, lot_id: str, transformation_seq: int) -> str | None:
    """The head a transformation at ``transformation_seq`` named for its input ``lot_id``."""
    return conn.execute(
        select(events.c.prev).where(
            events.c.lot_id == lot_id, events.c.seq == transformation_seq, events.c.role == "input"
        )
    ).scalar_one_or_none()


def lot_latest_seq(conn: Connection, lot_id: str) -> int | None:
    """The seq of the lot's latest entry: the last link of its chain, or its latest summary."""
    row = conn.execute(
        select(lots.c.updated_seq, lots.c.summary_seq).where(lots.c.id == lot_id)
    ).first()
    if row is None:
        return None
    return max(int(row.updated_seq), int(row.summary_seq or -1))


def _lot(row: Any) -> LotState:
    """A lot from a row of ``lots`` read through SQLAlchemy (by column name)."""
    return lot_of_columns(tuple(getattr(row, name) for name in _LOT_FIELDS))


def lot_state(conn: Connection, lot_id: str) -> LotState | None:
    row = conn.execute(_LOT, {"b_id": lot_id}).first()
    return None if row is None else _lot(row)


def lot_seq_of(conn: Connection, seq: int) -> int | None:
    """The position in its lot's chain of the event at ledger position ``seq``."""
    return conn.execute(_LOT_SEQ_OF, {"b_seq": seq}).scalar_one_or_none()


def list_lots(conn: Connection, *, after: str | None, limit: int) -> list[LotState]:
    query = select(lots).order_by(lots.c.id).limit(limit)
    if after is not None:
        query = query.where(lots.c.id > after)
    return [_lot(row) for row in conn.execute(query)]


def iter_lots(conn: Connection) -> Iterator[LotState]:
    query = select(lots).order_by(lots.c.id)
    for row in conn.execution_options(yield_per=2000).execute(query):
        yield _lot(row)


def iter_lot_ids(conn: Connection) -> Iterator[str]:
    """Every lot that has events, including any whose projection row was removed."""
    query = select(events.c.lot_id).union(select(lots.c.id)).order_by("lot_id")
    for (lot_id,) in conn.execute(query):
        yield lot_id


def events_of_lot(
    conn: Connection, lot_id: str, *, after: int = -1, limit: int | None = None
) -> list[tuple[int, LedgerEntry]]:
    """(lot_seq, entry) pairs of a lot in chain order, from ``after + 1``."""
    query = (
        select(events.c.lot_seq, ledger_entries)
        .join(ledger_entries, ledger_entries.c.seq == events.c.seq)
        .where(events.c.lot_id == lot_id, events.c.lot_seq > after)
        .order_by(events.c.lot_seq)
    )
    if limit is not None:
        query = query.limit(limit)
    return [(row.lot_seq, entry_of(row)) for row in conn.execute(query)]


def lots_of_partner(
    conn: Connection, partner_id: str, *, ever: bool, after: str | None, limit: int
) -> list[LotState]:
    """Lots the partner holds or is being sent; with ``ever``, also every lot whose chain
    it signed (it held them, or made them by a transformation)."""
    condition = (lots.c.custodian == partner_id) | (lots.c.pending_to == partner_id)
    if ever:
        signed = select(events.c.lot_id).where(events.c.partner_id == partner_id)
        condition = condition | lots.c.id.in_(signed)
    query = select(lots).where(condition).order_by(lots.c.id).limit(limit)
    if after is not None:
        query = query.where(lots.c.id > after)
    return [_lot(row) for row in conn.execute(query)]


def signers_before(
    conn: Connection, lots: list[str], *, seq: int, but: str
) -> list[tuple[str, str]]:
    """(partner, lot) for every partner but ``but`` that signed a link of ``lots`` before
    ``seq``: whose feed a transformation taking from those lots concerns."""
    query = (
        select(events.c.partner_id, events.c.lot_id)
        .where(events.c.lot_id.in_(lots), events.c.seq < seq, events.c.partner_id != but)
        .distinct()
        .order_by(events.c.partner_id)
    )
    return [(row.partner_id, row.lot_id) for row in conn.execute(query)]


def append_event_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert chain links: dicts of role, seq, lot_id, lot_seq, prev, partner_id, key_id,
    stage, action and occurred_at."""
    if rows:
        bulk(conn, "insert", "events", rows)


def _lot_values(state: LotState, seq: int, summary_seq: int | None) -> dict[str, Any]:
    return {
        "form": state.form,
        "mass_g": None if state.mass_g is None else str(state.mass_g),
        "fineness": None if state.fineness is None else str(state.fineness),
        "custodian": state.custodian,
        "pending_to": state.pending_to,
        "stage": state.stage,
        "last_action": state.last_action,
        "last_occurred_at": state.last_occurred_at,
        "head": state.head,
        "length": state.length,
        "updated_seq": seq,
        "consumed_by": state.consumed_by,
        "summary_seq": summary_seq,
    }


def save_lots(conn: Connection, moved: list[tuple[LotState, int, int | None, int | None]]) -> None:
    """Insert the lots a batch created and move the others.

    Each is (state, the seq that moved it, the seq that created it if the batch did,
    its latest summary's seq).
    """
    created = [
        {"id": state.lot, "created_seq": made, **_lot_values(state, seq, summary)}
        for state, seq, made, summary in moved
        if made is not None
    ]
    updated = [
        {"id": state.lot, **_lot_values(state, seq, summary)}
        for state, seq, made, summary in moved
        if made is None
    ]
    bulk(conn, "insert", "lots", created)
    bulk(conn, "update", "lots", updated)


LOT_COLUMNS = (
    "id, form, mass_g, fineness, custodian, pending_to, stage, last_action, "
    "last_occurred_at, head, length, consumed_by"
)


_LOT_FIELDS = tuple(LOT_COLUMNS.split(", "))


def lot_of_columns(row: tuple[Any, ...]) -> LotState:
    """A lot from the columns ``LOT_COLUMNS``, in that order (the driver-level reads)."""
    lot_id, form, mass, fineness, custodian, pending, stage, action, at, head, length, by = row
    return LotState(
        lot=lot_id,
        form=form,
        mass_g=decimal_or_none(mass),
        fineness=decimal_or_none(fineness),
        custodian=custodian,
        pending_to=pending,
        stage=stage,
        last_action=action,
        last_occurred_at=at,
        head=head,
        length=length,
        consumed_by=by,
    )


def lots_by_id(conn: Connection, ids: set[str]) -> dict[str, LotState]:
    found: dict[str, LotState] = {}
    for chunk in in_chunks(ids):
        rows = driver_rows(
            conn,
            f"SELECT {LOT_COLUMNS} FROM lots WHERE id IN (?*)",  # noqa: S608 (fixed names)
            chunk,
            many=len(chunk),
        )
        found.update((row[0], lot_of_columns(row)) for row in rows)
    return found
