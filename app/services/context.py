"""What every use case needs: the engine, the settings, the service's signing key, and
what this process remembers between requests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from app.config import Settings
from app.db import reading_connection, single_read
from app.ledger.keys import PublicKey, SigningKey
from app.ledger.log.merkle import CompactRange

__all__ = ["LedgerContext", "ProcessMemory"]


@dataclass(slots=True)
class ProcessMemory:
    """Facts this process keeps to spare the database a query; never a source of truth.

    Partner keys never change once registered (revocation is read under the
    sequencer lock), so their public keys are kept; the time of the last
    checkpoint this process saw spares a query per batch while none is due.
    """

    public_keys: dict[str, tuple[str, PublicKey]] = field(default_factory=dict)
    """key id → (partner, public key)."""
    checkpoint_at: datetime | None = None
    crypto: ThreadPoolExecutor | None = None
    """Threads for Ed25519 work, which releases the GIL: a batch's signatures are verified
    there, a share on each core."""
    loop_reader: Connection | None = None
    """The event loop's own connection for one-statement reads (SQLite, inline work)."""
    passports: dict[tuple[str, int], Any] = field(default_factory=dict)
    """Served passports by (lot, checkpoint size): deterministic, so built once."""
    summaries: dict[int, Any] = field(default_factory=dict)
    """Parsed logged summaries by seq (``app.services.summaries.Parsed``): rows that never
    change, read at the start of every batch that touches their lot."""
    tree: CompactRange | None = None
    """The tree's right edge as this process's last batch committed it; the next batch
    uses it only if the log still has exactly that size."""


@dataclass(slots=True)
class LedgerContext:
    engine: Engine
    settings: Settings
    service_key: SigningKey
    """The key in force; ``app.services.service_keys.in_force`` switches it after a rotation."""
    memory: ProcessMemory = field(default_factory=ProcessMemory)

    @contextmanager
    def inline_read(self) -> Iterator[Connection]:
        """A connection for one read statement in work the event loop runs inline.

        That work runs on the loop (``settings.database_inline``, the default), where one
        connection is kept rather than checked out of the pool per request; elsewhere
        it is ``single_read``.
        """
        if not self.settings.database_inline:
            with single_read(self.engine) as conn:
                yield conn
            return
        reader = self.memory.loop_reader
        if reader is None or reader.closed:
            reader = reading_connection(self.engine)
            self.memory.loop_reader = reader
        try:
            yield reader
        finally:
            reader.rollback()  # ends SQLAlchemy's transaction marker; SQLite began none

    @property
    def crypto_threads(self) -> int:
        return os.cpu_count() or 1

    @property
    def crypto(self) -> ThreadPoolExecutor:
        """This process's threads for verifying many signatures at once (one per core)."""
        if self.memory.crypto is None:
            self.memory.crypto = ThreadPoolExecutor(
                max_workers=self.crypto_threads, thread_name_prefix="goldtrail-crypto"
            )
        return self.memory.crypto

    def close(self) -> None:
        if self.memory.crypto is not None:
            self.memory.crypto.shutdown(wait=True)
            self.memory.crypto = None
        if self.memory.loop_reader is not None:
            self.memory.loop_reader.close()
            self.memory.loop_reader = None
