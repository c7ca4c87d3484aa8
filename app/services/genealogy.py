"""A lot's genealogy (the DAG of splits and merges) and its green metrics."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

from sqlalchemy import Connection

from app.domain.rules import LotState
from app.ledger.documents.genealogy import GENEALOGY_FORMAT
from app.ledger.errors import FieldError
from app.ledger.keys import PublicKey
from app.ledger.provenance.balance import ARITHMETIC, plain
from app.ledger.provenance.metrics import (
    MetricsError,
    Replay,
    doc_of,
    lot_metrics,
    partner_countries,
)
from app.ledger.provenance.summaries import carried_of
from app.ledger.records import LedgerEntry
from app.models import repository
from app.models.repository import CheckpointRow, EdgeRow
from app.services import log
from app.services.errors import Inconsistent, NotFound
from app.services.events import require_lot

__all__ = ["Lineage", "Replayed", "export_genealogy", "genealogy", "metrics", "replay_of"]


def _signers(entries: list[LedgerEntry]) -> set[str]:
    return {str(entry.body.get("key")) for entry in entries}


@dataclass(frozen=True, slots=True)
class Replayed:
    """A lot's genealogy as read, and its replay."""

    lots: list[str]
    entries: list[LedgerEntry]
    registry: list[LedgerEntry]
    replay: Replay
    metrics: dict[str, Any]
    """The lot's metrics (``app.ledger.provenance.metrics.lot_metrics``)."""


def replay_of(conn: Connection, lot_id: str, tolerance: Decimal) -> Replayed:
    """Read the lot's genealogy and replay it; Inconsistent if the stored ledger does not."""
    lots, entries = repository.ancestry(conn, lot_id)
    if not entries:
        raise NotFound("lot.unknown", f"no lot {lot_id}", field="lot_id")
    registry = repository.registry_entries(conn, key_ids=_signers(entries))
    try:
        replay = Replay(frozenset(lots), partner_countries(registry), tolerance).run(entries)
        computed = lot_metrics(replay, lot_id)
    except MetricsError as exc:
        raise Inconsistent(
            "ledger.inconsistent",
            f"the genealogy of {lot_id} does not replay: {exc}; run an audit",
        ) from exc
    return Replayed(lots, entries, registry, replay, computed)


def metrics(conn: Connection, lot_id: str, *, tolerance: Decimal) -> dict[str, Any]:
    """The lot's green metrics (PROTOCOL.md §15.2), from its latest logged summary.

    A fully consumed lot's metrics are those of the summary at the head the consuming
    transformation named. A lot logged before summaries were has its genealogy replayed.
    """
    state = require_lot(conn, lot_id)
    latest = repository.latest_summary(conn, lot_id)
    if latest is None:
        return replay_of(conn, lot_id, tolerance).metrics
    if state.consumed_by is None:
        return metrics_of(lot_id, latest, consumed=False)
    consumed = repository.entry_by_hash(conn, state.consumed_by)
    prev = None if consumed is None else repository.input_prev(conn, lot_id, consumed.seq)
    before = {} if prev is None else repository.summaries_at(conn, [(lot_id, prev)])
    if prev is None or (lot_id, prev) not in before:
        raise Inconsistent(
            "ledger.inconsistent",
            f"no summary of {lot_id} before the transformation that consumed it; run an audit",
        )
    return metrics_of(lot_id, before[(lot_id, prev)], consumed=True)


def metrics_of(lot_id: str, summary: LedgerEntry, *, consumed: bool) -> dict[str, Any]:
    try:
        carried = carried_of(summary.body, path=f"summary at seq {summary.seq}")
    except FieldError as exc:
        raise Inconsistent(
            "ledger.inconsistent", f"the summary of {lot_id} does not read: {exc}; run an audit"
        ) from exc
    with localcontext(ARITHMETIC):
        return doc_of(lot_id, carried, consumed=consumed)


@dataclass(frozen=True, slots=True)
class Lineage:
    nodes: list[tuple[LotState, int]]
    """Each lot with its distance: negative for ancestors, positive for descendants."""
    edges: list[EdgeRow]
    truncated: bool


def genealogy(conn: Connection, lot_id: str, *, direction: str, depth: int, limit: int) -> Lineage:
    """The lots within ``depth`` transformations up and/or down from the lot, and the edges.

    ``truncated`` says a walk stopped at ``limit`` edges.
    """
    require_lot(conn, lot_id)
    walks = ("ancestors", "descendants") if direction == "both" else (direction,)
    edges: list[EdgeRow] = []
    depth_of: dict[str, int] = {lot_id: 0}
    truncated = False
    for walk in walks:
        rows = repository.lineage(conn, lot_id, direction=walk, depth=depth, limit=limit)
        truncated |= len(rows) == limit
        for row in rows:
            edges.append(row)
            if walk == "ancestors":
                depth_of.setdefault(row.parent, -row.depth)
            else:
                depth_of.setdefault(row.child, row.depth)
    states = repository.lots_by_id(conn, set(depth_of))
    order = sorted(depth_of, key=lambda lot: (depth_of[lot], lot))
    return Lineage(
        [(states[lot], depth_of[lot]) for lot in order if lot in states], edges, truncated
    )


def export_genealogy(
    conn: Connection,
    lot_id: str,
    *,
    service_key: PublicKey,
    tolerance: Decimal,
    checkpoint: CheckpointRow | None = None,
    replayed: Replayed | None = None,
) -> dict[str, Any]:
    """Everything ``goldtrail verify`` needs to check the lot's metrics offline (§15)."""
    found = replayed or replay_of(conn, lot_id, tolerance)
    doc: dict[str, Any] = {
        "format": GENEALOGY_FORMAT,
        "lot": lot_id,
        "service_key": service_key.b64,
        "assay_tolerance": plain(tolerance),
        "lots": found.lots,
        "registry": [entry.to_json() for entry in found.registry],
        "entries": [entry.to_json() for entry in found.entries],
        "metrics": found.metrics,
    }
    if checkpoint is not None:
        seqs = [e.seq for e in found.registry] + [e.seq for e in found.entries]
        proofs = log.proofs_against(conn, [s for s in seqs if s < checkpoint.size], checkpoint.size)
        doc["log"] = {
            "checkpoint": checkpoint.note,
            "proofs": {str(seq): proof for seq, proof in proofs.items()},
        }
    return doc
