"""Passports and metrics at refinery scale (issue 11), over HTTP, with the whole-ancestry
genealogy export measured beside them in the same run as the baseline.

Builds tests/workload.py on a fresh database behind a real uvicorn (60 mines x 6 doré
chains, 150 scrap intakes, one melt of 510 inputs into kilobars, grain, 200 rings sold),
then measures, medians of ``--repeat`` runs:

* a ring's passport: cold (the first request for that ring and checkpoint: built, verified
  by the service, signed) and warm (kept), its size as JSON and gzipped;
* the genealogy export of the same ring (every ancestor entry, one proof each): the size
  and time a passport had before summaries;
* metrics of a ring, a kilobar, the grain, a doré lot and a scrap lot, cold and warm;
* offline verification of the ring's passport (app/ledger, as `goldtrail verify`);
* in Chromium (Playwright): the card /p/<ring> until its in-browser verification is done;
* the whole-log audit of the workload's ledger.

    .venv/bin/python bench/refinery_bench.py [--repeat 7] [--postgres postgresql://...]
"""

from __future__ import annotations

import gzip
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import typer
from post_events import _database, _server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.keystore import load_or_create_secrets  # noqa: E402
from app.ledger.documents.passport import verify_passport  # noqa: E402
from app.ledger.log.note import NoteVerifier  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from tests.support import ADMIN, ADMIN_TOKEN, Ledger  # noqa: E402
from tests.workload import build  # noqa: E402


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} ms (min {min(values):.1f}, max {max(values):.1f})"


def _browser(url: str, rings: list[str]) -> list[float]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for ring in rings:
            page = browser.new_page()
            started = time.perf_counter()
            page.goto(f"{url}/p/{ring}?lang=en")
            page.wait_for_selector(
                "#browser-check[data-state=verified], #browser-check[data-state=failed]",
                state="attached",
                timeout=60_000,
            )
            times.append((time.perf_counter() - started) * 1000)
            assert page.locator("#browser-check").get_attribute("data-state") == "verified"
            page.close()
        browser.close()
    return times


def main(
    repeat: int = typer.Option(7, help="Samples per figure (medians reported)."),
    postgres: str = typer.Option("", help="A PostgreSQL URL; else SQLite."),
) -> None:
    with tempfile.TemporaryDirectory() as tmp, _database(postgres, Path(tmp), "refinery") as db:
        folder = Path(tmp)
        settings = Settings(data_dir=folder, database_url=db, admin_token=ADMIN_TOKEN)
        load_or_create_secrets(settings)
        upgrade(db)
        env = {
            "GOLDTRAIL_DATA_DIR": str(folder),
            "GOLDTRAIL_DATABASE_URL": db,
            "GOLDTRAIL_ADMIN_TOKEN": ADMIN_TOKEN,
        }
        with (
            _server("app.main:create_app", 1, env) as url,
            httpx.Client(base_url=url, timeout=600) as client,
        ):
            seconds, work = _timed(lambda: build(Ledger(client=client)))
            size = int(client.get("/v1/log/checkpoint").text.splitlines()[1])
            print(
                f"workload: {work.entries_posted:,} entries posted in {seconds / 1000:.1f} s "
                f"({work.melt_inputs} melt inputs, {len(work.rings)} rings); log size {size:,}"
            )
            rings = work.rings[: repeat * 2]
            cold, warm, docs = [], [], []
            for ring in rings[:repeat]:
                took, response = _timed(lambda r=ring: client.get(f"/v1/lots/{r}/passport"))
                assert response.status_code == 200
                cold.append(took)
                docs.append(response)
                warm.append(_timed(lambda r=ring: client.get(f"/v1/lots/{r}/passport"))[0])
            body = docs[0].content
            print(f"ring passport   cold {_ms(cold)}   warm {_ms(warm)}")
            print(f"                {len(body):,} bytes JSON, {len(gzip.compress(body)):,} gzipped")
            exports = [
                _timed(lambda r=ring: client.get(f"/v1/lots/{r}/genealogy/export"))
                for ring in rings[repeat : repeat + 3]
            ]
            export_body = exports[0][1].content
            print(
                f"genealogy export (the whole ancestry, before summaries: the baseline) "
                f"{_ms([t for t, _ in exports])}"
            )
            print(
                f"                {len(export_body):,} bytes JSON, "
                f"{len(gzip.compress(export_body)):,} gzipped, "
                f"{len(exports[0][1].json()['entries']):,} entries"
            )
            for name, lot in (
                ("ring", rings[-1]),
                ("kilobar", work.bars[5]),
                ("grain", "GR-A"),
                ("doré", work.dore[7]),
                ("scrap", work.scrap[3]),
            ):
                first = _timed(lambda lot=lot: client.get(f"/v1/lots/{lot}/metrics"))[0]
                again = [
                    _timed(lambda lot=lot: client.get(f"/v1/lots/{lot}/metrics"))[0]
                    for _ in range(repeat)
                ]
                print(f"metrics {name:8} first {first:8.1f} ms   then {_ms(again)}")
            log_key = NoteVerifier.parse(client.get("/v1/log/key").text)
            offline = []
            for _ in range(repeat):
                doc = docs[0].json()
                took, (report, _) = _timed(lambda d=doc: verify_passport(d, log_key=log_key))
                assert report.ok
                offline.append(took)
            print(f"offline verify  {_ms(offline)}")
            print(
                f"Chromium: card loaded and verified in the browser "
                f"{_ms(_browser(url, rings[repeat : repeat * 2]))}"
            )
            auditor = client.post(
                "/v1/admin/partners",
                json={"id": "bench-audit", "name": "Bench Audit", "roles": ["auditor"]},
                headers=ADMIN,
            ).json()["api_key"]
            took, audit = _timed(
                lambda: client.post(
                    "/v1/log/audit", headers={"Authorization": f"Bearer {auditor}"}
                ).json()
            )
            assert audit["ok"], audit["failures"][:3]
            print(f"audit of the whole log ({audit['entries']:,} entries) {took / 1000:.2f} s")


if __name__ == "__main__":
    typer.run(main)
