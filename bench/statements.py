"""SQL statements per entry on the write path, by batch size.

Integrates batches of N signed events — the sequencer's transaction: rules, numbering,
entries, leaves, tree nodes, receipts, summaries, commit — in-process, counting every
statement sent to the database: those SQLAlchemy executes and those the hot path hands
the driver directly (an ``executemany`` of many rows counts once: one statement, one
round trip with psycopg's pipeline). Run by hand:

    .venv/bin/python bench/statements.py
    .venv/bin/python bench/statements.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import typer
from log_bench import bench_ledger
from post_events import TOKEN, _database, signed_chain
from sqlalchemy import event

from app.config import Settings
from app.db import write_transaction
from app.ledger.keys import SigningKey
from app.models.repository import _sql as sql
from app.models.repository import batch
from app.services import events, ingest


def main(
    sizes: str = typer.Option("1,10,100,1000", help="Batch sizes (entries per transaction)."),
    database_url: str = typer.Option("", help="A PostgreSQL server URL; else SQLite."),
) -> None:
    key = SigningKey.generate()
    with tempfile.TemporaryDirectory() as tmp, _database(database_url, Path(tmp), "stmts") as url:
        settings = Settings(data_dir=Path(tmp), database_url=url, admin_token=TOKEN)
        ctx, partner = bench_ledger(settings, key)
        engine = ctx.engine
        statements = 0

        def count(*_: Any) -> None:
            nonlocal statements
            statements += 1

        event.listen(engine, "before_cursor_execute", count)
        driver = sql.driver_of

        class Counting:
            def __init__(self, cursor: Any) -> None:
                self.cursor = cursor

            def execute(self, *args: Any) -> Any:
                count()
                return self.cursor.execute(*args)

            def executemany(self, *args: Any) -> Any:
                count()
                return self.cursor.executemany(*args)

            def __getattr__(self, name: str) -> Any:
                return getattr(self.cursor, name)

        class CountingDriver:
            def __init__(self, connection: Any) -> None:
                self.connection = connection

            def cursor(self) -> Counting:
                return Counting(self.connection.cursor())

            def __getattr__(self, name: str) -> Any:
                return getattr(self.connection, name)

        def counting(conn: Any) -> CountingDriver:
            return CountingDriver(driver(conn))

        # Every driver-level statement goes through driver_of: the shared helpers and the
        # batch's pipelined reads each hold their own reference to it.
        sql.driver_of = batch.driver_of = counting  # type: ignore[assignment]
        print(f"{'SQLite' if url.startswith('sqlite') else 'PostgreSQL'}: statements per entry")
        print("| entries per batch | statements per batch | per entry | ms per batch |")
        print("|---|---|---|---|")
        for n, size in enumerate(int(s) for s in sizes.split(",")):
            # Warm once (a new lot, its first summary), then measure a batch on existing lots.
            lots = [f"L{n}-{i}" for i in range(min(size, 50))]
            per_lot = -(-size // len(lots))
            chains = {lot: signed_chain("bench-geo", key, lot, per_lot * 2) for lot in lots}
            for round_ in ("warm", "measured"):
                offset = 0 if round_ == "warm" else per_lot
                envelopes = [chains[lot][offset + k] for k in range(per_lot) for lot in lots][:size]
                submissions = [
                    events.prepare_event(ctx, partner=partner, lot_id=None, envelope=envelope)
                    for envelope in envelopes
                ]
                if round_ == "warm":
                    with write_transaction(engine) as conn:
                        ingest.integrate(conn, ctx, submissions).committed(ctx)
                    continue
                statements = 0
                started = time.perf_counter()
                with write_transaction(engine) as conn:
                    ingest.integrate(conn, ctx, submissions).committed(ctx)
                took = (time.perf_counter() - started) * 1000
                print(f"| {size:,} | {statements} | {statements / size:.2f} | {took:.1f} |")
        engine.dispose()


if __name__ == "__main__":
    typer.run(main)
