"""Reading, exporting and verifying lot chains."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection

from app.ledger.documents.export import EXPORT_FORMAT, verify_lot_export
from app.ledger.keys import PublicKey
from app.ledger.report import Report
from app.models import repository
from app.models.repository import CheckpointRow
from app.services import log
from app.services.errors import NotFound

__all__ = ["export_lot", "verify_ledger", "verify_lot"]


def export_lot(
    conn: Connection,
    lot_id: str,
    *,
    service_key: PublicKey,
    checkpoint: CheckpointRow | None = None,
) -> dict[str, Any]:
    """The lot's whole chain with the registry entries of every key that signed it.

    The document is what ``goldtrail verify`` checks offline (docs/PROTOCOL.md §6).
    With a ``checkpoint`` it also carries every entry's inclusion proof in it.
    """
    chain = repository.events_of_lot(conn, lot_id)
    state = repository.lot_state(conn, lot_id)
    if state is None and not chain:
        raise NotFound("lot.unknown", f"no lot {lot_id}", field="lot_id")
    key_ids = {str(entry.body.get("key")) for _, entry in chain}
    registry = repository.registry_entries(conn, key_ids=key_ids)
    doc: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "lot": lot_id,
        "service_key": service_key.b64,
        "head": None if state is None else state.head,
        "length": 0 if state is None else state.length,
        "registry": [entry.to_json() for entry in registry],
        "events": [entry.to_json() for _, entry in chain],
    }
    if checkpoint is not None:
        seqs = [entry.seq for entry in registry] + [entry.seq for _, entry in chain]
        covered = [seq for seq in seqs if seq < checkpoint.size]
        proofs = log.proofs_against(conn, covered, checkpoint.size)
        doc["log"] = {
            "checkpoint": checkpoint.note,
            "proofs": {str(seq): proof for seq, proof in proofs.items()},
        }
    return doc


def verify_lot(conn: Connection, lot_id: str, *, service_key: PublicKey) -> Report:
    return verify_lot_export(
        export_lot(conn, lot_id, service_key=service_key), service_key=service_key
    )


def verify_ledger(conn: Connection, *, service_key: PublicKey) -> Iterator[tuple[str, Report]]:
    """Verify every lot in turn, yielding as it goes so memory stays flat."""
    for lot_id in repository.iter_lot_ids(conn):
        yield lot_id, verify_lot(conn, lot_id, service_key=service_key)
