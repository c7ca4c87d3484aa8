"""Logged lot summaries and their index (PROTOCOL.md §18)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from app.ledger.records import LedgerEntry
from app.models.repository._sql import body_of, bulk, entry_of, in_chunks
from app.models.tables import (
    ledger_entries,
    lots,
    summaries,
)

__all__ = [
    "append_summary_rows",
    "latest_summary",
    "latest_summary_before",
    "summaries_at",
    "summary_body_of",
]


def latest_summary(conn: Connection, lot_id: str) -> LedgerEntry | None:
    """The lot's latest logged summary entry."""
    row = conn.execute(
        select(ledger_entries)
        .join(lots, lots.c.summary_seq == ledger_entries.c.seq)
        .where(lots.c.id == lot_id)
    ).first()
    return None if row is None else entry_of(row)


def summaries_at(
    conn: Connection, heads: list[tuple[str, str]]
) -> dict[tuple[str, str], LedgerEntry]:
    """The summary entries stating each (lot, head); the first logged if there are several."""
    found: dict[tuple[str, str], LedgerEntry] = {}
    wanted = set(heads)
    for chunk in in_chunks({head for _, head in heads}):
        query = (
            select(summaries.c.lot_id, summaries.c.head, ledger_entries)
            .join(ledger_entries, ledger_entries.c.seq == summaries.c.seq)
            .where(summaries.c.head.in_(chunk))
            .order_by(summaries.c.seq)
        )
        for row in conn.execute(query):
            key = (row.lot_id, row.head)
            if key in wanted and key not in found:
                found[key] = entry_of(row)
    return found


def latest_summary_before(conn: Connection, lot_id: str, size: int) -> LedgerEntry | None:
    """The lot's latest summary among the first ``size`` entries of the log."""
    row = conn.execute(
        select(ledger_entries)
        .join(summaries, summaries.c.seq == ledger_entries.c.seq)
        .where(summaries.c.lot_id == lot_id, summaries.c.seq < size)
        .order_by(summaries.c.seq.desc())
        .limit(1)
    ).first()
    return None if row is None else entry_of(row)


def summary_body_of(text: str) -> dict[str, Any]:
    """A stored summary's body (as ``body_of``: an edited row still parses to something)."""
    return body_of(text)


def append_summary_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Index summary entries: dicts of seq, lot_id, head and length."""
    bulk(conn, "insert", "summaries", rows)
