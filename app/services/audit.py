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

import contextlib
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from app.db import read_transaction
from app.ledger.errors import LedgerError
from app.ledger.hashing import sha256_hex
from app.ledger.keys import PublicKey, valid_signatures
from app.ledger.merkle import EMPTY_ROOT, CompactRange, NodeId, leaf_hash
from app.ledger.note import NoteVerifier, open_checkpoint
from app.ledger.records import KEY_TYPE, LedgerEntry, receipt_bytes
from app.ledger.verify import ChainChecker
from app.models import repository
from app.models.repository import CheckpointRow, Link

__all__ = ["AuditReport", "run"]

MAX_LISTED_FAILURES = 10_000
CHUNK = 2048
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
    report: AuditReport, checker: ChainChecker, entry: LedgerEntry, links: list[Link]
) -> None:
    if entry.kind == "event":
        if len(links) != 1:
            report.fail(
                "events",
                f"an event entry has {len(links)} rows in the events table, not 1",
                seq=entry.seq,
            )
            return
        (lot, lot_seq) = links[0]
        problems = checker.event(entry, lot=lot, lot_seq=lot_seq)
    elif entry.kind == "transformation":
        problems = checker.transformation(entry, links=links, complete=True)
    else:
        problems = checker.registry(entry)
    lots = ", ".join(lot for lot, _ in links) or None
    for problem in problems:
        check, _, detail = problem.partition(": ")
        report.fail(check, detail, seq=entry.seq, lot=lots)


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


Chunk = list[tuple[LedgerEntry, list[Link]]]


def _chunks(entries: Iterator[tuple[LedgerEntry, list[Link]]]) -> Iterator[Chunk]:
    while chunk := list(itertools.islice(entries, CHUNK)):
        yield chunk


def _one_ahead(
    chunks: Iterator[Chunk], start: Callable[[Chunk], Callable[[], set[Any]]]
) -> Iterator[tuple[Chunk, Callable[[], set[Any]]]]:
    """Yield each chunk with its started work, starting the next chunk's work first."""
    pending: deque[tuple[Chunk, Callable[[], set[Any]]]] = deque()
    for chunk in chunks:
        pending.append((chunk, start(chunk)))
        if len(pending) > 1:
            yield pending.popleft()
    yield from pending


def _signature_tasks(
    chunk: Chunk,
    service_key: PublicKey,
    key_hints: dict[str, bytes],
) -> list[tuple[bytes, bytes, bytes]]:
    """The signatures ``ChainChecker`` will check in ``chunk``, to verify ahead in parallel.

    Key records are read unverified for their public keys: a wrong hint only
    means the checker verifies that signature itself, so nothing depends on it.
    """
    tasks = []
    for entry, _ in chunk:
        stored = entry.body_bytes
        try:
            receipt = entry.receipt_signature()
            signature = entry.signature_bytes()
        except LedgerError:
            continue
        message = receipt_bytes(
            seq=entry.seq,
            kind=entry.kind,
            entry_hash=sha256_hex(stored),
            recorded_at=entry.recorded_at,
        )
        tasks.append((service_key.raw, receipt, message))
        body = entry.body
        if entry.kind not in ("event", "transformation"):
            tasks.append((service_key.raw, signature, stored))
            if body.get("type") == KEY_TYPE and isinstance(body.get("public_key"), str):
                with contextlib.suppress(LedgerError):
                    key_hints[str(body.get("key"))] = PublicKey.from_b64(body["public_key"]).raw
        elif str(body.get("key")) in key_hints:
            tasks.append((key_hints[str(body.get("key"))], signature, stored))
    return tasks


def _prechecked(
    pool: ProcessPoolExecutor | None,
    chunk: Chunk,
    service_key: PublicKey,
    key_hints: dict[str, bytes],
    workers: int,
) -> Callable[[], set[tuple[bytes, bytes, bytes]]]:
    """Start verifying the chunk's signatures; the result is the set of valid triples."""
    if pool is None:
        return set
    tasks = _signature_tasks(chunk, service_key, key_hints)
    size = max(1, -(-len(tasks) // workers))
    slices = [
        (start, pool.submit(valid_signatures, tasks[start : start + size]))
        for start in range(0, len(tasks), size)
    ]

    def result() -> set[tuple[bytes, bytes, bytes]]:
        return {tasks[start + i] for start, future in slices for i in future.result()}

    return result


def run(
    engine: Engine,
    *,
    service_key: PublicKey,
    origin: str,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 0,
) -> AuditReport:
    """Audit everything; ``progress(done, total)`` is called after every chunk of entries.

    With ``workers`` > 0, signatures are verified ahead of the sequential checks in
    that many processes (the checks and their results are the same either way).
    """
    started = time.perf_counter()
    report = AuditReport()
    checker = ChainChecker(service_key)
    verifier = NoteVerifier.of(origin, service_key)
    tree = CompactRange()
    key_hints: dict[str, bytes] = {}
    pool = ProcessPoolExecutor(workers) if workers > 0 else None
    try:
        with read_transaction(engine) as conn:
            total = repository.next_seq(conn)
            nodes = _Peek(repository.iter_tree_nodes(conn))
            checkpoints = _Peek(repository.iter_checkpoints(conn))
            while checkpoints.head is not None and checkpoints.head.size == 0:
                _check_checkpoint(report, next(checkpoints), EMPTY_ROOT, verifier)
            chunks = _chunks(repository.iter_entries(conn))
            for chunk, prechecked in _one_ahead(
                chunks, lambda c: _prechecked(pool, c, service_key, key_hints, workers)
            ):
                _audit_chunk(report, checker, tree, nodes, checkpoints, verifier, chunk, prechecked)
                if progress is not None:
                    progress(report.entries, total)
            _finish(report, checker, tree, nodes, checkpoints, conn)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    report.seconds = time.perf_counter() - started
    return report


def _audit_chunk(
    report: AuditReport,
    checker: ChainChecker,
    tree: CompactRange,
    nodes: _Peek[tuple[int, NodeId, bytes]],
    checkpoints: _Peek[CheckpointRow],
    verifier: NoteVerifier,
    chunk: Chunk,
    prechecked: Callable[[], set[tuple[bytes, bytes, bytes]]],
) -> None:
    checker.prechecked = prechecked()
    for entry, links in chunk:
        if entry.seq != tree.size:
            report.fail(
                "sequence", f"entries {tree.size} to {entry.seq - 1} are missing", seq=entry.seq
            )
        report.entries += 1
        _check_entry(report, checker, entry, links)
        completed = tree.append(leaf_hash(entry.leaf))
        _check_nodes(report, nodes, entry.seq, completed)
        while checkpoints.head is not None and checkpoints.head.size <= tree.size:
            _check_checkpoint(report, next(checkpoints), tree.root(), verifier)
    checker.prechecked = set()


def _finish(
    report: AuditReport,
    checker: ChainChecker,
    tree: CompactRange,
    nodes: _Peek[tuple[int, NodeId, bytes]],
    checkpoints: _Peek[CheckpointRow],
    conn: Connection,
) -> None:
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
