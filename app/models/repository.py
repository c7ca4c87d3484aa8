"""All SQL lives here. ``append_*`` and ``record_*`` are the only statements that write.

Callers own the transaction (``app.db.write_transaction``); nothing here commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, text, update

from app.domain.rules import LotState
from app.ledger.merkle import NodeId
from app.ledger.records import LedgerEntry
from app.models.tables import (
    checkpoints,
    events,
    feed,
    ledger_entries,
    lots,
    partner_keys,
    partners,
    summaries,
    tree_nodes,
    webhook_deliveries,
    webhooks,
)

__all__ = [
    "BatchState",
    "CheckpointRow",
    "EdgeRow",
    "KeyRow",
    "Link",
    "PartnerRow",
    "ancestry",
    "append_checkpoint",
    "append_entries",
    "append_event_rows",
    "append_feed_rows",
    "append_summary_rows",
    "append_tree_nodes",
    "batch_state",
    "checkpoint_by_size",
    "entry_by_hash",
    "entry_by_seq",
    "entry_row",
    "entry_rows",
    "events_of_lot",
    "input_prev",
    "insert_partner",
    "insert_partner_key",
    "iter_checkpoints",
    "iter_entries",
    "iter_lot_ids",
    "iter_lots",
    "iter_tree_nodes",
    "key_by_id",
    "key_record_bodies",
    "keys_by_ids",
    "keys_of_partner",
    "latest_checkpoint",
    "latest_summary",
    "latest_summary_before",
    "lineage",
    "link_rows",
    "list_lots",
    "list_partners",
    "lot_latest_seq",
    "lot_seq_of",
    "lot_state",
    "lots_by_id",
    "next_seq",
    "node_rows",
    "nodes_beyond",
    "partner_by_api_key_hash",
    "partner_by_id",
    "partners_by_ids",
    "pipeline",
    "record_key_revoked",
    "registry_entries",
    "replace_api_key_hash",
    "save_lots",
    "service_key_entries",
    "signers_before",
    "summaries_at",
    "summary_body_of",
    "tree_nodes_by_id",
]


# Statements built once: the append path runs them thousands of times a second,
# and building a statement costs more than SQLite takes to execute it.
_ENTRY_BY_HASH = select(ledger_entries).where(ledger_entries.c.hash == bindparam("b_hash"))
_ENTRY_BY_SEQ = select(ledger_entries).where(ledger_entries.c.seq == bindparam("b_seq"))
_LOT = select(lots).where(lots.c.id == bindparam("b_id"))
_LOT_SEQ_OF = select(events.c.lot_seq).where(events.c.seq == bindparam("b_seq"))
_PARTNER = select(partners).where(partners.c.id == bindparam("b_id"))
_KEY = select(partner_keys).where(partner_keys.c.key_id == bindparam("b_id"))


@lru_cache(maxsize=32)
def _bulk_sql(dialect: str, verb: str, table: str, columns: tuple[str, ...]) -> str:
    """The driver's own SQL for a batch's rows, with named parameters in its style.

    The batch writer sends many rows through one executemany; building SQLAlchemy
    parameters per row cost more than the database took to insert them.
    """

    def mark(column: str) -> str:
        return f":{column}" if dialect == "sqlite" else f"%({column})s"

    if verb == "insert":
        names = ", ".join(columns)
        values = ", ".join(mark(c) for c in columns)
        return f"INSERT INTO {table} ({names}) VALUES ({values})"  # noqa: S608 (fixed names)
    assignments = ", ".join(f"{c} = {mark(c)}" for c in columns if c != "id")
    return f"UPDATE {table} SET {assignments} WHERE id = {mark('id')}"  # noqa: S608 (fixed names)


def _bulk(conn: Connection, verb: str, table: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        sql = _bulk_sql(conn.dialect.name, verb, table, tuple(rows[0]))
        cursor = _driver(conn).cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()


# The hottest reads of the write path go to the driver directly, like ``_bulk``: SQLAlchemy's
# execution costs ten times what SQLite takes to answer them. ``?`` marks a parameter.


def _driver(conn: Connection) -> Any:
    return conn.connection.driver_connection


@lru_cache(maxsize=256)
def _driver_sql(dialect: str, sql: str, count: int = 0) -> str:
    """``sql`` in the driver's parameter style; ``(?*)`` becomes ``count`` markers."""
    sql = sql.replace("(?*)", "(" + ", ".join("?" * count) + ")")
    return sql if dialect == "sqlite" else sql.replace("?", "%s")


@contextmanager
def pipeline(conn: Connection) -> Iterator[None]:
    """Statements sent inside go to PostgreSQL together, in one round trip (psycopg's
    pipeline mode); on SQLite, where there is no network, they simply run."""
    if conn.dialect.name != "postgresql":
        yield
        return
    with _driver(conn).pipeline():
        yield


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
        ("keys", _KEY_SQL, keys),
        ("partners", "SELECT id FROM partners WHERE id IN (?*)", partners),
    ):
        queries += [(name, sql, chunk) for chunk in _in_chunks(values)]
    dialect = conn.dialect.name
    if dialect == "postgresql":
        driver = _driver(conn)
        with driver.pipeline():
            cursors = [
                driver.execute(_driver_sql(dialect, sql, len(params)), tuple(params))
                for _, sql, params in queries
            ]
        results = [cursor.fetchall() for cursor in cursors]
    else:
        results = [_rows(conn, sql, params, many=len(params)) for _, sql, params in queries]
    found: dict[str, list[Any]] = {"seq": [], "lots": [], "keys": [], "partners": []}
    for (name, _, _), rows in zip(queries, results, strict=True):
        found[name].extend(rows)
    ((current, announcement),) = found["seq"]
    return BatchState(
        next_seq=0 if current is None else int(current) + 1,
        lots={row[0]: _lot_of(row[:12]) for row in found["lots"]},
        summaries={
            row[0]: None if row[12] is None else (int(row[12]), row[13]) for row in found["lots"]
        },
        keys={row[0]: KeyRow(*row) for row in found["keys"]},
        partners={row[0] for row in found["partners"]},
        service_key=None if announcement is None else str(_body(announcement).get("key")),
    )


def latest_summary(conn: Connection, lot_id: str) -> LedgerEntry | None:
    """The lot's latest logged summary entry."""
    row = conn.execute(
        select(ledger_entries)
        .join(lots, lots.c.summary_seq == ledger_entries.c.seq)
        .where(lots.c.id == lot_id)
    ).first()
    return None if row is None else _entry(row)


def summaries_at(
    conn: Connection, heads: list[tuple[str, str]]
) -> dict[tuple[str, str], LedgerEntry]:
    """The summary entries stating each (lot, head); the first logged if there are several."""
    found: dict[tuple[str, str], LedgerEntry] = {}
    wanted = set(heads)
    for chunk in _in_chunks({head for _, head in heads}):
        query = (
            select(summaries.c.lot_id, summaries.c.head, ledger_entries)
            .join(ledger_entries, ledger_entries.c.seq == summaries.c.seq)
            .where(summaries.c.head.in_(chunk))
            .order_by(summaries.c.seq)
        )
        for row in conn.execute(query):
            key = (row.lot_id, row.head)
            if key in wanted and key not in found:
                found[key] = _entry(row)
    return found


def input_prev(conn: Connection, lot_id: str, transformation_seq: int) -> str | None:
    """The head a transformation at ``transformation_seq`` named for its input ``lot_id``."""
    return conn.execute(
        select(events.c.prev).where(
            events.c.lot_id == lot_id, events.c.seq == transformation_seq, events.c.role == "input"
        )
    ).scalar_one_or_none()


def latest_summary_before(conn: Connection, lot_id: str, size: int) -> LedgerEntry | None:
    """The lot's latest summary among the first ``size`` entries of the log."""
    row = conn.execute(
        select(ledger_entries)
        .join(summaries, summaries.c.seq == ledger_entries.c.seq)
        .where(summaries.c.lot_id == lot_id, summaries.c.seq < size)
        .order_by(summaries.c.seq.desc())
        .limit(1)
    ).first()
    return None if row is None else _entry(row)


def lot_latest_seq(conn: Connection, lot_id: str) -> int | None:
    """The seq of the lot's latest entry: the last link of its chain, or its latest summary."""
    row = conn.execute(
        select(lots.c.updated_seq, lots.c.summary_seq).where(lots.c.id == lot_id)
    ).first()
    if row is None:
        return None
    return max(int(row.updated_seq), int(row.summary_seq or -1))


# The whole-log audit reads chunks of the log straight from the driver.


def entry_rows(conn: Connection, start: int, end: int) -> list[tuple[Any, ...]]:
    """(seq, kind, hash, body, signature, signer, recorded_at, receipt) for seq in [start, end)."""
    return _rows(
        conn,
        "SELECT seq, kind, hash, body, signature, signer, recorded_at, receipt "
        "FROM ledger_entries WHERE seq >= ? AND seq < ? ORDER BY seq",
        (start, end),
    )


def link_rows(conn: Connection, start: int, end: int) -> dict[int, list[tuple[str, int, str]]]:
    """The chain links of the entries in [start, end): seq → [(lot, lot_seq, role)]."""
    found: dict[int, list[tuple[str, int, str]]] = {}
    for seq, lot, lot_seq, role in _rows(
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
        for at, level, index, value in _rows(
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
        for at, level, index in _rows(
            conn, "SELECT completed_at, level, idx FROM tree_nodes WHERE completed_at >= ?", (size,)
        )
    ]


def key_record_bodies(conn: Connection) -> Iterator[dict[str, Any]]:
    """The bodies of every key registration, in order (for an audit to read ahead)."""
    for (stored,) in _rows(
        conn, "SELECT body FROM ledger_entries WHERE kind = 'key' ORDER BY seq", ()
    ):
        yield _body(stored)


def summary_body_of(text: str) -> dict[str, Any]:
    """A stored summary's body (as ``_body``: an edited row still parses to something)."""
    return _body(text)


def _rows(conn: Connection, sql: str, params: Sequence[Any], *, many: int = 0) -> list[Any]:
    cursor = _driver(conn).cursor()
    try:
        cursor.execute(_driver_sql(conn.dialect.name, sql, many), tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


_KEY_SQL = (
    "SELECT key_id, partner_id, public_key, registered_seq, revoked_seq, revoked_at "
    "FROM partner_keys WHERE key_id IN (?*)"
)
_PARTNERS_BY_IDS = select(partners).where(partners.c.id.in_(bindparam("b", expanding=True)))
_LATEST_CHECKPOINT = select(checkpoints).order_by(checkpoints.c.size.desc()).limit(1)
_CHECKPOINT = select(checkpoints).where(checkpoints.c.size == bindparam("b_size"))


@dataclass(frozen=True, slots=True)
class PartnerRow:
    id: str
    name: str
    roles: frozenset[str]
    country: str | None
    registered_seq: int


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    size: int
    root: bytes
    note: str
    issued_at: str


@dataclass(frozen=True, slots=True)
class KeyRow:
    key_id: str
    partner_id: str
    public_key: str
    registered_seq: int
    revoked_seq: int | None
    revoked_at: str | None


def _body(text: str) -> dict[str, Any]:
    # A row edited behind the service's back may not even parse; verification
    # must still be able to name it rather than crash.
    try:
        body = json.loads(text)
    except ValueError:
        return {"unparseable_body": text[:200]}
    return body if isinstance(body, dict) else {"unparseable_body": text[:200]}


def _entry(row: Any) -> LedgerEntry:
    return LedgerEntry(
        seq=row.seq,
        kind=row.kind,
        body=_body(row.body),
        hash=row.hash,
        signature=row.signature,
        signer=row.signer,
        recorded_at=row.recorded_at,
        receipt=row.receipt,
        stored=row.body.encode("utf-8"),
    )


def _partner(row: Any) -> PartnerRow:
    return PartnerRow(
        id=row.id,
        name=row.name,
        roles=frozenset(row.roles.split(",")) if row.roles else frozenset(),
        country=row.country,
        registered_seq=row.registered_seq,
    )


def _key(row: Any) -> KeyRow:
    return KeyRow(
        key_id=row.key_id,
        partner_id=row.partner_id,
        public_key=row.public_key,
        registered_seq=row.registered_seq,
        revoked_seq=row.revoked_seq,
        revoked_at=row.revoked_at,
    )


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _lot(row: Any) -> LotState:
    """A lot from a row of ``lots`` read through SQLAlchemy (by column name)."""
    return _lot_of(tuple(getattr(row, name) for name in _LOT_FIELDS))


# Reads -----------------------------------------------------------------------------------


def next_seq(conn: Connection) -> int:
    """The next global sequence number. Only meaningful under the sequencer lock."""
    ((current,),) = _rows(conn, "SELECT MAX(seq) FROM ledger_entries", ())
    return 0 if current is None else int(current) + 1


def entry_by_hash(conn: Connection, entry_hash: str) -> LedgerEntry | None:
    row = conn.execute(_ENTRY_BY_HASH, {"b_hash": entry_hash}).first()
    return None if row is None else _entry(row)


def entry_by_seq(conn: Connection, seq: int) -> LedgerEntry | None:
    row = conn.execute(_ENTRY_BY_SEQ, {"b_seq": seq}).first()
    return None if row is None else _entry(row)


def _in_chunks(values: set[str]) -> Iterator[list[str]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), 500):
        yield ordered[start : start + 500]


def keys_by_ids(conn: Connection, key_ids: set[str]) -> dict[str, KeyRow]:
    found: dict[str, KeyRow] = {}
    for chunk in _in_chunks(key_ids):
        rows = _rows(conn, _KEY_SQL, chunk, many=len(chunk))
        found.update((row[0], KeyRow(*row)) for row in rows)
    return found


def partners_by_ids(conn: Connection, partner_ids: set[str]) -> dict[str, PartnerRow]:
    found: dict[str, PartnerRow] = {}
    for chunk in _in_chunks(partner_ids):
        found.update(
            (row.id, _partner(row)) for row in conn.execute(_PARTNERS_BY_IDS, {"b": chunk})
        )
    return found


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
    return [(row.lot_seq, _entry(row)) for row in conn.execute(query)]


def partner_by_id(conn: Connection, partner_id: str) -> PartnerRow | None:
    row = conn.execute(_PARTNER, {"b_id": partner_id}).first()
    return None if row is None else _partner(row)


_PARTNER_BY_KEY_HASH = (
    "SELECT id, name, roles, country, registered_seq FROM partners WHERE api_key_hash = ?"
)


def _partner_of(row: tuple[Any, ...]) -> PartnerRow:
    partner_id, name, roles, country, seq = row
    return PartnerRow(
        partner_id, name, frozenset(roles.split(",")) if roles else frozenset(), country, seq
    )


def partner_by_api_key_hash(conn: Connection, key_hash: str) -> PartnerRow | None:
    """The partner an API key belongs to (asked on every partner's request)."""
    found = _rows(conn, _PARTNER_BY_KEY_HASH, (key_hash,))
    return _partner_of(found[0]) if found else None


def list_partners(conn: Connection, *, after: str | None, limit: int) -> list[PartnerRow]:
    query = select(partners).order_by(partners.c.id).limit(limit)
    if after is not None:
        query = query.where(partners.c.id > after)
    return [_partner(row) for row in conn.execute(query)]


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


def key_by_id(conn: Connection, key_id: str) -> KeyRow | None:
    row = conn.execute(_KEY, {"b_id": key_id}).first()
    return None if row is None else _key(row)


def keys_of_partner(conn: Connection, partner_id: str) -> list[KeyRow]:
    query = (
        select(partner_keys)
        .where(partner_keys.c.partner_id == partner_id)
        .order_by(partner_keys.c.registered_seq)
    )
    return [_key(row) for row in conn.execute(query)]


_SERVICE_KEYS = (
    select(ledger_entries)
    .where(ledger_entries.c.kind == "service_key")
    .order_by(ledger_entries.c.seq)
)


def service_key_entries(conn: Connection) -> list[LedgerEntry]:
    """Every service key announcement, in order (a handful: one per rotation)."""
    return [_entry(row) for row in conn.execute(_SERVICE_KEYS)]


def registry_entries(conn: Connection, *, key_ids: set[str]) -> list[LedgerEntry]:
    """The registry entries (key registrations and revocations, and their partners) of keys,
    and every service key announcement: what a document's verifier needs, in seq order."""
    announcements = service_key_entries(conn)
    if not key_ids:
        return announcements
    keys = conn.execute(
        select(
            partner_keys.c.registered_seq, partner_keys.c.revoked_seq, partner_keys.c.partner_id
        ).where(partner_keys.c.key_id.in_(key_ids))
    ).all()
    partner_ids = {row.partner_id for row in keys}
    seqs = {row.registered_seq for row in keys} | {
        row.revoked_seq for row in keys if row.revoked_seq is not None
    }
    seqs |= set(
        conn.execute(
            select(partners.c.registered_seq).where(partners.c.id.in_(partner_ids))
        ).scalars()
    )
    rows = conn.execute(
        select(ledger_entries).where(ledger_entries.c.seq.in_(seqs)).order_by(ledger_entries.c.seq)
    )
    return sorted([*map(_entry, rows), *announcements], key=lambda entry: entry.seq)


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
        rows = _rows(conn, _nodes_sql(len(chunk)), params)
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
            current = (_entry(row), [])
        if row.lot_id is not None:
            current[1].append((row.lot_id, row.lot_seq))
    if current is not None:
        yield current


def iter_tree_nodes(conn: Connection) -> Iterator[tuple[int, NodeId, bytes]]:
    """Every stored node as (completed_at, (level, idx), hash), in the order they were added."""
    query = select(tree_nodes).order_by(tree_nodes.c.completed_at, tree_nodes.c.level)
    for row in conn.execution_options(yield_per=5000).execute(query):
        yield row.completed_at, (row.level, row.idx), bytes(row.hash)


# Writes ----------------------------------------------------------------------------------


def append_tree_nodes(conn: Connection, nodes: list[dict[str, Any]]) -> None:
    """Insert stored perfect subtrees: dicts of level, idx, hash and completed_at."""
    if nodes:
        _bulk(conn, "insert", "tree_nodes", nodes)


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
        _bulk(conn, "insert", "ledger_entries", rows)


def append_summary_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Index summary entries: dicts of seq, lot_id, head and length."""
    _bulk(conn, "insert", "summaries", rows)


def append_feed_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Feed items: dicts of seq, partner_id, topic and lot_id, in seq order."""
    if rows:
        _bulk(conn, "insert", "feed", rows)


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
        _bulk(conn, "insert", "events", rows)


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
    _bulk(conn, "insert", "lots", created)
    _bulk(conn, "update", "lots", updated)


def insert_partner(
    conn: Connection,
    *,
    partner_id: str,
    name: str,
    roles: list[str],
    country: str | None,
    api_key_hash: str,
    seq: int,
) -> None:
    conn.execute(
        insert(partners).values(
            id=partner_id,
            name=name,
            roles=",".join(sorted(roles)),
            country=country,
            api_key_hash=api_key_hash,
            registered_seq=seq,
        )
    )


def replace_api_key_hash(conn: Connection, partner_id: str, api_key_hash: str) -> None:
    conn.execute(
        update(partners).where(partners.c.id == partner_id).values(api_key_hash=api_key_hash)
    )


def insert_partner_key(
    conn: Connection, *, key_id: str, partner_id: str, public_key: str, seq: int
) -> None:
    conn.execute(
        insert(partner_keys).values(
            key_id=key_id, partner_id=partner_id, public_key=public_key, registered_seq=seq
        )
    )


def record_key_revoked(conn: Connection, key_id: str, *, seq: int, revoked_at: str) -> None:
    conn.execute(
        update(partner_keys)
        .where(partner_keys.c.key_id == key_id)
        .values(revoked_seq=seq, revoked_at=revoked_at)
    )


# Genealogy ---------------------------------------------------------------------------------

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
            entries.append(_entry(row))
    return sorted(lots_), entries


def lineage(
    conn: Connection, lot_id: str, *, direction: str, depth: int, limit: int
) -> list[EdgeRow]:
    """Edges (parent → child) within ``depth`` steps up or down from the lot, nearest first."""
    rows = conn.execute(_EDGES[direction], {"lot": lot_id, "depth": depth, "limit": limit})
    return [EdgeRow(row.parent, row.child, row.seq, row.depth) for row in rows]


_LOT_COLUMNS = (
    "id, form, mass_g, fineness, custodian, pending_to, stage, last_action, "
    "last_occurred_at, head, length, consumed_by"
)
_LOT_FIELDS = tuple(_LOT_COLUMNS.split(", "))


def _lot_of(row: tuple[Any, ...]) -> LotState:
    """A lot from the columns ``_LOT_COLUMNS``, in that order (the driver-level reads)."""
    lot_id, form, mass, fineness, custodian, pending, stage, action, at, head, length, by = row
    return LotState(
        lot=lot_id,
        form=form,
        mass_g=_decimal(mass),
        fineness=_decimal(fineness),
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
    for chunk in _in_chunks(ids):
        rows = _rows(
            conn,
            f"SELECT {_LOT_COLUMNS} FROM lots WHERE id IN (?*)",  # noqa: S608 (fixed names)
            chunk,
            many=len(chunk),
        )
        found.update((row[0], _lot_of(row)) for row in rows)
    return found


# The partner feed and webhooks (PROTOCOL.md §20) ------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedItem:
    id: int
    topic: str
    lot: str | None
    entry: LedgerEntry
    awaiting_receipt: bool | None
    """For a transfer: whether the lot still waits for this partner's ``received``."""

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": self.id,
            "topic": self.topic,
            "lot": self.lot,
            "seq": self.entry.seq,
            "entry": self.entry.to_json(),
        }
        if self.awaiting_receipt is not None:
            item["awaiting_receipt"] = self.awaiting_receipt
        return item


def feed_items(
    conn: Connection,
    partner_id: str,
    *,
    after: int,
    limit: int,
    topics: set[str] | None = None,
    awaiting: bool = False,
) -> list[FeedItem]:
    """The partner's feed items after ``after``, in order, each with its ledger entry;
    ``awaiting``: only transfers whose lot still waits for the partner's ``received``."""
    query = (
        select(feed.c.id, feed.c.topic, feed.c.lot_id, lots.c.pending_to, ledger_entries)
        .join(ledger_entries, ledger_entries.c.seq == feed.c.seq)
        .outerjoin(lots, lots.c.id == feed.c.lot_id)
        .where(feed.c.partner_id == partner_id, feed.c.id > after)
        .order_by(feed.c.id)
        .limit(limit)
    )
    if topics:
        query = query.where(feed.c.topic.in_(sorted(topics)))
    if awaiting:
        query = query.where(feed.c.topic == "transfer", lots.c.pending_to == partner_id)
    return [
        FeedItem(
            id=row.id,
            topic=row.topic,
            lot=row.lot_id,
            entry=_entry(row),
            awaiting_receipt=(row.pending_to == partner_id) if row.topic == "transfer" else None,
        )
        for row in conn.execute(query)
    ]


def feed_rows(conn: Connection) -> list[tuple[int, str, str, str | None]]:
    """Every feed item as (seq, partner, topic, lot), in order (for the audit)."""
    query = select(feed.c.seq, feed.c.partner_id, feed.c.topic, feed.c.lot_id).order_by(feed.c.id)
    return [(int(row[0]), row[1], row[2], row[3]) for row in conn.execute(query)]


def last_feed_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(feed.c.id), 0))).scalar_one())


@dataclass(frozen=True, slots=True)
class WebhookRow:
    partner_id: str
    url: str
    secret: str
    delivered_through: int
    attempts: int
    next_attempt_at: float
    lease_until: float


def webhook_of(conn: Connection, partner_id: str) -> WebhookRow | None:
    row = conn.execute(select(webhooks).where(webhooks.c.partner_id == partner_id)).first()
    return None if row is None else WebhookRow(*row)


def save_webhook(conn: Connection, hook: WebhookRow) -> None:
    conn.execute(delete(webhooks).where(webhooks.c.partner_id == hook.partner_id))
    conn.execute(insert(webhooks).values(**{f: getattr(hook, f) for f in hook.__slots__}))


def delete_webhook(conn: Connection, partner_id: str) -> bool:
    return bool(conn.execute(delete(webhooks).where(webhooks.c.partner_id == partner_id)).rowcount)


def due_webhooks(conn: Connection, now: float) -> list[WebhookRow]:
    """Webhooks with items beyond what they delivered, due and not leased by a worker."""
    pending = (
        select(feed.c.id)
        .where(feed.c.partner_id == webhooks.c.partner_id, feed.c.id > webhooks.c.delivered_through)
        .exists()
    )
    query = select(webhooks).where(
        webhooks.c.next_attempt_at <= now, webhooks.c.lease_until < now, pending
    )
    return [WebhookRow(*row) for row in conn.execute(query)]


def lease_webhook(conn: Connection, partner_id: str, *, now: float, until: float) -> bool:
    """Take the partner's deliveries for this worker until ``until``, if no one holds them."""
    taken = conn.execute(
        update(webhooks)
        .where(webhooks.c.partner_id == partner_id, webhooks.c.lease_until < now)
        .values(lease_until=until)
    )
    return taken.rowcount == 1


def webhook_done(
    conn: Connection,
    partner_id: str,
    *,
    delivered_through: int,
    attempts: int,
    next_attempt_at: float,
    delivery: dict[str, Any],
) -> None:
    """Record an attempt and what follows from it; release the lease."""
    conn.execute(
        update(webhooks)
        .where(webhooks.c.partner_id == partner_id)
        .values(
            delivered_through=delivered_through,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            lease_until=0.0,
        )
    )
    conn.execute(insert(webhook_deliveries).values(partner_id=partner_id, **delivery))


def deliveries_of(
    conn: Connection, partner_id: str, *, after: int, limit: int
) -> list[dict[str, Any]]:
    query = (
        select(webhook_deliveries)
        .where(webhook_deliveries.c.partner_id == partner_id, webhook_deliveries.c.id > after)
        .order_by(webhook_deliveries.c.id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]
