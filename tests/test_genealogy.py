"""Genealogy over the API and offline: the DAG, the export, and metrics a holder can recompute."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from app.ledger.documents.genealogy import verify_genealogy
from app.ledger.keys import SigningKey
from app.ledger.log.note import NoteVerifier
from tests.scenario import RING, run_steps
from tests.support import ADMIN, Actor, Ledger, problem, tamper

runner = CliRunner()


@pytest.fixture
def journey(ledger: Ledger, actors: dict[str, Actor]) -> dict[str, Any]:
    run_steps(ledger, actors)
    key = ledger.client.get("/v1/log/key").text.strip()
    return {"verifier": NoteVerifier.parse(key), "key": key, "actors": actors}


def _export(ledger: Ledger, lot: str = RING) -> dict[str, Any]:
    response = ledger.client.get(f"/v1/lots/{lot}/genealogy/export")
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


def test_the_dag_walks_up_and_down_within_the_depth(ledger: Ledger, journey: Any) -> None:
    up = ledger.client.get(f"/v1/lots/{RING}/genealogy?direction=ancestors&depth=2").json()
    assert {(e["from"], e["to"]) for e in up["edges"]} == {
        ("HK-GR-0820-A", RING),
        ("CH-KB-260520-003", "HK-GR-0820-A"),
    }
    assert {n["id"]: n["depth"] for n in up["nodes"]} == {
        RING: 0,
        "HK-GR-0820-A": -1,
        "CH-KB-260520-003": -2,
    }
    full = ledger.client.get(f"/v1/lots/{RING}/genealogy?direction=ancestors&depth=64").json()
    assert {n["id"] for n in full["nodes"]} == {
        RING,
        "HK-GR-0820-A",
        "CH-KB-260520-003",
        "GH-DORE-0509",
        "CN-SCRAP-0420",
        "GH-ORE-0501",
        "GH-ORE-0502",
        "GH-ASR-DEP-01",
    }
    assert full["truncated"] is False
    down = ledger.client.get("/v1/lots/GH-DORE-0509/genealogy?direction=descendants").json()
    children = {e["to"] for e in down["edges"] if e["from"] == "GH-DORE-0509"}
    assert len(children) == 9  # eight kilobars and the grain
    assert RING in {n["id"] for n in down["nodes"]}
    cut = ledger.client.get("/v1/lots/GH-DORE-0509/genealogy?direction=descendants&limit=3")
    assert cut.json()["truncated"] is True
    assert len(cut.json()["edges"]) == 3
    for query, field in (
        ("depth=0", "query.depth"),
        ("depth=65", "query.depth"),
        ("direction=sideways", "query.direction"),
        ("limit=0", "query.limit"),
    ):
        body = problem(ledger.client.get(f"/v1/lots/{RING}/genealogy?{query}"), 422)
        assert body["errors"][0]["field"] == field
    assert problem(ledger.client.get("/v1/lots/NO-SUCH-LOT/genealogy"), 404)
    assert problem(ledger.client.get("/v1/lots/NO-SUCH-LOT/metrics"), 404)


def test_the_export_verifies_offline_and_the_metrics_recompute(
    ledger: Ledger, journey: Any
) -> None:
    doc = _export(ledger)
    report, computed = verify_genealogy(doc, log_key=journey["verifier"])
    assert report.ok, [c.detail for c in report.failures]
    assert computed == doc["metrics"]
    assert computed is not None
    assert computed["grade"] == "B"
    served = ledger.client.get(f"/v1/lots/{RING}/metrics").json()
    assert {k: v for k, v in served.items() if k != "ancestry"} == computed
    checks = {c.check for c in report.checks}
    assert {"checkpoint", "in log", "metrics", "transformation fabricated"} <= checks


def _broken(doc: dict[str, Any], verifier: NoteVerifier) -> list[str]:
    report, _ = verify_genealogy(doc, log_key=verifier)
    assert not report.ok
    return [f"{c.check}: {c.detail}" for c in report.failures]


def test_every_change_to_the_export_is_caught_and_named(ledger: Ledger, journey: Any) -> None:
    doc = _export(ledger)
    verifier = journey["verifier"]

    claimed = copy.deepcopy(doc)
    claimed["metrics"]["grade"] = "A"
    assert any("grade: claimed 'A', recomputed 'B'" in f for f in _broken(claimed, verifier))

    greener = copy.deepcopy(doc)
    refined = next(e for e in greener["entries"] if e["body"].get("action") == "refined")
    refined["body"]["data"]["emissions_kgco2e"] = 1
    failures = _broken(greener, verifier)
    assert any(f.startswith("transformation refined: hash") for f in failures)
    assert any("signature" in f for f in failures)
    assert any(f.startswith("metrics: carbon") for f in failures)

    dropped = copy.deepcopy(doc)
    dropped["entries"] = [e for e in dropped["entries"] if e["body"].get("action") != "smelted"]
    failures = _broken(dropped, verifier)
    assert any("GH-DORE-0509's prev" in f or "history" in f for f in failures)

    stricter = copy.deepcopy(doc)
    stricter["assay_tolerance"] = "0"  # the split's outputs exceed the bar by 0.00002 g
    assert any(f.startswith("mass balance: entry") for f in _broken(stricter, verifier))
    foreign = copy.deepcopy(doc)
    foreign["service_key"] = SigningKey.generate().public.b64
    assert "service key: export names a different service key" in _broken(foreign, verifier)


def test_the_cli_verifies_a_genealogy_and_prints_the_metrics(
    ledger: Ledger, journey: Any, tmp_path: Path
) -> None:
    path = tmp_path / "ring.json"
    path.write_text(json.dumps(_export(ledger)), encoding="utf-8")
    result = runner.invoke(cli, ["verify", str(path), "--log-key", journey["key"]])
    assert result.exit_code == 0, result.output
    assert "genealogy and metrics verified" in result.output
    assert re.search(r"│ grade\s+│ B\s+│", result.output), result.output
    doc = json.loads(path.read_text())
    doc["metrics"]["recycled_share"] = "0.99"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = runner.invoke(cli, ["verify", str(path), "--log-key", journey["key"]])
    assert result.exit_code == 1
    assert "recycled_share: claimed '0.99'" in result.output


def test_the_audit_checks_transformations_and_finds_a_removed_link(
    ledger: Ledger, journey: Any
) -> None:
    clean = ledger.client.post("/v1/audit/verify", headers=ADMIN).json()
    assert clean["ok"] is True, clean["failures"][:3]
    assert ledger.engine is not None
    seq = ledger.client.get(f"/v1/lots/{RING}/events").json()["events"][0]["seq"]
    tamper(ledger.engine, "DELETE FROM events WHERE seq = :seq AND role = 'input'", seq=seq)
    broken = ledger.client.post("/v1/log/audit", headers=journey["actors"]["sh-audit"].auth)
    body = broken.json()
    assert body["ok"] is False
    assert any(f["check"] == "index" and "HK-GR-0820-A" in f["detail"] for f in body["failures"]), (
        body["failures"]
    )


def test_metrics_of_a_tampered_genealogy_are_refused_not_invented(
    ledger: Ledger, journey: Any
) -> None:
    assert ledger.engine is not None
    entry = ledger.client.get("/v1/lots/HK-GR-0820-A/events").json()["events"][0]
    tamper(
        ledger.engine,
        "UPDATE ledger_entries SET body = REPLACE(body, :old, :new) WHERE seq = :seq",
        old='"mass_g":500',
        new='"mass_g":900',
        seq=entry["seq"],
    )
    # The full genealogy, replayed, no longer balances: the service refuses to invent metrics.
    body = problem(ledger.client.get(f"/v1/lots/{RING}/genealogy/export", headers=ADMIN), 500)
    assert body["code"] == "ledger.inconsistent"
    assert "over_claim" in body["detail"]
    # The ring's metrics come from the summaries logged when the entries were appended,
    # which the edit did not change; the grain's own chain shows the edit, and so does the
    # audit that recomputes every summary (PROTOCOL.md §18, "trust").
    assert ledger.client.get(f"/v1/lots/{RING}/metrics").json()["grade"] == "B"
    report = ledger.client.post("/v1/lots/HK-GR-0820-A/verify").json()
    assert report["ok"] is False
    assert any(f["seq"] == entry["seq"] for f in report["failures"])
    audit = ledger.client.post("/v1/log/audit", headers=ADMIN).json()
    assert any(f.get("seq") == entry["seq"] for f in audit["failures"]), audit["failures"]
