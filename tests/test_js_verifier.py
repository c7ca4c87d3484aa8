"""The standalone JavaScript verifier under Node's own test runner, on real passports.

The scenario's passports are written out as served, with tampered copies of some;
``node --test tests/js`` then checks that goldtrail-verify.mjs accepts every real
one and refuses every tampered one, naming what failed.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from app.cli import app as cli
from app.config import Settings
from tests.conftest import ADMIN_TOKEN
from tests.scenario import RING, run_steps
from tests.support import Actor, Ledger

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")

TAMPERINGS: list[tuple[str, Any, str]] = [
    ("metrics", lambda d: d["metrics"].update(grade="A"), "passport signature"),
    ("chain body", lambda d: d["chain"][0]["body"]["data"].update(emissions_kgco2e=9), "link #0"),
    (
        "node",
        lambda d: d["log"]["nodes"].update({next(iter(d["log"]["nodes"])): "A" * 43 + "="}),
        "link #0",
    ),
    ("input", lambda d: d["inputs"][0]["body"].update(lot="HK-GR-0820-B"), "inputs"),
    ("receipt", lambda d: d["chain"][1].update(receipt=d["chain"][0]["receipt"]), "link #1"),
    (
        "checkpoint",
        lambda d: d["log"].update(checkpoint=d["log"]["checkpoint"].replace("\n", "\n1", 1)),
        "checkpoint",
    ),
]


def test_the_javascript_verifier_under_nodes_test_runner(
    ledger: Ledger, actors: dict[str, Actor], settings: Settings, tmp_path: Path
) -> None:
    run_steps(ledger, actors)
    (tmp_path / "log.key").write_text(ledger.client.get("/v1/log/key").text)
    for lot in (RING, "HK-GR-0820-A", "GH-ASR-DEP-01", "CH-KB-260520-003"):
        doc = ledger.client.get(f"/v1/lots/{lot}/passport").json()
        (tmp_path / f"valid-{lot}.json").write_text(json.dumps(doc, ensure_ascii=False))
    ring = ledger.client.get(f"/v1/lots/{RING}/passport").json()
    for name, change, expected in TAMPERINGS:
        doc = copy.deepcopy(ring)
        change(doc)
        (tmp_path / f"tampered-{name}.json").write_text(json.dumps(doc))
        (tmp_path / f"tampered-{name}.expect").write_text(expected)
    # After a service key rotation: a passport whose entries span both keys, checked with the
    # old log key (in log.key), and one whose announcement was changed.
    result = CliRunner().invoke(
        cli,
        ["admin", "rotate-service-key", "--yes"],
        env={
            "GOLDTRAIL_ENVIRONMENT": "test",
            "GOLDTRAIL_DATA_DIR": str(settings.data_dir),
            "GOLDTRAIL_DATABASE_URL": settings.database_url,
            "GOLDTRAIL_ADMIN_TOKEN": ADMIN_TOKEN,
        },
    )
    assert result.exit_code == 0, result.output
    rotated = ledger.client.get(f"/v1/lots/{RING}/passport").json()
    assert [e["kind"] for e in rotated["registry"]].count("service_key") == 1
    assert rotated["service_key"] != ring["service_key"]
    (tmp_path / "valid-rotated.json").write_text(json.dumps(rotated, ensure_ascii=False))
    forged = copy.deepcopy(rotated)
    announcement = next(e for e in forged["registry"] if e["kind"] == "service_key")
    announcement["body"]["public_key"] = ring["service_key"]
    (tmp_path / "tampered-rotation.json").write_text(json.dumps(forged))
    (tmp_path / "tampered-rotation.expect").write_text("registry service_key")
    assert NODE is not None, "Node.js (Debian's nodejs, or the machine's own) runs these tests"
    result = subprocess.run(
        [NODE, "--test", str(ROOT / "tests" / "js")],
        env={**os.environ, "GOLDTRAIL_PASSPORTS": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"# pass {5 + len(TAMPERINGS) + 1 + 5}" in result.stdout, result.stdout
