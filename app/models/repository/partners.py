"""Partners, their keys and the service key's announcements: the registry (PROTOCOL.md §2, §19)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from app.ledger.records import LedgerEntry
from app.models.repository._sql import driver_rows, entry_of, in_chunks
from app.models.tables import (
    ledger_entries,
    partner_keys,
    partners,
)

__all__ = [
    "KeyRow",
    "PartnerRow",
    "insert_partner",
    "insert_partner_key",
    "key_by_id",
    "keys_by_ids",
    "keys_of_partner",
    "list_partners",
    "partner_by_api_key_hash",
    "partner_by_id",
    "partners_by_ids",
    "record_key_revoked",
    "registry_entries",
    "replace_api_key_hash",
    "service_key_entries",
]


_PARTNER = select(partners).where(partners.c.id == bindparam("b_id"))


_KEY = select(partner_keys).where(partner_keys.c.key_id == bindparam("b_id"))


KEYS_BY_IDS_SQL = (
    "SELECT key_id, partner_id, public_key, registered_seq, revoked_seq, revoked_at "
    "FROM partner_keys WHERE key_id IN (?*)"
)


_PARTNERS_BY_IDS = select(partners).where(partners.c.id.in_(bindparam("b", expanding=True)))


@dataclass(frozen=True, slots=True)
class PartnerRow:
    id: str
    name: str
    roles: frozenset[str]
    country: str | None
    registered_seq: int


@dataclass(frozen=True, slots=True)
class KeyRow:
    key_id: str
    partner_id: str
    public_key: str
    registered_seq: int
    revoked_seq: int | None
    revoked_at: str | None


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


def keys_by_ids(conn: Connection, key_ids: set[str]) -> dict[str, KeyRow]:
    found: dict[str, KeyRow] = {}
    for chunk in in_chunks(key_ids):
        rows = driver_rows(conn, KEYS_BY_IDS_SQL, chunk, many=len(chunk))
        found.update((row[0], KeyRow(*row)) for row in rows)
    return found


def partners_by_ids(conn: Connection, partner_ids: set[str]) -> dict[str, PartnerRow]:
    found: dict[str, PartnerRow] = {}
    for chunk in in_chunks(partner_ids):
        found.update(
            (row.id, _partner(row)) for row in conn.execute(_PARTNERS_BY_IDS, {"b": chunk})
        )
    return found


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
    found = driver_rows(conn, _PARTNER_BY_KEY_HASH, (key_hash,))
    return _partner_of(found[0]) if found else None


def list_partners(conn: Connection, *, after: str | None, limit: int) -> list[PartnerRow]:
    query = select(partners).order_by(partners.c.id).limit(limit)
    if after is not None:
        query = query.where(partners.c.id > after)
    return [_partner(row) for row in conn.execute(query)]


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
    return [entry_of(row) for row in conn.execute(_SERVICE_KEYS)]


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
    return sorted([*map(entry_of, rows), *announcements], key=lambda entry: entry.seq)


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
