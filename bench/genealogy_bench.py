"""Genealogy and green metrics: time to compute a lot's metrics from DAGs of growing size.

For each size N it builds, through the service's own rules and writer, a merge
tree whose root lot has about N ancestor entries: recycled intakes (up to 200
output lots each) merged pairwise, level by level, every entry signed and
carrying emissions, location and certification facts. It then times, median of
several runs:

* the ancestry query (the lot, all its ancestors, and their chains' entries);
* the replay that recomputes the metrics from those entries;
* the genealogy export (JSON, with inclusion proofs) and its size, up to 10^4.

Last, it adds an unrelated tree as big as the largest, and times the N = 1,000
lot again: the cost should follow the genealogy, not the ledger.

Run by hand:

    .venv/bin/python bench/genealogy_bench.py
    .venv/bin/python bench/genealogy_bench.py --sizes 10,1000,100000 --database-url postgresql://...
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from app.config import Settings
from app.db import make_engine, read_transaction, write_transaction
from app.keystore import load_or_create_secrets
from app.ledger.keys import SigningKey
from app.ledger.provenance.metrics import Replay, forget_parsed, lot_metrics, partner_countries
from app.ledger.provenance.transformations import TRANSFORMATION_TYPE, Transformation
from app.migrate import upgrade
from app.models import repository
from app.services import genealogy, log, registry, transformations
from app.services.context import LedgerContext

START = datetime(2025, 1, 1, tzinfo=UTC)
PER_INTAKE = 200
CERTIFIED = [
    {
        "scheme": "RJC Chain-of-Custody",
        "id": "RJC-BENCH",
        "issuer": "Responsible Jewellery Council",
        "valid_from": "2024-01-01",
        "valid_until": "2027-12-31",
    }
]


class Builder:
    def __init__(self, ctx: LedgerContext, key: SigningKey, partner: Any) -> None:
        self.ctx, self.key, self.partner = ctx, key, partner
        self.clock = 0
        self.heads: dict[str, str] = {}
        self.fine: dict[str, float] = {}

    def _t(
        self, action: str, inputs: list[str], outputs: list[dict[str, Any]], data: dict[str, Any]
    ) -> Transformation:
        self.clock += 1
        body = {
            "type": TRANSFORMATION_TYPE,
            "partner": self.partner.id,
            "key": self.key.public.key_id,
            "stage": "smelting",
            "action": action,
            "occurred_at": (START + timedelta(seconds=self.clock)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "inputs": [{"lot": lot, "prev": self.heads[lot]} for lot in inputs],
            "outputs": outputs,
            "data": data,
        }
        return Transformation.from_json(body)

    def append(
        self,
        action: str,
        inputs: list[str],
        outputs: list[dict[str, Any]],
        data: dict[str, Any],
        conn: Any,
    ) -> None:
        t = self._t(action, inputs, outputs, data)
        done = transformations.record(conn, self.ctx, self.partner, t, self.key.sign(t.canonical))
        for state in (*done.inputs, *done.outputs):
            self.heads[state.lot] = state.head

    def tree(self, prefix: str, entries: int) -> str:
        """A merge tree of about ``entries`` transformations; returns its root lot."""
        leaves = max(2, entries - entries // PER_INTAKE)
        level = [f"{prefix}-L{i}" for i in range(leaves)]
        batches = [level[i : i + PER_INTAKE] for i in range(0, leaves, PER_INTAKE)]
        for transaction in _chunks(batches, 5):
            with write_transaction(self.ctx.engine) as conn:
                for batch in transaction:
                    self.append(
                        "recycled_intake",
                        [],
                        [
                            {"lot": lot, "form": "scrap", "mass_g": 100, "fineness": 750}
                            for lot in batch
                        ],
                        {
                            "emissions_kgco2e": 3.5,
                            "location": {"country": "CN", "subdivision": "CN-SH"},
                        },
                        conn,
                    )
        self.fine.update(dict.fromkeys(level, 75.0))
        depth = 0
        while len(level) > 1:
            depth += 1
            pairs = [level[i : i + 2] for i in range(0, len(level), 2)]
            merged = []
            for transaction in _chunks(pairs, 1000):
                with write_transaction(self.ctx.engine) as conn:
                    for pair in transaction:
                        if len(pair) == 1:
                            merged.append(pair[0])
                            continue
                        out = f"{prefix}-M{depth}-{len(merged)}"
                        fine = self.fine.pop(pair[0]) + self.fine.pop(pair[1])
                        self.fine[out] = fine
                        self.append(
                            "merged",
                            pair,
                            [{"lot": out, "form": "grain", "mass_g": fine, "fineness": 1000}],
                            {
                                "emissions_kgco2e": 1.25,
                                "certifications": CERTIFIED,
                                "energy_kwh": 4,
                                "renewable_share": 0.6,
                            },
                            conn,
                        )
                        merged.append(out)
            level = merged
        return level[0]


def fresh_ledger(folder: Path, url: str) -> tuple[LedgerContext, Builder]:
    """A migrated database with one registered refiner, and a builder that signs as it."""
    settings = Settings(
        data_dir=folder, database_url=url, admin_token="b" * 40, checkpoint_interval_seconds=0
    )
    secrets = load_or_create_secrets(settings)
    upgrade(url)
    ctx = LedgerContext(make_engine(url), settings, secrets.service_key)
    key = SigningKey.generate()
    registry.register_partner(
        ctx,
        partner_id="bench-refiner",
        name="Bench",
        roles=["refiner", "smelter"],
        country="CH",
        public_keys=[key.public.b64],
    )
    with read_transaction(ctx.engine) as conn:
        partner = repository.partner_by_id(conn, "bench-refiner")
    return ctx, Builder(ctx, key, partner)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _median_ms(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000, result


def _measure(ctx: LedgerContext, lot: str, repeat: int, export: bool) -> dict[str, Any]:
    tolerance = ctx.settings.assay_tolerance

    def ancestry() -> tuple[list[str], list[Any]]:
        with read_transaction(ctx.engine) as conn:
            return repository.ancestry(conn, lot)

    query_ms, (lots, entries) = _median_ms(ancestry, repeat)
    with read_transaction(ctx.engine) as conn:
        registry_entries = repository.registry_entries(
            conn, key_ids={str(e.body["key"]) for e in entries}
        )
    countries = partner_countries(registry_entries)

    def replay() -> dict[str, Any]:
        forget_parsed()
        return lot_metrics(Replay(frozenset(lots), countries, tolerance).run(entries), lot)

    replay_ms, metrics = _median_ms(replay, repeat)

    def served(cold: bool) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            if cold:
                forget_parsed()
            with read_transaction(ctx.engine) as conn:
                return genealogy.metrics(conn, lot, tolerance=tolerance)

        return run

    total_ms, _ = _median_ms(served(cold=True), repeat)
    warm_ms, _ = _median_ms(served(cold=False), repeat)
    row = {
        "lot": lot,
        "lots": len(lots),
        "entries": len(entries),
        "query_ms": query_ms,
        "replay_ms": replay_ms,
        "metrics_ms": total_ms,
        "warm_ms": warm_ms,
        "grade": metrics["grade"],
    }
    if export:
        checkpoint = log.checkpoint_or_latest(ctx)

        def build() -> str:
            with read_transaction(ctx.engine) as conn:
                doc = genealogy.export_genealogy(
                    conn,
                    lot,
                    service_key=ctx.service_key.public,
                    tolerance=tolerance,
                    checkpoint=checkpoint,
                )
            return json.dumps(doc)

        row["export_ms"], text = _median_ms(build, repeat)
        row["export_bytes"] = len(text.encode())
    return row


def main(
    sizes: str = typer.Option("10,1000,100000", help="Ancestor entries of each measured lot."),
    repeat: int = typer.Option(7, help="Timed runs per measurement (median reported)."),
    database_url: str = typer.Option("", help="Default: a fresh SQLite file."),
) -> None:
    targets = [int(s) for s in sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'genealogy.db'}"
        ctx, builder = fresh_ledger(Path(tmp), url)
        engine = ctx.engine
        roots = {}
        for size in targets:
            started = time.perf_counter()
            roots[size] = builder.tree(f"T{size}", size)
            print(
                f"  built a genealogy of ~{size:,} entries in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
        log.issue_checkpoint(ctx, force=True)
        rows = [
            _measure(ctx, roots[size], repeat if size <= 10_000 else 3, size <= 10_000)
            for size in targets
        ]
        reference = min(targets, key=lambda s: abs(s - 1000))
        before = rows[targets.index(reference)]
        started = time.perf_counter()
        builder.tree("NOISE", max(targets))
        print(
            f"  added an unrelated tree of ~{max(targets):,} entries in {time.perf_counter() - started:.1f} s"
        )
        log.issue_checkpoint(ctx, force=True)
        after = _measure(ctx, roots[reference], repeat, False)
        with read_transaction(engine) as conn:
            total = repository.next_seq(conn)
        engine.dispose()
    print(
        f"database {url.split(':')[0].split('+')[0]}, {total:,} ledger entries at the end; medians in ms"
    )
    print(
        "  ancestor entries  lots    ancestry query  replay (cold)  metrics cold  metrics warm  export ms, bytes"
    )
    for row in rows:
        export = f"{row['export_ms']:.1f}, {row['export_bytes']:,}" if "export_ms" in row else "—"
        print(
            f"  {row['entries']:<16,}  {row['lots']:<6,}  {row['query_ms']:14.2f}  {row['replay_ms']:13.2f}  "
            f"{row['metrics_ms']:12.2f}  {row['warm_ms']:12.2f}  {export}"
        )
    for row in rows:
        print(
            f"  per entry at {row['entries']:,}: {row['metrics_ms'] * 1000 / row['entries']:.1f} µs cold, "
            f"{row['warm_ms'] * 1000 / row['entries']:.1f} µs warm"
        )
    print(
        f"  the {before['entries']:,}-entry lot after the ledger grew by an unrelated "
        f"{max(targets):,}-entry tree: {after['metrics_ms']:.2f} ms cold (before: {before['metrics_ms']:.2f} ms, "
        f"ratio {after['metrics_ms'] / before['metrics_ms']:.2f})"
    )


if __name__ == "__main__":
    typer.run(main)
