"""The transparency log at scale: appends, proof latency, audit time, bytes per entry.

Fills a fresh database with N real ledger entries — one partner, many lots,
every event signed by the partner's key and appended by the service's own
writer (receipt, leaf, tree nodes), 1,000 to a transaction — then measures:

* append throughput of the log itself, in single-entry transactions;
* inclusion and consistency proof latency (p50/p99) as the tree grows, with the
  number of stored hashes each proof reads (the logarithmic curve);
* the streaming audit of everything, and the database bytes per entry.

Run by hand:

    .venv/bin/python bench/log_bench.py --entries 100000
    .venv/bin/python bench/log_bench.py --entries 1000000 --database-url postgresql://...
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import Connection, text

from app.config import Settings
from app.db import make_engine, write_transaction
from app.domain.rules import LotState
from app.keystore import load_or_create_secrets
from app.ledger import merkle
from app.ledger.events import EVENT_TYPE, Event
from app.ledger.keys import SigningKey
from app.migrate import upgrade
from app.services import audit, log, registry, writer
from app.services.context import LedgerContext

LOTS = 1000
START = datetime(2025, 1, 1, tzinfo=UTC)


def _event(key: SigningKey, lot: str, n: int, prev: str | None) -> tuple[Event, bytes]:
    body = {
        "type": EVENT_TYPE,
        "lot": lot,
        "partner": "bench-geo",
        "key": key.public.key_id,
        "stage": "exploration",
        "action": "site_registered" if prev is None else "impact_assessed",
        "occurred_at": (START + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {"form": "deposit"}
        if prev is None
        else {"note": f"assessment {n}", "water_m3": 12.5},
        "prev": prev,
    }
    event = Event.from_json(body)
    return event, key.sign(event.canonical)


def _append(
    conn: Connection, ctx: LedgerContext, key: SigningKey, heads: dict[str, Any], n: int
) -> None:
    lot = f"LOT-{n % LOTS}"
    head = heads.get(lot)
    event, signature = _event(key, lot, n, None if head is None else head.head)
    length = 1 if head is None else head.length + 1
    state = LotState(
        lot,
        "deposit",
        None,
        None,
        "bench-geo",
        None,
        "exploration",
        event.action,
        event.occurred_at,
        event.hash,
        length,
    )
    writer.append_signed(
        conn,
        kind="event",
        signed=event,
        signature=signature,
        links=[writer.ChainLink(lot, length - 1, event.prev)],
        states=[state],
        service_key=ctx.service_key,
        now=datetime.now(UTC),
    )
    heads[lot] = state


def _percentiles(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return (
        statistics.median(samples) * 1000,
        samples[min(len(samples) - 1, int(0.99 * len(samples)))] * 1000,
    )


def _proof_latency(ctx: LedgerContext, size: int, samples: int) -> dict[str, float]:
    rng = random.Random(size)
    inclusion, consistency = [], []
    for _ in range(samples):
        index = rng.randrange(size)
        started = time.perf_counter()
        log.inclusion(ctx, index=index, size=size)
        inclusion.append(time.perf_counter() - started)
        old = rng.randrange(1, size + 1)
        started = time.perf_counter()
        log.consistency(ctx, old=old, new=size)
        consistency.append(time.perf_counter() - started)
    i50, i99 = _percentiles(inclusion)
    c50, c99 = _percentiles(consistency)
    index = size // 3
    return {
        "size": size,
        "inclusion_p50": i50,
        "inclusion_p99": i99,
        "consistency_p50": c50,
        "consistency_p99": c99,
        "hashes_read": len(merkle.nodes_for_inclusion(index, size) | merkle.nodes_for_root(size)),
        "proof_length": len(merkle.nodes_for_inclusion(index, size))
        and len(log.inclusion(ctx, index=index, size=size)["proof"]),
    }


def _database_bytes(conn: Connection) -> int:
    if conn.dialect.name == "sqlite":
        pages = conn.execute(text("PRAGMA page_count")).scalar_one()
        size = conn.execute(text("PRAGMA page_size")).scalar_one()
        return int(pages * size)
    return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def main(
    entries: int = typer.Option(100_000, help="How many entries to fill the log with."),
    samples: int = typer.Option(500, help="Proofs timed at each size."),
    database_url: str = typer.Option("", help="Default: a fresh SQLite file."),
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'log.db'}"
        settings = Settings(
            data_dir=Path(tmp),
            database_url=url,
            admin_token="b" * 40,
            checkpoint_interval_seconds=0,
        )
        secrets = load_or_create_secrets(settings)
        upgrade(url)
        engine = make_engine(url)
        ctx = LedgerContext(engine, settings, secrets.service_key)
        key = SigningKey.generate()
        registry.register_partner(
            ctx,
            partner_id="bench-geo",
            name="Bench",
            roles=["explorer"],
            country=None,
            public_keys=[key.public.b64],
        )
        heads: dict[str, Any] = {}
        curve = []
        marks = [m for m in (10**3, 10**4, 10**5, 10**6, 10**7) if m <= entries] + [entries]
        n, started = 0, time.perf_counter()
        for mark in sorted(set(marks)):
            while n < mark - 2:
                with write_transaction(engine) as conn:
                    for _ in range(min(1000, mark - 2 - n)):
                        _append(conn, ctx, key, heads, n)
                        n += 1
                print(f"\r  filled {n + 2:,} entries", end="", flush=True)
            log.issue_checkpoint(ctx, force=True)
            curve.append(_proof_latency(ctx, mark, samples))
        fill_seconds = time.perf_counter() - started
        print()
        single = []
        for _ in range(2000):
            t0 = time.perf_counter()
            with write_transaction(engine) as conn:
                _append(conn, ctx, key, heads, n)
            single.append(time.perf_counter() - t0)
            n += 1
        log.issue_checkpoint(ctx, force=True)
        total = n + 2
        audits = {}
        for workers in (0, os.cpu_count() or 1):
            t0 = time.perf_counter()
            report = audit.run(
                engine,
                service_key=ctx.service_key.public,
                origin=settings.log_origin,
                workers=workers,
            )
            audits[workers] = (time.perf_counter() - t0, report)
        with engine.connect() as conn:
            size_bytes = _database_bytes(conn)
        engine.dispose()
    print(f"database                 {url.split(':')[0].split('+')[0]}")
    print(f"entries                  {total:,}")
    print(
        f"bulk fill                {(n - 2000) / fill_seconds:,.0f} entries/s (1,000 per transaction, incl. signing)"
    )
    s50, s99 = _percentiles(single)
    print(
        f"single-entry appends     {len(single) / sum(single):,.0f} entries/s, p50 {s50:.2f} ms, p99 {s99:.2f} ms"
    )
    for workers, (seconds, report) in audits.items():
        print(
            f"audit, {workers} verifier processes  {seconds:.1f} s ({total / seconds:,.0f} entries/s), "
            f"ok={report.ok}, failures={report.failure_count}"
        )
    print(f"database bytes per entry {size_bytes / total:,.0f}")
    print("proof latency (ms) by tree size:")
    print("  size        incl p50  incl p99  cons p50  cons p99  hashes read  proof length")
    for row in curve:
        print(
            f"  {row['size']:<10,}  {row['inclusion_p50']:8.3f}  {row['inclusion_p99']:8.3f}  "
            f"{row['consistency_p50']:8.3f}  {row['consistency_p99']:8.3f}  {row['hashes_read']:11}  "
            f"{row['proof_length']:12}"
        )


if __name__ == "__main__":
    typer.run(main)
