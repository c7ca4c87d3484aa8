"""The green passport: build time and size for lots with 10, 1,000 and 10,000 ancestor entries.

Builds merge trees as bench/genealogy_bench.py does (through the service's own
rules and writer), then for each root lot times, median of several runs, the
whole passport as GET /v1/lots/{id}/passport makes it — ancestry query, replay,
inclusion proofs, the service's signature, and the service's own verification of
the bundle — and, apart, the offline verification a holder runs; and reports the
bundle's size as JSON and gzipped, and how much of it is entries and proofs.

    .venv/bin/python bench/passport_bench.py
"""

from __future__ import annotations

import gzip
import json
import statistics
import tempfile
import time
from pathlib import Path

import typer
from genealogy_bench import fresh_ledger

from app.ledger.documents.passport import verify_passport
from app.ledger.provenance.metrics import forget_parsed
from app.services import log, passport


def main(
    sizes: str = typer.Option("10,1000,10000", help="Ancestor entries of each measured lot."),
    repeat: int = typer.Option(5, help="Timed runs per measurement (median reported)."),
) -> None:
    targets = [int(s) for s in sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        ctx, builder = fresh_ledger(Path(tmp), f"sqlite:///{Path(tmp) / 'passport.db'}")
        engine = ctx.engine
        roots = {size: builder.tree(f"T{size}", size) for size in targets}
        log.issue_checkpoint(ctx, force=True)
        verifier = log.verifier(ctx)
        rows = []
        for size in targets:
            lot = roots[size]
            builds, checks = [], []
            doc: dict = {}
            for _ in range(repeat):
                forget_parsed()
                started = time.perf_counter()
                built = passport.build(ctx, lot)
                builds.append(time.perf_counter() - started)
                doc = built.doc
                assert built.report.ok
                forget_parsed()
                started = time.perf_counter()
                report, _ = verify_passport(json.loads(json.dumps(doc)), log_key=verifier)
                checks.append(time.perf_counter() - started)
                assert report.ok
            text = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
            entries = len(
                json.dumps(doc["entries"] + doc["registry"], separators=(",", ":")).encode()
            )
            proofs = len(json.dumps(doc["log"], separators=(",", ":")).encode())
            rows.append(
                (
                    len(doc["entries"]),
                    statistics.median(builds),
                    statistics.median(checks),
                    len(text),
                    len(gzip.compress(text)),
                    entries,
                    proofs,
                )
            )
        engine.dispose()
    print("passport (SQLite; medians)")
    print(
        "  ancestor entries  build (incl. self-check)  offline verify  JSON bytes   gzip bytes  entries   proofs"
    )
    for n, build, check, size, packed, entries, proofs in rows:
        print(
            f"  {n:<16,}  {build * 1000:20.1f} ms  {check * 1000:11.1f} ms  {size:>10,}  {packed:>10,}  {entries / size:6.0%}  {proofs / size:6.0%}"
        )


if __name__ == "__main__":
    typer.run(main)
