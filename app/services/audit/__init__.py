"""The whole-log audit: every entry, tree node, checkpoint and summary (PROTOCOL.md §11, §18).

* ``chunks`` — each chunk of the log checked on its own, in worker processes or here;
* ``sequence`` — what needs order, done once: chains, keys, the tree, checkpoints, the
  replay and the summaries;
* ``report`` — the counts and every failure, named;
* here — ``run``, which reads the log chunk by chunk and puts the two together, and the
  checks of the whole: the service key's history and the partners' feed.

Memory grows with keys and lots, never with entries; a worker holds one chunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

from sqlalchemy import Engine

from app.db import read_transaction
from app.ledger.errors import LedgerError
from app.ledger.keys import PublicKey
from app.ledger.log.merkle import EMPTY_ROOT
from app.ledger.log.service_keys import ServiceKeyHistory
from app.models import repository
from app.models.repository import CheckpointRow
from app.services.audit.chunks import CHUNK, Chunk, KeysAhead, check_chunk_job
from app.services.audit.report import AuditReport
from app.services.audit.sequence import Sequence

__all__ = ["CHUNK", "AuditReport", "run"]


def _hints(engine: Engine) -> dict[str, bytes]:
    """Every key record's public key, read ahead (unverified: the pass in sequence checks
    each record and that the key an entry verified with is the one registered)."""
    hints: dict[str, bytes] = {}
    with read_transaction(engine) as conn:
        for body in repository.key_record_bodies(conn):
            try:
                hints[str(body.get("key"))] = PublicKey.from_b64(str(body.get("public_key"))).raw
            except (LedgerError, TypeError):
                continue
    return hints


def run(
    engine: Engine,
    *,
    service_key: PublicKey,
    origin: str,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 0,
) -> AuditReport:
    """Audit everything; ``progress(done, total)`` is called after every chunk.

    With ``workers`` > 0 the chunks are checked in that many processes, ahead of the
    pass in sequence (the findings are the same either way).
    """
    started = time.perf_counter()
    report = AuditReport()
    url = engine.url.render_as_string(hide_password=False)
    with read_transaction(engine) as conn:
        total = repository.next_seq(conn)
        checkpoints = list(repository.iter_checkpoints(conn))
    hints = _hints(engine)
    ahead = _service_keys_ahead(engine, service_key)
    state = Sequence(report, origin, ServiceKeyHistory(PublicKey(ahead[0][1])))
    for checkpoint in [c for c in checkpoints if c.size == 0]:
        state._checkpoint(checkpoint, EMPTY_ROOT)
    ranges = [(start, min(start + CHUNK, total)) for start in range(0, total, CHUNK)]
    due = {r: [c for c in checkpoints if r[0] < c.size <= r[1]] for r in ranges}
    jobs = (
        (url, start, end, ahead, hints, [c.size for c in due[(start, end)]])
        for start, end in ranges
    )
    pool = ProcessPoolExecutor(workers) if workers > 0 else None
    try:
        chunks: Iterator[Chunk] = (
            pool.map(check_chunk_job, jobs) if pool is not None else map(check_chunk_job, jobs)
        )
        for chunk in chunks:
            at = time.perf_counter()
            state.chunk(chunk, due[(chunk.start, chunk.end)])
            report.sequential_seconds += time.perf_counter() - at
            if progress is not None:
                progress(chunk.end, total)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    _finish(state, checkpoints, total, engine)
    _keys_check(state, ahead, service_key)
    _feed_check(state, engine)
    _taps_check(state, engine)
    report.seconds = time.perf_counter() - started
    return report


def _service_keys_ahead(engine: Engine, configured: PublicKey) -> KeysAhead:
    """The service keys the announcements name, read ahead and unverified (the pass in
    sequence follows each announcement and ``_keys_check`` compares): the first is the key
    the first announcement hands over from, or the configured key if there is none."""
    with read_transaction(engine) as conn:
        announced = [(e.seq, e.body) for e in repository.service_key_entries(conn)]
    keys: KeysAhead = []
    for seq, body in announced:
        try:
            if not keys:
                keys.append((0, PublicKey.from_b64(str(body.get("previous_public_key"))).raw))
            keys.append((seq + 1, PublicKey.from_b64(str(body.get("public_key"))).raw))
        except LedgerError:
            break  # the pass in sequence reports the announcement
    return keys or [(0, configured.raw)]


def _keys_check(state: Sequence, ahead: KeysAhead, configured: PublicKey) -> None:
    """The keys followed in sequence are those the chunks verified with, the last of them is
    the configured service key, and each handover checkpoint exists."""
    report, history = state.report, state.history
    followed = [(p.first, p.key.raw) for p in history.periods]
    if followed != ahead:
        report.fail(
            "service key",
            f"the log's key announcements do not chain: {len(ahead) - 1} announced, "
            f"{len(followed) - 1} followed",
        )
    if history.current.raw != configured.raw:
        report.fail(
            "service key",
            f"the key in force per the log is {history.current.key_id}, but the configured "
            f"service key is {configured.key_id}",
        )
    for period in history.periods[1:]:
        if period.first not in state.checkpoint_sizes:
            report.fail(
                "checkpoint",
                f"no handover checkpoint of size {period.first} for the rotation at seq "
                f"{period.announced_seq}",
                seq=period.announced_seq,
            )


def _feed_check(state: Sequence, engine: Engine) -> None:
    """The partners' feed (a projection the writer keeps) is exactly what the entries give:
    nothing dropped, added or reordered behind the service's back."""
    with read_transaction(engine) as conn:
        stored = repository.feed_rows(conn)
    expected = state.feed
    if stored == expected:
        return
    at = next(
        (i for i, (a, b) in enumerate(zip(stored, expected, strict=False)) if a != b),
        min(len(stored), len(expected)),
    )
    found = stored[at] if at < len(stored) else None
    wanted = expected[at] if at < len(expected) else None
    state.report.fail(
        "feed",
        f"the feed holds {len(stored)} items, the entries give {len(expected)}; item {at + 1} "
        f"is {found}, the entries give {wanted}",
        seq=(wanted or found or (None,))[0],
    )


def _taps_check(state: Sequence, engine: Engine) -> None:
    """Every tap accepted as genuine had a read counter higher than every one accepted for its
    tag before it, and the tag's last accepted counter is the highest (PROTOCOL.md §21.2)."""
    with read_transaction(engine) as conn:
        taps = repository.genuine_taps(conn)
        last = repository.last_counters(conn)
    highest: dict[str, int] = {}
    for tap_id, tag, counter in taps:
        before = highest.get(tag, -1)
        if counter <= before:
            state.report.fail(
                "taps",
                f"tag {tag}: tap {tap_id} was accepted with counter {counter}, "
                f"not above {before} accepted before it",
            )
        highest[tag] = max(before, counter)
    for tag, counter in highest.items():
        if last.get(tag, -1) < counter:
            state.report.fail(
                "taps", f"tag {tag}: its last counter {last.get(tag)} is below tap {counter}"
            )


def _finish(state: Sequence, checkpoints: list[CheckpointRow], total: int, engine: Engine) -> None:
    report = state.report
    with read_transaction(engine) as conn:
        beyond = repository.nodes_beyond(conn, total)
        for _, level, index in beyond:
            report.nodes += 1
            report.fail(
                "tree", f"node {(level, index)} lies beyond the last entry", node=[level, index]
            )
        for checkpoint in checkpoints:
            if checkpoint.size > total:
                report.checkpoints += 1
                report.fail(
                    "checkpoint",
                    f"signed for {checkpoint.size} entries, but the log holds {total}: "
                    "entries were removed",
                    size=checkpoint.size,
                )
        for lot in repository.iter_lots(conn):
            report.lots += 1
            head = state.heads.get(lot.lot)
            if head is None or head.hash != lot.head or head.lot_seq + 1 != lot.length:
                report.fail(
                    "head",
                    f"lot records head {lot.head[:16]} after {lot.length} events; the "
                    f"ledger's chain ends at {head.hash[:16] if head else None}",
                    lot=lot.lot,
                )
