"""The whole-ledger audit: every entry, tree node and checkpoint, in one streaming pass.

Entries, tree nodes and checkpoints are read in ledger order through three
cursors of one read transaction. Each entry is checked by the same
``ChainChecker`` that verifies exports (hash, signature, link, key validity,
receipt); its leaf is appended to a compact range, whose newly completed
perfect subtrees must equal the stored nodes completed at that position; and
each stored checkpoint must carry the root recomputed at its size and the
log's signature. Memory grows with keys and lots, never with entries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine

from app.db import read_transaction
from app.ledger.errors import LedgerError
from app.ledger.keys import PublicKey
from app.ledger.merkle import EMPTY_ROOT, CompactRange, NodeId, leaf_hash
from app.ledger.note import NoteVerifier, open_checkpoint
from app.ledger.records import LedgerEntry
from app.ledger.verify import ChainChecker
from app.models import repository
from app.models.repository import CheckpointRow

__all__ = ["AuditReport", "run"]

MAX_LISTED_FAILURES = 10_000
T = TypeVar("T")


@dataclass(slots=True)
class AuditReport:
    entries: int = 0
    nodes: int = 0
    checkpoints: int = 0
    lots: int = 0
    failure_count: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failure_count == 0

    def fail(self, check: str, detail: str, **where: Any) -> None:
        self.failure_count += 1
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append({"check": check, "detail": detail, **where})

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "tree_nodes": self.nodes,
            "checkpoints": self.checkpoints,
            "lots": self.lots,
            "failure_count": self.failure_count,
            "failures": self.failures,
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        head = (
            f"Audited {self.entries} entries, {self.nodes} tree nodes, {self.checkpoints} "
            f"checkpoints and {self.lots} lots in {self.seconds:.1f} s: "
        )
        if self.ok:
            return head + "everything verifies."
        lines = [head + f"{self.failure_count} failures."]
        for failure in self.failures[:50]:
            where = ", ".join(
                f"{k} {failure[k]}"
                for k in ("seq", "lot", "lot_seq", "node", "size")
                if k in failure
            )
            lines.append(f"  ✗ {failure['check']} ({where}): {failure['detail']}")
        return "\n".join(lines)


class _Peek(Iterator[T]):
    """An iterator one can look ahead in."""

    def __init__(self, items: Iterator[T]) -> None:
        self._items = items
        self.head: T | None = next(items, None)

    def __next__(self) -> T:
        if self.head is None:
            raise StopIteration
        current, self.head = self.head, next(self._items, None)
        return current


def _check_entry(
    report: AuditReport,
    checker: ChainChecker,
    entry: LedgerEntry,
    lot: str | None,
    lot_seq: int | None,
) -> None:
    if entry.kind == "event":
        if lot is None or lot_seq is None:
            report.fail("events", "an event entry has no row in the events table", seq=entry.seq)
            return
        problems = checker.event(entry, lot=lot, lot_seq=lot_seq)
    else:
        problems = checker.registry(entry)
    for problem in problems:
        check, _, detail = problem.partition(": ")
        report.fail(check, detail, seq=entry.seq, lot=lot, lot_seq=lot_seq)


def _check_nodes(
    report: AuditReport,
    nodes: _Peek[tuple[int, NodeId, bytes]],
    seq: int,
    completed: list[tuple[NodeId, bytes]],
) -> None:
    stored: dict[NodeId, bytes] = {}
    while nodes.head is not None and nodes.head[0] <= seq:
        at, node, value = next(nodes)
        report.nodes += 1
        if at < seq:
            report.fail("tree", f"node {node} is recorded for missing entry {at}", node=list(node))
        else:
            stored[node] = value
    for node, value in completed:
        found = stored.pop(node, None)
        if found is None:
            report.fail("tree", f"node {node} completed by entry {seq} is missing", seq=seq)
        elif found != value:
            report.fail(
                "tree", f"node {node} does not match the leaves below it", seq=seq, node=list(node)
            )
    for node in stored:
        report.fail(
            "tree", f"node {node} should not exist at entry {seq}", seq=seq, node=list(node)
        )


def _check_checkpoint(
    report: AuditReport, checkpoint: CheckpointRow, root: bytes, verifier: NoteVerifier
) -> None:
    report.checkpoints += 1
    size = checkpoint.size
    if checkpoint.root != root:
        report.fail("checkpoint", "its root is not the root of the entries", size=size)
    try:
        signed = open_checkpoint(checkpoint.note, verifier)
    except LedgerError as exc:
        report.fail("checkpoint", f"signature: {exc}", size=size)
        return
    if signed.size != size or signed.root != root:
        report.fail("checkpoint", "the signed note does not state this size and root", size=size)


def run(
    engine: Engine,
    *,
    service_key: PublicKey,
    origin: str,
    progress: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """Audit everything; ``progress(done, total)`` is called every 1,000 entries."""
    started = time.perf_counter()
    report = AuditReport()
    checker = ChainChecker(service_key)
    verifier = NoteVerifier.of(origin, service_key)
    tree = CompactRange()
    with read_transaction(engine) as conn:
        total = repository.next_seq(conn)
        nodes = _Peek(repository.iter_tree_nodes(conn))
        checkpoints = _Peek(repository.iter_checkpoints(conn))
        while checkpoints.head is not None and checkpoints.head.size == 0:
            _check_checkpoint(report, next(checkpoints), EMPTY_ROOT, verifier)
        for entry, lot, lot_seq in repository.iter_entries(conn):
            if entry.seq != tree.size:
                report.fail(
                    "sequence", f"entries {tree.size} to {entry.seq - 1} are missing", seq=entry.seq
                )
            report.entries += 1
            _check_entry(report, checker, entry, lot, lot_seq)
            completed = tree.append(leaf_hash(entry.leaf))
            _check_nodes(report, nodes, entry.seq, completed)
            while checkpoints.head is not None and checkpoints.head.size <= tree.size:
                _check_checkpoint(report, next(checkpoints), tree.root(), verifier)
            if progress is not None and report.entries % 1000 == 0:
                progress(report.entries, total)
        for _, node, _ in nodes:
            report.nodes += 1
            report.fail("tree", f"node {node} lies beyond the last entry", node=list(node))
        for checkpoint in checkpoints:
            report.checkpoints += 1
            report.fail(
                "checkpoint",
                f"signed for {checkpoint.size} entries, but the log holds {tree.size}: "
                "entries were removed",
                size=checkpoint.size,
            )
        for state in repository.iter_lots(conn):
            report.lots += 1
            head = checker.heads.get(state.lot)
            if head is None or head.hash != state.head or head.lot_seq + 1 != state.length:
                report.fail(
                    "head",
                    f"lot records head {state.head[:16]} after {state.length} events; the "
                    f"ledger's chain ends at {head.hash[:16] if head else None}",
                    lot=state.lot,
                )
    if progress is not None:
        progress(report.entries, total)
    report.seconds = time.perf_counter() - started
    return report
