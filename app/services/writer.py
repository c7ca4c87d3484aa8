"""The ledger's one writer: numbers an entry, signs its receipt, appends it and its
leaf to the Merkle tree, in the caller's transaction.

Must be called inside ``app.db.write_transaction``, which holds the sequencer
lock, so that ``next_seq`` is gap-free and unique.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from app.domain.rules import LotState
from app.ledger.canonical import canonical_bytes
from app.ledger.keys import SigningKey
from app.ledger.merkle import completed_nodes, leaf_hash, nodes_for_append
from app.ledger.records import LedgerEntry
from app.models import repository
from app.services.clock import format_time

__all__ = ["ChainLink", "Signed", "append", "append_service_record", "append_signed"]


class Signed(Protocol):
    """What a partner signs: an event or a transformation."""

    @property
    def partner(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def occurred_at(self) -> str: ...
    @property
    def canonical(self) -> bytes: ...

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ChainLink:
    """An entry's place in one lot's chain: an event's own, a transformation's input or output."""

    lot: str
    lot_seq: int
    prev: str | None
    role: str = "event"


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


def append_signed(
    conn: Connection,
    *,
    kind: str,
    signed: Signed,
    signature: bytes,
    links: Sequence[ChainLink],
    states: Sequence[LotState],
    service_key: SigningKey,
    now: datetime,
) -> LedgerEntry:
    """Append a partner's signed event or transformation, its chain links and the lots it moves."""
    entry = append(
        conn,
        kind=kind,
        body=signed.to_json(),
        signature=signature,
        signer=signed.key,
        service_key=service_key,
        now=now,
        canonical=signed.canonical,
    )
    for link in links:
        repository.append_event_row(
            conn,
            seq=entry.seq,
            lot_id=link.lot,
            lot_seq=link.lot_seq,
            prev=link.prev,
            partner_id=signed.partner,
            key_id=signed.key,
            stage=signed.stage,
            action=signed.action,
            occurred_at=signed.occurred_at,
            role=link.role,
        )
    for state in states:
        repository.save_lot(conn, state, seq=entry.seq)
    return entry
