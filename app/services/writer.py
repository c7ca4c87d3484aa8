"""The ledger's one writer: numbers an entry, signs its receipt, appends it and its
leaf to the Merkle tree, in the caller's transaction.

Must be called inside ``app.db.write_transaction``, which holds the sequencer
lock, so that ``next_seq`` is gap-free and unique.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app.ledger.canonical import canonical_bytes
from app.ledger.keys import SigningKey
from app.ledger.merkle import completed_nodes, leaf_hash, nodes_for_append
from app.ledger.records import LedgerEntry
from app.models import repository
from app.services.clock import format_time

__all__ = ["append", "append_service_record"]


def append(
    conn: Connection,
    *,
    kind: str,
    body: dict[str, Any],
    signature: bytes,
    signer: str,
    service_key: SigningKey,
    now: datetime,
    canonical: bytes | None = None,
) -> LedgerEntry:
    """Append ``body`` at the next position; ``canonical`` is ``JCS(body)`` if already known."""
    canonical = canonical if canonical is not None else canonical_bytes(body)
    entry = LedgerEntry.issue(
        seq=repository.next_seq(conn),
        kind=kind,
        body=body,
        signature=signature,
        signer=signer,
        recorded_at=format_time(now),
        service_key=service_key,
        canonical=canonical,
    )
    repository.append_entry(conn, entry, body_text=canonical.decode("utf-8"))
    _grow_tree(conn, entry)
    return entry


def _grow_tree(conn: Connection, entry: LedgerEntry) -> None:
    """Add the entry's leaf (RFC 9162) and the perfect subtrees it completes."""
    siblings = repository.tree_nodes_by_id(conn, set(nodes_for_append(entry.seq)))
    completed = completed_nodes(
        entry.seq, leaf_hash(entry.leaf), lambda level, index: siblings[(level, index)]
    )
    repository.append_tree_nodes(conn, completed, completed_at=entry.seq)


def append_service_record(
    conn: Connection, *, kind: str, body: dict[str, Any], service_key: SigningKey, now: datetime
) -> LedgerEntry:
    """Append a registry record that the service itself signs."""
    canonical = canonical_bytes(body)
    return append(
        conn,
        kind=kind,
        body=body,
        signature=service_key.sign(canonical),
        signer=service_key.public.key_id,
        service_key=service_key,
        now=now,
        canonical=canonical,
    )
