"""The sequencer: each process integrates its waiting entries in batches, one batch at a time.

Requests prepare their entries (parse, canonical bytes, partner signature) and
hand them here. Once the requests that arrived with the first waiting entry have
been read and checked (``Arrival`` counts them; at most ``max_gather_seconds``),
the sequencer takes the database's sequencer lock, which every process shares,
and integrates everything waiting — up to ``max_batch`` entries, whole groups at
a time — in one write transaction (``app.services.ingest.integrate``). Each
request hears its outcome only once its batch has committed, so a 2xx still
means durable, numbered and receipted. A batch that cannot commit is retried
group by group, so that only the group that cannot be written fails.

Batches are written on the event loop: a batch is a few milliseconds of work,
and a second Python thread would only contend for the GIL (measured: it halved
throughput, docs/BENCHMARKS.md). Only the wait for the lock happens elsewhere:
when another process holds it, a helper thread waits for it while the loop goes
on reading requests, which join the batch written as soon as the lock comes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from app.db import SequencerConnection, write_transaction
from app.services import ingest
from app.services import log as log_service
from app.services.context import LedgerContext
from app.services.ingest import Outcome, Submission
from app.telemetry import APPEND_BATCH, APPEND_SECONDS, CHECKPOINT_INCLUSION, ENTRIES_APPENDED

__all__ = ["Arrival", "BatchStats", "Sequencer"]

log = logging.getLogger("goldtrail.sequencer")


@dataclass(slots=True)
class _Waiting:
    group: Sequence[Submission]
    future: asyncio.Future[list[Outcome]]
    submitted: float = field(default_factory=time.monotonic)

    def settle(self, result: list[Outcome] | BaseException) -> None:
        if self.future.done():  # the client went away
            return
        if isinstance(result, BaseException):
            self.future.set_exception(result)
        else:
            self.future.set_result(result)


@dataclass(slots=True)
class BatchStats:
    """What the sequencer has done, for metrics and benchmarks."""

    batches: int = 0
    entries: int = 0
    busy: int = 0
    """Times the lock was held by another writer and the batch waited."""
    seconds: float = 0.0


class Arrival:
    """A request on its way to the sequencer, counted from its start until it submits or
    gives up, so that a batch can wait for the requests that arrived with it."""

    def __init__(self, sequencer: Sequencer) -> None:
        self.sequencer = sequencer
        self._counted = True
        sequencer.arriving += 1

    def leave(self) -> None:
        if self._counted:
            self._counted = False
            self.sequencer.arriving -= 1

    async def submit(self, group: Sequence[Submission]) -> list[Outcome]:
        self.leave()
        return await self.sequencer.submit(group)


class Sequencer:
    def __init__(
        self,
        ctx: LedgerContext,
        *,
        max_batch: int = 512,
        max_gather_seconds: float = 0.005,
        gather_step_seconds: float = 0.0005,
    ) -> None:
        self.ctx = ctx
        self.max_batch = max_batch
        self.max_gather_seconds = max_gather_seconds
        self.gather_step_seconds = gather_step_seconds
        self.stats = BatchStats()
        self.arriving = 0
        """Requests begun but not yet submitted (``Arrival``)."""
        self._queue: deque[_Waiting] = deque()
        self._connection = SequencerConnection(ctx.engine)
        self._lock_waiter = ThreadPoolExecutor(1, thread_name_prefix="goldtrail-lock")
        self._scheduled: asyncio.Handle | asyncio.TimerHandle | None = None
        self._waiting_for_lock = False
        self._first_at = 0.0
        self._seen = 0
        self._uncheckpointed: deque[tuple[int, float]] = deque()
        """(last seq of its batch, submitted) of each request this process appended that no
        checkpoint covers yet: for the time-to-checkpoint histogram."""

    async def submit(self, group: Sequence[Submission]) -> list[Outcome]:
        """Integrate ``group`` (in order, contiguous) and return one outcome per submission."""
        if not group:
            return []
        loop = asyncio.get_running_loop()
        waiting = _Waiting(group, loop.create_future())
        if not self._queue:
            self._first_at = loop.time()
        self._queue.append(waiting)
        if self._scheduled is None and not self._waiting_for_lock:
            self._scheduled = loop.call_soon(self._flush, loop)
        return await waiting.future

    def checkpoint(self) -> None:
        """Sign a checkpoint if the tree grew and one is due, unless another writer holds the
        lock (then a batch or the next round will). Runs on the event loop."""
        if self._waiting_for_lock or not self._connection.hold(wait=False):
            return
        try:
            latest = log_service.checkpoint_in(self._connection.connection, self.ctx, force=False)
        except BaseException:
            self._connection.rollback()
            raise
        self._connection.commit()
        if latest is not None:
            self._covered(latest.size)

    def close(self) -> None:
        """Write what is waiting (nothing should, at shutdown), then stop."""
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        self._lock_waiter.shutdown(wait=True)
        while self._queue:
            self._integrate_alone(self._queue.popleft())
        self._connection.close()

    def _take(self) -> list[_Waiting]:
        taken: list[_Waiting] = []
        count = 0
        while self._queue and (not taken or count + len(self._queue[0].group) <= self.max_batch):
            waiting = self._queue.popleft()
            taken.append(waiting)
            count += len(waiting.group)
        return taken

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = None
        if not self._queue or self._waiting_for_lock:
            return
        count = len(self._queue)
        gathering = count != self._seen or self.arriving > 0
        self._seen = count
        if gathering and loop.time() - self._first_at < self.max_gather_seconds:
            # Requests that arrived with these are still being read and checked: let them
            # join this batch rather than wait for the next transaction.
            self._scheduled = loop.call_later(self.gather_step_seconds, self._flush, loop)
            return
        self._seen = 0
        if self._connection.hold(wait=False):
            self._write(loop)
            return
        self.stats.busy += 1
        self._waiting_for_lock = True
        held = loop.run_in_executor(self._lock_waiter, partial(self._connection.hold, wait=True))
        held.add_done_callback(partial(self._on_lock, loop))

    def _on_lock(self, loop: asyncio.AbstractEventLoop, held: asyncio.Future[bool]) -> None:
        self._waiting_for_lock = False
        failure = held.exception()
        if failure is not None:
            log.error("could not take the sequencer lock: %s", failure)
            for item in self._take():
                item.settle(failure)
            if self._queue:
                self._scheduled = loop.call_later(0.1, self._flush, loop)
            return
        self._write(loop)

    def _write(self, loop: asyncio.AbstractEventLoop) -> None:
        """With the lock held: write one batch and commit, then let the next gather."""
        waiting = self._take()
        submissions = [sub for item in waiting for sub in item.group]
        started = time.perf_counter()
        try:
            integrated = ingest.integrate(self._connection.connection, self.ctx, submissions)
            self._connection.commit()
            outcomes = integrated.committed(self.ctx)
        except Exception as exc:
            self._connection.rollback()
            if len(waiting) == 1:
                log.exception("a batch failed")
                waiting[0].settle(exc)
            else:
                log.warning("a batch of %d groups failed; writing them one by one", len(waiting))
                for item in waiting:
                    self._integrate_alone(item)
        else:
            seconds = time.perf_counter() - started
            self.stats.batches += 1
            self.stats.entries += len(submissions)
            self.stats.seconds += seconds
            self._observe(integrated, waiting, seconds)
            at = 0
            for item in waiting:
                item.settle(outcomes[at : at + len(item.group)])
                at += len(item.group)
        if self._queue and self._scheduled is None:
            self._first_at = loop.time()
            self._scheduled = loop.call_soon(self._flush, loop)

    def _observe(
        self, integrated: ingest.Integrated, waiting: list[_Waiting], seconds: float
    ) -> None:
        """Metrics and one log line for a committed batch."""
        appended = integrated.appended
        if not appended:
            return
        kinds = Counter(entry.kind for entry in appended)
        for kind, count in kinds.items():
            ENTRIES_APPENDED.labels(kind).inc(count)
        APPEND_BATCH.observe(len(appended))
        APPEND_SECONDS.observe(seconds)
        last = appended[-1].seq
        self._uncheckpointed.extend((last, item.submitted) for item in waiting)
        if integrated.checkpoint_size is not None:
            self._covered(integrated.checkpoint_size)
        log.info(
            "appended seq %d-%d (%d entries) in %.1f ms",
            appended[0].seq,
            last,
            len(appended),
            seconds * 1000,
            extra={
                "event": "append",
                "first_seq": appended[0].seq,
                "last_seq": last,
                "entries": len(appended),
                "kinds": dict(kinds),
                "duration_ms": round(seconds * 1000, 3),
                "checkpoint_size": integrated.checkpoint_size,
            },
        )

    def _covered(self, size: int) -> None:
        """A checkpoint of ``size`` is signed: entries below it are now provable."""
        now = time.monotonic()
        while self._uncheckpointed and self._uncheckpointed[0][0] < size:
            _, submitted = self._uncheckpointed.popleft()
            CHECKPOINT_INCLUSION.observe(now - submitted)

    def _integrate_alone(self, item: _Waiting) -> None:
        """One group in its own transaction, waiting for the lock (an error path only)."""
        try:
            with write_transaction(self.ctx.engine) as conn:
                integrated = ingest.integrate(conn, self.ctx, item.group)
        except Exception as exc:
            log.exception("a group could not be written")
            item.settle(exc)
            return
        item.settle(integrated.committed(self.ctx))
