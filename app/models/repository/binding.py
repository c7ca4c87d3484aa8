"""Bindings to physical pieces, NFC tags, their taps and claim attempts (PROTOCOL.md §21)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, text, update

from app.models.repository._sql import bulk
from app.models.tables import bindings, claim_attempts, tag_taps, tags

__all__ = [
    "BindingRow",
    "StandingRow",
    "TagRow",
    "TapRow",
    "accept_counter",
    "active_bindings",
    "add_tap",
    "append_binding_rows",
    "claim_attempts_since",
    "end_bindings",
    "first_tap_with_counter",
    "genuine_taps",
    "insert_tag",
    "last_counters",
    "latest_binding_of_lot",
    "record_claim_attempt",
    "standing_binding",
    "tag_by_id",
    "tag_by_uid_digest",
    "taps_of",
]


@dataclass(frozen=True, slots=True)
class BindingRow:
    seq: int
    kind: str
    key: str
    lot_id: str
    ended_seq: int | None


@dataclass(frozen=True, slots=True)
class TagRow:
    id: str
    uid_digest: str
    registered_by: str
    registered_at: str
    last_counter: int


@dataclass(frozen=True, slots=True)
class TapRow:
    id: int
    counter: int | None
    at: str
    outcome: str


def append_binding_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """What binding entries bound: dicts of seq, kind, key, lot_id and ended_seq (None)."""
    bulk(conn, "insert", "bindings", rows)


def end_bindings(conn: Connection, ended: list[tuple[int, str, str]]) -> None:
    """End the open bindings of (kind, key) by the entry at seq: (seq, kind, key)."""
    for seq, kind, key in ended:
        conn.execute(
            update(bindings)
            .where(bindings.c.kind == kind, bindings.c.key == key, bindings.c.ended_seq.is_(None))
            .values(ended_seq=seq)
        )


def active_bindings(conn: Connection, kind: str, key: str) -> list[BindingRow]:
    """The bindings of (kind, key) no entry has ended, newest first."""
    query = (
        select(bindings)
        .where(bindings.c.kind == kind, bindings.c.key == key, bindings.c.ended_seq.is_(None))
        .order_by(bindings.c.seq.desc())
    )
    return [BindingRow(*row) for row in conn.execute(query)]


def latest_binding_of_lot(conn: Connection, kind: str, lot_id: str) -> BindingRow | None:
    query = (
        select(bindings)
        .where(bindings.c.kind == kind, bindings.c.lot_id == lot_id)
        .order_by(bindings.c.seq.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else BindingRow(*row)


def insert_tag(conn: Connection, tag: TagRow) -> None:
    conn.execute(
        insert(tags).values(
            id=tag.id,
            uid_digest=tag.uid_digest,
            registered_by=tag.registered_by,
            registered_at=tag.registered_at,
            last_counter=tag.last_counter,
        )
    )


def tag_by_uid_digest(conn: Connection, digest: str) -> TagRow | None:
    row = conn.execute(select(tags).where(tags.c.uid_digest == digest)).first()
    return None if row is None else TagRow(*row)


def first_tap_with_counter(conn: Connection, tag_id: str, counter: int) -> TapRow | None:
    query = (
        select(tag_taps.c.id, tag_taps.c.counter, tag_taps.c.at, tag_taps.c.outcome)
        .where(
            tag_taps.c.tag_id == tag_id,
            tag_taps.c.counter == counter,
            tag_taps.c.outcome == "genuine",
        )
        .order_by(tag_taps.c.id)
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else TapRow(*row)


def taps_of(conn: Connection, tag_id: str, *, after: int, limit: int) -> list[TapRow]:
    query = (
        select(tag_taps.c.id, tag_taps.c.counter, tag_taps.c.at, tag_taps.c.outcome)
        .where(tag_taps.c.tag_id == tag_id, tag_taps.c.id > after)
        .order_by(tag_taps.c.id)
        .limit(limit)
    )
    return [TapRow(*row) for row in conn.execute(query)]


def record_claim_attempt(conn: Connection, lot_id: str, *, at: str, outcome: str) -> None:
    conn.execute(insert(claim_attempts).values(lot_id=lot_id, at=at, outcome=outcome))


def claim_attempts_since(conn: Connection, lot_id: str, since: str) -> list[tuple[str, str]]:
    """(at, outcome) of the lot's claim attempts at or after ``since`` (RFC 3339, UTC)."""
    query = (
        select(claim_attempts.c.at, claim_attempts.c.outcome)
        .where(claim_attempts.c.lot_id == lot_id, claim_attempts.c.at >= since)
        .order_by(claim_attempts.c.id)
    )
    return [(row.at, row.outcome) for row in conn.execute(query)]


def genuine_taps(conn: Connection) -> list[tuple[int, str, int]]:
    """(id, tag, counter) of every tap accepted as genuine, in the order they were recorded."""
    query = (
        select(tag_taps.c.id, tag_taps.c.tag_id, tag_taps.c.counter)
        .where(tag_taps.c.outcome == "genuine")
        .order_by(tag_taps.c.id)
    )
    return [(int(row[0]), row[1], int(row[2])) for row in conn.execute(query)]


def last_counters(conn: Connection) -> dict[str, int]:
    return {row.id: int(row.last_counter) for row in conn.execute(select(tags))}


# A tap runs these once each, in one transaction: built once, as the write path's are.
_TAG = select(tags).where(tags.c.id == bindparam("b_id"))
_RAISE = (
    update(tags)
    .where(
        tags.c.id == bindparam("b_id"),
        tags.c.uid_digest == bindparam("b_digest"),
        tags.c.last_counter < bindparam("b_counter"),
    )
    .values(last_counter=bindparam("b_counter"))
)
_TAP = insert(tag_taps)

# The binding of (kind, key) no entry ended, with when it was made and whether a
# transformation has since taken from its lot: one statement.
_STANDING = text(
    """
SELECT b.seq, b.lot_id, le.recorded_at,
       (SELECT MIN(e.seq) FROM events e
         WHERE e.lot_id = b.lot_id AND e.role = 'input' AND e.seq > b.seq) AS taken,
       l.consumed_by
FROM bindings b
JOIN ledger_entries le ON le.seq = b.seq
LEFT JOIN lots l ON l.id = b.lot_id
WHERE b.kind = :kind AND b.key = :key AND b.ended_seq IS NULL
ORDER BY b.seq DESC
LIMIT 1"""
)


@dataclass(frozen=True, slots=True)
class StandingRow:
    seq: int
    lot_id: str
    recorded_at: str
    taken_seq: int | None
    consumed_by: str | None


def standing_binding(conn: Connection, kind: str, key: str) -> StandingRow | None:
    row = conn.execute(_STANDING, {"kind": kind, "key": key}).first()
    if row is None:
        return None
    taken = None if row.taken is None else int(row.taken)
    return StandingRow(int(row.seq), row.lot_id, row.recorded_at, taken, row.consumed_by)


def tag_by_id(conn: Connection, tag_id: str) -> TagRow | None:
    row = conn.execute(_TAG, {"b_id": tag_id}).first()
    return None if row is None else TagRow(*row)


def accept_counter(conn: Connection, tag_id: str, uid_digest: str, counter: int) -> bool:
    """Accept ``counter`` for the tag registered with ``uid_digest`` if it is higher than every
    counter accepted for it: one conditional update (two racing taps: exactly one wins)."""
    params = {"b_id": tag_id, "b_digest": uid_digest, "b_counter": counter}
    return conn.execute(_RAISE, params).rowcount == 1


def add_tap(conn: Connection, tag_id: str, *, counter: int | None, at: str, outcome: str) -> None:
    conn.execute(_TAP, {"tag_id": tag_id, "counter": counter, "at": at, "outcome": outcome})
