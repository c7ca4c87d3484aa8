"""Ledger entries and the Merkle tree: the log's rows, its stored subtrees and its checkpoints.

The only place the SQL of ``ledger_entries``, ``tree_nodes`` and ``checkpoints`` lives
(docs/PROTOCOL.md §4, §8, §9).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from app.ledger.log.merkle import NodeId
from app.ledger.records import LedgerEntry
from app.models.repository._sql import body_of, bulk, driver_rows, entry_of
from app.models.tables import (
    checkpoints,
    events,
    ledger_entries,
    tree_nodes,
)

__all__ = [
    "CheckpointRow",
    "Link",
    "append_checkpoint",
    "append_entries",
    "append_tree_nodes",
    "checkpoint_by_size",
    "entry_by_hash",
    "entry_by_seq",
    "entry_row",
    "entry_rows",
    "iter_checkpoints",
    "iter_entries",
    "iter_tree_nodes",
    "key_record_bodies",
    "latest_checkpoint",
    "link_rows",
    "next_seq",
    "node_rows",
    "nodes_beyond",
    "tree_nodes_by_id",
]


# Statements built once: the append path runs them thousands of times a second,
# and building a statement costs more than SQLite takes to execute it.
_ENTRY_BY_HASH = select(ledger_entries).where(ledger_entries.c.hash == bindparam("b_hash"))


_ENTRY_BY_SEQ = select(ledger_entries).where(ledger_entries.c.seq == bindparam("b_seq"))


def entry_rows(conn: Connection, start: int, end: int) -> list[tuple[Any, ...]]:
    """(seq, kind, hash, body, signature, signer, recorded_at, receipt) for seq in [start, end)."""
    return driver_rows(
        conn,
        "SELECT seq, kind, hash, body, signature, signer, recorded_at, receipt "
        "FROM ledger_entries WHERE seq >= ? AND seq < ? ORDER BY seq",
        (start, end),
    )


def link_rows(conn: Connection, start: int, end: int) -> dict[int, list[tuple[str, int, str]]]:
    """The chain links of the entries in [start, end): seq → [(lot, lot_seq, role)]."""
    found: dict[int, list[tuple[str, int, str]]] = {}
    for seq, lot, lot_seq, role in driver_rows(
        conn,
        "SELECT seq, lot_id, lot_seq, role FROM events WHERE seq >= ? AND seq < ? "
        "ORDER BY seq, lot_id",
        (start, end),
    ):
        found.setdefault(int(seq), []).append((lot, int(lot_seq), role))
    return found


def node_rows(conn: Connection, start: int, end: int) -> list[tuple[int, int, int, bytes]]:
    """(completed_at, level, idx, hash) of the nodes completed by the entries in [start, end)."""
    return [
        (int(at), int(level), int(index), bytes(value))
        for at, level, index, value in driver_rows(
            conn,
            "SELECT completed_at, level, idx, hash FROM tree_nodes "
            "WHERE completed_at >= ? AND completed_at < ?",
            (start, end),
        )
    ]


def nodes_beyond(conn: Connection, size: int) -> list[tuple[int, int, int]]:
    """(completed_at, level, idx) of stored nodes no entry below ``size`` completes."""
    return [
        (int(at), int(level), int(index))
        for at, level, index in driver_rows(
            conn, "SELECT completed_at, level, idx FROM tree_nodes WHERE completed_at >= ?", (size,)
        )
    ]


def key_record_bodies(conn: Connection) -> Iterator[dict[str, Any]]:
    """The bodies of every key registration, in order (for an audit to read ahead)."""
    for (stored,) in driver_rows(
        conn, "SELECT body FROM ledger_entries WHERE kind = 'key' ORDER BY seq", ()
    ):
        yield body_of(stored)


_LATEST_CHECKPOINT = select(checkpoints).order_by(checkpoints.c.size.desc()).limit(1)


_CHECKPOINT = select(checkpoints).where(checkpoints.c.size == bindparam("b_size"))


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    size: int
    root: bytes
    note: str
    issued_at: str


def next_seq(conn: Connection) -> int:
    """The next global sequence number. Only meaningful under the sequencer lock."""
    ((current,),) = driver_rows(conn, "SELECT MAX(seq) FROM ledger_entries", ())
    return 0 if current is None else int(current) + 1


def entry_by_hash(conn: Connection, entry_hash: str) -> LedgerEntry | None:
    row = conn.execute(_ENTRY_BY_HASH, {"b_hash": entry_hash}).first()
    return None if row is None else entry_of(row)


def entry_by_seq(conn: Connection, seq: int) -> LedgerEntry | None:
    row = conn.execute(_ENTRY_BY_SEQ, {"b_seq": seq}).first()
    return None if row is None else entry_of(row)


@lru_cache(maxsize=128)
def _nodes_sql(count: int) -> str:
    # One OR of primary-key lookups: SQLite seeks the index for each pair (it would
    # scan the table for a row-value IN), and a statement per count is built once.
    pairs = " OR ".join("(level = ? AND idx = ?)" for _ in range(count))
    return f"SELECT level, idx, hash FROM tree_nodes WHERE {pairs}"  # noqa: S608 (markers only)


# SQLite parses an OR chain as a tree at most 1,000 deep; a proof needs under 64 nodes.
_NODES_PER_QUERY = 128


def tree_nodes_by_id(conn: Connection, ids: set[NodeId]) -> dict[NodeId, bytes]:
    """The stored perfect subtrees among ``ids`` (one query per 128 of them)."""
    found: dict[NodeId, bytes] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), _NODES_PER_QUERY):
        chunk = ordered[start : start + _NODES_PER_QUERY]
        params = [number for node in chunk for number in node]
        rows = driver_rows(conn, _nodes_sql(len(chunk)), params)
        found.update(((level, index), bytes(value)) for level, index, value in rows)
    return found


def _checkpoint(row: Any) -> CheckpointRow:
    return CheckpointRow(row.size, bytes(row.root), row.note, row.issued_at)


def latest_checkpoint(conn: Connection) -> CheckpointRow | None:
    row = conn.execute(_LATEST_CHECKPOINT).first()
    return None if row is None else _checkpoint(row)


def checkpoint_by_size(conn: Connection, size: int) -> CheckpointRow | None:
    row = conn.execute(_CHECKPOINT, {"b_size": size}).first()
    return None if row is None else _checkpoint(row)


def iter_checkpoints(conn: Connection) -> Iterator[CheckpointRow]:
    query = select(checkpoints).order_by(checkpoints.c.size)
    for row in conn.execution_options(yield_per=1000).execute(query):
        yield _checkpoint(row)


Link = tuple[str, int]


"""(lot, lot_seq): an entry's place in one lot's chain."""


def iter_entries(conn: Connection) -> Iterator[tuple[LedgerEntry, list[Link]]]:
    """Every entry in sequence order with its chain links (none for registry records)."""
    query = (
        select(ledger_entries, events.c.lot_id, events.c.lot_seq)
        .outerjoin(events, events.c.seq == ledger_entries.c.seq)
        .order_by(ledger_entries.c.seq, events.c.lot_id)
    )
    current: tuple[LedgerEntry, list[Link]] | None = None
    for row in conn.execution_options(yield_per=2000).execute(query):
        if current is None or current[0].seq != row.seq:
            if current is not None:
                yield current
            current = (entry_of(row), [])
        if row.lot_id is not None:
            current[1].append((row.lot_id, row.lot_seq))
    if current is not None:
        yield current


def iter_tree_nodes(conn: Connection) -> Iterator[tuple[int, NodeId, bytes]]:
    """Every stored node as (completed_at, (level, idx), hash), in the order they were added."""
    query = select(tree_nodes).order_by(tree_nodes.c.completed_at, tree_nodes.c.level)
    for row in conn.execution_options(yield_per=5000).execute(query):
        yield row.completed_at, (row.level, row.idx), bytes(row.hash)


def append_tree_nodes(conn: Connection, nodes: list[dict[str, Any]]) -> None:
    """Insert stored perfect subtrees: dicts of level, idx, hash and completed_at."""
    if nodes:
        bulk(conn, "insert", "tree_nodes", nodes)


def append_checkpoint(conn: Connection, checkpoint: CheckpointRow) -> None:
    conn.execute(
        insert(checkpoints).values(
            size=checkpoint.size,
            root=checkpoint.root,
            note=checkpoint.note,
            issued_at=checkpoint.issued_at,
        )
    )


def entry_row(entry: LedgerEntry, body_text: str) -> dict[str, Any]:
    """The row of a ledger entry; ``body_text`` is the body's exact canonical JSON."""
    return {
        "seq": entry.seq,
        "kind": entry.kind,
        "hash": entry.hash,
        "body": body_text,
        "signature": entry.signature,
        "signer": entry.signer,
        "recorded_at": entry.recorded_at,
        "receipt": entry.receipt,
    }


def append_entries(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert ledger entries (``entry_row``), in one multi-row statement."""
    if rows:
        bulk(conn, "insert", "ledger_entries", rows)
