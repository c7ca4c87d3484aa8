"""A lot's genealogy: its ancestry closure and the edges up or down from it (PROTOCOL.md §15)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from app.ledger.records import LedgerEntry
from app.models.repository._sql import entry_of

__all__ = ["EdgeRow", "ancestry", "lineage"]


# A lot's parents are the inputs of the transformation that begins its chain. Each
# ancestor is reached with a cut: the seq of the transformation that took gold
# from it towards the lot; entries after its latest cut are not the lot's history.
_ANCESTRY = text(
    """
WITH RECURSIVE anc(lot_id, cut) AS (
    SELECT CAST(:lot AS VARCHAR(64)), CAST(:all AS BIGINT)
    UNION
    SELECT i.lot_id, o.seq FROM anc
    JOIN events o ON o.lot_id = anc.lot_id AND o.lot_seq = 0 AND o.role = 'output'
    JOIN events i ON i.seq = o.seq AND i.role = 'input'
),
closure(lot_id, cut) AS (SELECT lot_id, MAX(cut) FROM anc GROUP BY lot_id)
SELECT le.seq, le.kind, le.hash, le.body, le.signature, le.signer, le.recorded_at, le.receipt,
       NULL AS lot_id
FROM ledger_entries le WHERE le.seq IN (
    SELECT e.seq FROM closure c JOIN events e ON e.lot_id = c.lot_id WHERE e.seq <= c.cut
)
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, lot_id FROM closure
ORDER BY 1"""
)


_EDGES = {
    "ancestors": text(
        """
WITH RECURSIVE walk(parent, child, seq, depth) AS (
    SELECT i.lot_id, o.lot_id, o.seq, 1 FROM events o
    JOIN events i ON i.seq = o.seq AND i.role = 'input'
    WHERE o.lot_id = :lot AND o.lot_seq = 0 AND o.role = 'output'
    UNION
    SELECT i.lot_id, o.lot_id, o.seq, walk.depth + 1 FROM walk
    JOIN events o ON o.lot_id = walk.parent AND o.lot_seq = 0 AND o.role = 'output'
    JOIN events i ON i.seq = o.seq AND i.role = 'input'
    WHERE walk.depth < :depth
)
SELECT parent, child, seq, MIN(depth) AS depth FROM walk
GROUP BY parent, child, seq ORDER BY MIN(depth), seq, parent, child LIMIT :limit"""
    ),
    "descendants": text(
        """
WITH RECURSIVE walk(parent, child, seq, depth) AS (
    SELECT i.lot_id, o.lot_id, i.seq, 1 FROM events i
    JOIN events o ON o.seq = i.seq AND o.role = 'output'
    WHERE i.lot_id = :lot AND i.role = 'input'
    UNION
    SELECT i.lot_id, o.lot_id, i.seq, walk.depth + 1 FROM walk
    JOIN events i ON i.lot_id = walk.child AND i.role = 'input'
    JOIN events o ON o.seq = i.seq AND o.role = 'output'
    WHERE walk.depth < :depth
)
SELECT parent, child, seq, MIN(depth) AS depth FROM walk
GROUP BY parent, child, seq ORDER BY MIN(depth), seq, parent, child LIMIT :limit"""
    ),
}


@dataclass(frozen=True, slots=True)
class EdgeRow:
    parent: str
    child: str
    seq: int
    depth: int


def ancestry(conn: Connection, lot_id: str) -> tuple[list[str], list[LedgerEntry]]:
    """The lot and all its ancestors, and every entry of their chains that leads to the lot.

    An ancestor's chain is cut after the last transformation that takes gold from
    it towards the lot, so the entries grow with the genealogy, not the ledger.
    One statement, so that both come from the same snapshot.
    """
    lots_: list[str] = []
    entries: list[LedgerEntry] = []
    for row in conn.execute(_ANCESTRY, {"lot": lot_id, "all": 2**62}):
        if row.lot_id is not None:
            lots_.append(row.lot_id)
        else:
            entries.append(entry_of(row))
    return sorted(lots_), entries


def lineage(
    conn: Connection, lot_id: str, *, direction: str, depth: int, limit: int
) -> list[EdgeRow]:
    """Edges (parent → child) within ``depth`` steps up or down from the lot, nearest first."""
    rows = conn.execute(_EDGES[direction], {"lot": lot_id, "depth": depth, "limit": limit})
    return [EdgeRow(row.parent, row.child, row.seq, row.depth) for row in rows]
