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
from app.keystore import load_or_create_secrets
from app.ledger.events import EVENT_TYPE, Event
from app.ledger.keys import SigningKey
from app.ledger.log import merkle
from app.migrate import upgrade
from app.models import repository
from app.models.repository import PartnerRow
from app.services import audit, ingest, log, registry
from app.services.context import LedgerContext
from app.services.ingest import Submission

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


def _submission(key: SigningKey, partner: PartnerRow, heads: dict[str, str], n: int) -> Submission:
    lot = f"LOT-{n % LOTS}"
    event, signature = _event(key, lot, n, heads.get(lot))
    heads[lot] = event.hash
    return Submission.of(event, signature, partner)


def _append(ctx: LedgerContext, submissions: list[Submission]) -> None:
    """Through the service's own batch writer: rules, receipts, tree, summaries."""
    with write_transaction(ctx.engine) as conn:
        integrated = ingest.integrate(conn, ctx, submissions)
    outcomes = integrated.committed(ctx)
    refused = [o for o in outcomes if isinstance(o, Exception)]
    if refused:
        raise refused[0]


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


def _signatures_alone(engine: Any, workers: int, service: bytes) -> float:
    """Seconds to verify every receipt and signature of the log on ``workers`` processes:
    the floor under any audit that checks them (rows read beforehand, not timed)."""
    from concurrent.futures import ProcessPoolExecutor

    from app.ledger.keys import PublicKey, b64decode_strict, valid_signatures
    from app.ledger.records import receipt_bytes

    tasks = []
    with engine.connect() as conn:
        keys = {
            str(b["key"]): PublicKey.from_b64(b["public_key"]).raw
            for b in repository.key_record_bodies(conn)
        }
        for row in repository.entry_rows(conn, 0, repository.next_seq(conn)):
            seq, kind, entry_hash, body, signature, signer, recorded_at, receipt = row
            message = receipt_bytes(
                seq=seq, kind=kind, entry_hash=entry_hash, recorded_at=recorded_at
            )
            tasks.append((service, b64decode_strict(receipt, field="r"), message))
            raw = keys.get(signer, service)
            tasks.append((raw, b64decode_strict(signature, field="s"), body.encode()))
    size = -(-len(tasks) // (workers * 8))
    parts = [tasks[i : i + size] for i in range(0, len(tasks), size)]
    started = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(valid_signatures, parts))
    return time.perf_counter() - started


def _size(engine: Any) -> int:
    with engine.connect() as conn:
        return repository.next_seq(conn)


def _database_bytes(conn: Connection) -> int:
    if conn.dialect.name == "sqlite":
        pages = conn.execute(text("PRAGMA page_count")).scalar_one()
        size = conn.execute(text("PRAGMA page_size")).scalar_one()
        return int(pages * size)
    return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def bench_ledger(settings: Settings, key: SigningKey) -> tuple[LedgerContext, PartnerRow]:
    """A migrated database, the service's context on it, and the partner ``bench-geo``
    registered with ``key`` (an explorer)."""
    secrets = load_or_create_secrets(settings)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    ctx = LedgerContext(engine, settings, secrets.service_key)
    registry.register_partner(
        ctx,
        partner_id="bench-geo",
        name="Bench",
        roles=["explorer"],
        country=None,
        public_keys=[key.public.b64],
    )
    with engine.connect() as conn:
        partner = repository.partner_by_id(conn, "bench-geo")
    assert partner is not None
    return ctx, partner


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
        key = SigningKey.generate()
        ctx, partner = bench_ledger(settings, key)
        engine = ctx.engine
        heads: dict[str, str] = {}
        curve = []
        marks = [m for m in (10**3, 10**4, 10**5, 10**6, 10**7) if m <= entries] + [entries]
        n, started = 0, time.perf_counter()
        for mark in sorted(set(marks)):
            while _size(engine) < mark:
                count = min(1000, mark - _size(engine))
                _append(ctx, [_submission(key, partner, heads, n + i) for i in range(count)])
                n += count
                print(f"\r  filled {_size(engine):,} entries", end="", flush=True)
            log.issue_checkpoint(ctx, force=True)
            curve.append(_proof_latency(ctx, mark, samples))
        fill_seconds = time.perf_counter() - started
        print()
        filled = _size(engine)
        single = []
        for _ in range(2000):
            submission = _submission(key, partner, heads, n)
            t0 = time.perf_counter()
            _append(ctx, [submission])
            single.append(time.perf_counter() - t0)
            n += 1
        log.issue_checkpoint(ctx, force=True)
        total = _size(engine)
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
        floor = _signatures_alone(engine, os.cpu_count() or 1, ctx.service_key.public.raw)
        with engine.connect() as conn:
            size_bytes = _database_bytes(conn)
        engine.dispose()
    print(f"database                 {url.split(':')[0].split('+')[0]}")
    print(f"entries                  {total:,}")
    print(
        f"bulk fill                {filled / fill_seconds:,.0f} entries/s (batches of 1,000 events, incl. signing)"
    )
    s50, s99 = _percentiles(single)
    print(
        f"single-entry appends     {len(single) / sum(single):,.0f} entries/s, p50 {s50:.2f} ms, p99 {s99:.2f} ms"
    )
    for workers, (seconds, report) in audits.items():
        print(
            f"audit, {workers} worker processes  {seconds:.1f} s ({total / seconds:,.0f} entries/s), "
            f"pass in sequence {report.sequential_seconds:.1f} s "
            f"({report.sequential_seconds / total * 1e6:.1f} µs per entry), "
            f"ok={report.ok}, failures={report.failure_count}, summaries={report.summaries}"
        )
    print(
        f"signature checks alone   {floor:.1f} s on {os.cpu_count()} processes "
        f"({2 * total:,} Ed25519 verifications: receipts and signatures)"
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
