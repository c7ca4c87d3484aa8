"""How the repository speaks to the driver: bulk statements, driver-level reads, pipelining,
and rows read back into ledger entries.

The append path runs its statements thousands of times a second: building SQLAlchemy
parameters per row cost more than the database took to run them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection

from app.ledger.records import LedgerEntry


@lru_cache(maxsize=32)
def _bulk_sql(dialect: str, verb: str, table: str, columns: tuple[str, ...]) -> str:
    """The driver's own SQL for a batch's rows, with named parameters in its style.

    The batch writer sends many rows through one executemany; building SQLAlchemy
    parameters per row cost more than the database took to insert them.
    """

    def mark(column: str) -> str:
        return f":{column}" if dialect == "sqlite" else f"%({column})s"

    if verb == "insert":
        names = ", ".join(columns)
        values = ", ".join(mark(c) for c in columns)
        return f"INSERT INTO {table} ({names}) VALUES ({values})"  # noqa: S608 (fixed names)
    assignments = ", ".join(f"{c} = {mark(c)}" for c in columns if c != "id")
    return f"UPDATE {table} SET {assignments} WHERE id = {mark('id')}"  # noqa: S608 (fixed names)


def bulk(conn: Connection, verb: str, table: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        sql = _bulk_sql(conn.dialect.name, verb, table, tuple(rows[0]))
        cursor = driver_of(conn).cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()


def driver_of(conn: Connection) -> Any:
    return conn.connection.driver_connection


@lru_cache(maxsize=256)
def driver_sql(dialect: str, sql: str, count: int = 0) -> str:
    """``sql`` in the driver's parameter style; ``(?*)`` becomes ``count`` markers."""
    sql = sql.replace("(?*)", "(" + ", ".join("?" * count) + ")")
    return sql if dialect == "sqlite" else sql.replace("?", "%s")


@contextmanager
def pipeline(conn: Connection) -> Iterator[None]:
    """Statements sent inside go to PostgreSQL together, in one round trip (psycopg's
    pipeline mode); on SQLite, where there is no network, they simply run."""
    if conn.dialect.name != "postgresql":
        yield
        return
    with driver_of(conn).pipeline():
        yield


def driver_rows(conn: Connection, sql: str, params: Sequence[Any], *, many: int = 0) -> list[Any]:
    cursor = driver_of(conn).cursor()
    try:
        cursor.execute(driver_sql(conn.dialect.name, sql, many), tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def body_of(text: str) -> dict[str, Any]:
    # A row edited behind the service's back may not even parse; verification
    # must still be able to name it rather than crash.
    try:
        body = json.loads(text)
    except ValueError:
        return {"unparseable_body": text[:200]}
    return body if isinstance(body, dict) else {"unparseable_body": text[:200]}


def entry_of(row: Any) -> LedgerEntry:
    return LedgerEntry(
        seq=row.seq,
        kind=row.kind,
        body=body_of(row.body),
        hash=row.hash,
        signature=row.signature,
        signer=row.signer,
        recorded_at=row.recorded_at,
        receipt=row.receipt,
        stored=row.body.encode("utf-8"),
    )


def decimal_or_none(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def in_chunks(values: set[str]) -> Iterator[list[str]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), 500):
        yield ordered[start : start + 500]
