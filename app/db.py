"""Engines and transactions for SQLite (embedded) and PostgreSQL (production).

SQLite runs in WAL mode; write transactions start with ``BEGIN IMMEDIATE`` so
that two writers never both read the same ledger head. PostgreSQL writers take
one transaction-scoped advisory lock: the ledger has exactly one sequencer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.pool import QueuePool, StaticPool

__all__ = [
    "LEDGER_LOCK_ID",
    "make_engine",
    "read_transaction",
    "single_read",
    "write_transaction",
]

LEDGER_LOCK_ID = 0x60_1D_7A_11  # "goldtrail": the PostgreSQL advisory lock of the sequencer

# SQLite's busy handler sleeps (up to 100 ms a time) when two connections want
# the write lock; queueing writers of one process on a mutex instead keeps
# latency flat. Other processes still queue on SQLite's own lock.
_sqlite_writers: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()


def make_engine(url: str, *, pool_size: int = 8) -> Engine:
    """An engine for ``url``; SQLite gets its pragmas and explicit transaction control."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=StaticPool if ":memory:" in url else QueuePool,
        pool_size=8,
        max_overflow=8,
    )
    _sqlite_writers[engine] = threading.Lock()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # A million-entry log is over a gigabyte; SQLite's default 2 MiB page cache
        # made proof latency grow with it. Memory-map the file and cache 64 MiB.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA mmap_size=1073741824")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get("single_statement"):
            return
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get("ledger_write") else "BEGIN")

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """The one way to write: a transaction that holds the ledger's sequencer lock."""
    lock = _sqlite_writers.get(engine)
    with lock or nullcontext(), engine.connect() as plain:
        connection = plain.execution_options(ledger_write=True)
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": LEDGER_LOCK_ID}
                )
            yield connection


@contextmanager
def single_read(engine: Engine) -> Iterator[Connection]:
    """A connection for one read statement, without the cost of an explicit transaction."""
    with engine.connect() as plain:
        if plain.dialect.name == "sqlite":
            yield plain.execution_options(single_statement=True)
        else:
            yield plain.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only unit of work with a consistent snapshot."""
    with engine.connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        yield connection
