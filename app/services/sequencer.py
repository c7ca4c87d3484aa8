"""The sequencer: each process integrates its waiting entries in batches, one batch at a time.

Requests prepare their entries (parse, canonical bytes, signature) and hand them
here. On the event loop, once the requests that arrived with the first waiting
entry have been read and checked (``Arrival`` counts them; at most
``max_gather_seconds``), the sequencer takes everything waiting — up to ``max_batch`` entries, whole
groups at a time — and integrates it in one write transaction
(``app.services.ingest.integrate``) under the database's sequencer lock, which
every process shares. Each request hears its outcome only once the batch has
committed, so a 2xx still means durable, numbered and receipted.

The lock is tried, never waited for on the event loop: while another process
writes its batch this one keeps reading requests, and tries again a moment later
with a larger batch. A batch that cannot commit is retried group by group, so
that only the group that cannot be written fails.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from app.db import SequencerConnection, write_transaction
from app.services import ingest
from app.services import log as log_service
from app.services.context import LedgerContext
from app.services.ingest import Outcome, Submission

__all__ = ["Arrival", "BatchStats", "Sequencer"]

log = logging.getLogger("goldtrail.sequencer")


@dataclass(slots=True)
class _Waiting:
    group: Sequence[Submission]
    future: asyncio.Future[list[Outcome]]

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
        max_batch: int = 256,
        max_gather_seconds: float = 0.005,
        retry_seconds: float = 0.0005,
    ) -> None:
        self.ctx = ctx
        self.max_batch = max_batch
        self.max_gather_seconds = max_gather_seconds
        self.retry_seconds = retry_seconds
        self.stats = BatchStats()
        self.arriving = 0
        """Requests begun but not yet submitted (``Arrival``)."""
        self._connection = SequencerConnection(ctx.engine)
        self._queue: deque[_Waiting] = deque()
        self._scheduled: asyncio.Handle | asyncio.TimerHandle | None = None
        self._first_at = 0.0
        self._seen = 0

    async def submit(self, group: Sequence[Submission]) -> list[Outcome]:
        """Integrate ``group`` (in order, contiguous) and return one outcome per submission."""
        if not group:
            return []
        loop = asyncio.get_running_loop()
        waiting = _Waiting(group, loop.create_future())
        if not self._queue:
            self._first_at = loop.time()
        self._queue.append(waiting)
        if self._scheduled is None:
            self._scheduled = loop.call_soon(self._flush, loop)
        return await waiting.future

    def checkpoint(self) -> None:
        """Sign a checkpoint if the tree grew and one is due, unless another writer holds
        the lock (then a batch or the next round will). Runs on the event loop."""
        with self._connection.transaction() as conn:
            if conn is not None:
                log_service.checkpoint_in(conn, self.ctx, force=False)

    def close(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        while self._queue:  # nothing should wait at shutdown; if anything does, write it
            self._integrate_alone(self._queue.popleft())
        self._connection.close()
        stats = self.stats
        log.info(
            "sequencer: %d entries in %d batches (%.1f a batch), %.3f s writing, lock busy %d",
            stats.entries,
            stats.batches,
            stats.entries / max(stats.batches, 1),
            stats.seconds,
            stats.busy,
        )

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
        count = len(self._queue)
        gathering = count != self._seen or self.arriving > 0
        self._seen = count
        if gathering and loop.time() - self._first_at < self.max_gather_seconds:
            # Requests that arrived with these are still being read and checked: let them
            # join this batch rather than wait for the next transaction (a short sleep of
            # the loop, not a spin: the checks run on other threads).
            self._scheduled = loop.call_later(self.retry_seconds, self._flush, loop)
            return
        self._seen = 0
        while self._queue:
            waiting = self._take()
            if not self._integrate(waiting):
                self.stats.busy += 1
                self._queue.extendleft(reversed(waiting))
                self._scheduled = loop.call_later(self.retry_seconds, self._flush, loop)
                return

    def _integrate(self, waiting: list[_Waiting]) -> bool:
        """Integrate the groups in one transaction; False if the lock was busy."""
        submissions = [sub for item in waiting for sub in item.group]
        started = time.perf_counter()
        try:
            with self._connection.transaction() as conn:
                if conn is None:
                    return False
                integrated = ingest.integrate(conn, self.ctx, submissions)
            outcomes = integrated.committed(self.ctx)
        except Exception as exc:
            if len(waiting) == 1:
                log.exception("a batch failed")
                waiting[0].settle(exc)
                return True
            log.warning("a batch of %d groups failed; writing them one by one", len(waiting))
            for item in waiting:
                self._integrate_alone(item)
            return True
        self.stats.batches += 1
        self.stats.entries += len(submissions)
        self.stats.seconds += time.perf_counter() - started
        at = 0
        for item in waiting:
            item.settle(outcomes[at : at + len(item.group)])
            at += len(item.group)
        return True

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
