"""What a batch's rules read before they run, in one round trip (PostgreSQL: pipelined).

It crosses aggregates on purpose — the next seq, the lots, keys and partners a batch
names — so that the write path pays one round trip, not four.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from app.domain.rules import LotState
from app.models.repository._sql import body_of, driver_of, driver_rows, driver_sql, in_chunks
from app.models.repository.lots import lot_of_columns
from app.models.repository.partners import KEYS_BY_IDS_SQL, KeyRow

__all__ = ["BatchState", "batch_state"]


@dataclass(frozen=True, slots=True)
class BatchState:
    """What a batch's rules read before they run, in one round trip."""

    next_seq: int
    lots: dict[str, LotState]
    summaries: dict[str, tuple[int, str] | None]
    """Each existing lot's latest summary: (seq, the summary's body), or None."""
    keys: dict[str, KeyRow]
    partners: set[str]
    service_key: str | None
    """The key id of the latest service key announcement, if the key was ever rotated."""


# The next seq, and the key the latest rotation announced (a handful of rows by the index on
# kind), so that a batch sees a rotation by another process without another round trip.
_SEQ_AND_SERVICE_KEY = (
    "SELECT MAX(seq), (SELECT body FROM ledger_entries WHERE kind = 'service_key' "
    "ORDER BY seq DESC LIMIT 1) FROM ledger_entries"
)


_LOTS_WITH_SUMMARY = (
    "SELECT lots.id, lots.form, lots.mass_g, lots.fineness, lots.custodian, lots.pending_to, "
    "lots.stage, lots.last_action, lots.last_occurred_at, lots.head, lots.length, "
    "lots.consumed_by, lots.summary_seq, s.body FROM lots "
    "LEFT JOIN ledger_entries s ON s.seq = lots.summary_seq WHERE lots.id IN (?*)"
)


def batch_state(
    conn: Connection, *, lots: set[str], keys: set[str], partners: set[str]
) -> BatchState:
    """The next seq, and the lots, keys and partners a batch names (PostgreSQL: pipelined)."""
    queries: list[tuple[str, str, list[str]]] = [("seq", _SEQ_AND_SERVICE_KEY, [])]
    for name, sql, values in (
        ("lots", _LOTS_WITH_SUMMARY, lots),
        ("keys", KEYS_BY_IDS_SQL, keys),
        ("partners", "SELECT id FROM partners WHERE id IN (?*)", partners),
    ):
        queries += [(name, sql, chunk) for chunk in in_chunks(values)]
    dialect = conn.dialect.name
    if dialect == "postgresql":
        driver = driver_of(conn)
        with driver.pipeline():
            cursors = [
                driver.execute(driver_sql(dialect, sql, len(params)), tuple(params))
                for _, sql, params in queries
            ]
        results = [cursor.fetchall() for cursor in cursors]
    else:
        results = [driver_rows(conn, sql, params, many=len(params)) for _, sql, params in queries]
    found: dict[str, list[Any]] = {"seq": [], "lots": [], "keys": [], "partners": []}
    for (name, _, _), rows in zip(queries, results, strict=True):
        found[name].extend(rows)
    ((current, announcement),) = found["seq"]
    return BatchState(
        next_seq=0 if current is None else int(current) + 1,
        lots={row[0]: lot_of_columns(row[:12]) for row in found["lots"]},
        summaries={
            row[0]: None if row[12] is None else (int(row[12]), row[13]) for row in found["lots"]
        },
        keys={row[0]: KeyRow(*row) for row in found["keys"]},
        partners={row[0] for row in found["partners"]},
        service_key=None if announcement is None else str(body_of(announcement).get("key")),
    )
