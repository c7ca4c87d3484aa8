"""Engines and transactions for SQLite (embedded) and PostgreSQL (production).

SQLite runs in WAL mode; write transactions start with ``BEGIN IMMEDIATE`` so
that two writers never both read the same ledger head. PostgreSQL writers take
one transaction-scoped advisory lock: the ledger has exactly one sequencer.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, BinaryIO
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.pool import QueuePool, StaticPool

__all__ = [
    "LEDGER_LOCK_ID",
    "SequencerConnection",
    "WalCheckpointer",
    "make_engine",
    "read_transaction",
    "reading_connection",
    "short_write",
    "single_read",
    "write_transaction",
]

LEDGER_LOCK_ID = 0x60_1D_7A_11  # "goldtrail": the PostgreSQL advisory lock of the sequencer

# SQLite's busy handler sleeps (up to 100 ms a time) when two connections want
# the write lock; queueing writers of one process on a mutex instead keeps
# latency flat. Other processes still queue on SQLite's own lock.
_sqlite_writers: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()


def make_engine(url: str, *, pool_size: int = 8, background_checkpoints: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets its pragmas and explicit transaction control.

    ``background_checkpoints`` (SQLite) leaves WAL checkpoints to a ``WalCheckpointer``
    the caller runs, instead of the writer that fills a page too many.
    """
    if url.startswith("sqlite"):
        return _sqlite_engine(url, background_checkpoints=background_checkpoints)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _sqlite_engine(url: str, *, background_checkpoints: bool) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=StaticPool if ":memory:" in url else QueuePool,
        pool_size=8,
        max_overflow=16,
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
        if background_checkpoints:
            # Copying the WAL back into the database (and its fsync) cost the committing
            # batch about as much as the batch itself; another thread does it instead.
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get("single_statement"):
            return
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get("ledger_write") else "BEGIN")

    return engine


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        yield
        return
    with open(f"{path}.writer-lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class WalCheckpointer:
    """A thread that copies SQLite's write-ahead log back into the database file.

    With ``background_checkpoints`` no writer checkpoints; this thread runs a PASSIVE
    checkpoint every ``interval`` seconds (SQLite releases the GIL meanwhile, so it
    runs beside the event loop), never blocking readers or writers.
    """

    def __init__(self, engine: Engine, *, interval: float = 0.5) -> None:
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="goldtrail-wal", daemon=True)

    def start(self) -> WalCheckpointer:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.checkpoint("PASSIVE")

    def checkpoint(self, mode: str = "PASSIVE") -> None:
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})")
                connection.commit()
        except OperationalError:  # busy or shutting down: the next round tries again
            return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.checkpoint("TRUNCATE")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """The one way to write: a transaction that holds the ledger's sequencer lock.

    On SQLite the lock is a mutex within the process and ``flock`` on a file beside
    the database across processes, taken before ``BEGIN IMMEDIATE``: a writer waiting
    for another process sleeps in the kernel and wakes as soon as it may write, where
    SQLite's own busy handler would poll with sleeps of up to 100 ms.
    """
    lock = _sqlite_writers.get(engine)
    with lock or nullcontext(), _file_lock(engine), engine.connect() as plain:
        connection = plain.execution_options(ledger_write=True)
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": LEDGER_LOCK_ID}
                )
            yield connection


@contextmanager
def short_write(engine: Engine) -> Iterator[Connection]:
    """A write that appends nothing to the ledger (a tap's counter, a claim attempt).

    On SQLite, where there is one writer at a time anyway, it queues as the ledger's writers
    do (``write_transaction``): SQLite's busy handler would otherwise poll with sleeps of up
    to 100 ms under concurrent taps. On PostgreSQL it is a plain transaction: the rows it
    updates are locked by its own statements, and the ledger's lock is not taken.
    """
    if engine.dialect.name == "sqlite":
        with write_transaction(engine) as connection:
            yield connection
        return
    with engine.begin() as connection:
        yield connection


class SequencerConnection:
    """The sequencer's own connection and its hold on the sequencer lock.

    The lock is the in-process mutex and, across processes, ``flock`` on a file
    beside the SQLite database or PostgreSQL's advisory lock, then the write
    transaction itself (``BEGIN IMMEDIATE`` on SQLite). ``hold(wait=False)`` takes
    it only if it is free, at once; ``hold(wait=True)`` waits for it — from a
    helper thread, so that the event loop goes on reading requests meanwhile.
    Once held, ``connection`` is the transaction's connection until ``commit`` or
    ``rollback`` ends it and lets the lock go. A connection that fails is replaced.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._transaction: Any = None
        self._lock_file: BinaryIO | None = None
        self._mutex = _sqlite_writers.get(engine)
        self._holds_mutex = False
        self._holds_file = False

    @property
    def connection(self) -> Connection:
        if self._connection is None or self._transaction is None:
            raise RuntimeError("the sequencer lock is not held")
        return self._connection

    def _open(self) -> Connection:
        if self._connection is None or self._connection.closed:
            connection = self.engine.connect()
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA busy_timeout=0")
                connection.commit()
            self._connection = connection.execution_options(ledger_write=True)
        return self._connection

    def hold(self, *, wait: bool) -> bool:
        """Take the lock and begin the write transaction; False if it is taken (``wait=False``)."""
        try:
            if self._mutex is not None:
                self._holds_mutex = self._mutex.acquire(blocking=wait)
                if not self._holds_mutex:
                    return False
            if not self._file_lock(wait=wait):
                self._let_go()
                return False
            connection = self._open()
            self._transaction = connection.begin()
            if connection.dialect.name == "postgresql":
                function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
                locked = connection.execute(
                    text(f"SELECT {function}(:id)"), {"id": LEDGER_LOCK_ID}
                ).scalar()
                if not wait and not locked:
                    self.rollback()
                    return False
        except OperationalError as exc:
            self._end(failed=True)
            if not wait and ("locked" in str(exc.orig) or "busy" in str(exc.orig)):
                return False  # a writer outside Goldtrail holds SQLite's lock
            raise
        except BaseException:
            self._end(failed=True)
            raise
        return True

    def commit(self) -> None:
        try:
            self._transaction.commit()
        except BaseException:
            self._end(failed=True)
            raise
        self._end(failed=False)

    def rollback(self) -> None:
        self._end(failed=False)

    def _end(self, *, failed: bool) -> None:
        transaction, self._transaction = self._transaction, None
        try:
            if transaction is not None and transaction.is_active:
                transaction.rollback()
        except (OperationalError, InterfaceError):
            failed = True
        if failed and self._connection is not None:
            self._connection.invalidate()
            self._connection.close()
            self._connection = None
        self._let_go()

    def _file_lock(self, *, wait: bool) -> bool:
        path = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not path or path == ":memory:":
            return True
        if self._lock_file is None:
            self._lock_file = open(f"{path}.writer-lock", "a+b")  # noqa: SIM115 (kept open)
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(self._lock_file.fileno(), flags)
        except BlockingIOError:
            return False
        self._holds_file = True
        return True

    def _let_go(self) -> None:
        if self._holds_file and self._lock_file is not None:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._holds_file = False
        if self._holds_mutex and self._mutex is not None:
            self._mutex.release()
            self._holds_mutex = False

    def close(self) -> None:
        if self._transaction is not None:
            self.rollback()
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


def reading_connection(engine: Engine) -> Connection:
    """A new connection whose every statement is its own transaction (no BEGIN sent)."""
    connection = engine.connect()
    if connection.dialect.name == "sqlite":
        return connection.execution_options(single_statement=True)
    return connection.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def single_read(engine: Engine) -> Iterator[Connection]:
    """A connection for one read statement, without the cost of an explicit transaction."""
    with reading_connection(engine) as connection:
        yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only unit of work with a consistent snapshot."""
    with engine.connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        yield connection
