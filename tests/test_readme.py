"""The README's walkthrough, run word for word with bash against a real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.scenario import RING, run_steps
from tests.support import ADMIN_TOKEN

ROOT = Path(__file__).resolve().parent.parent
WALKTHROUGH = re.compile(
    r"<!-- walkthrough:start -->\n```bash\n(.*?)```\n<!-- walkthrough:end -->", re.DOTALL
)


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    assert first_block.splitlines()[0].startswith("make run")
    assert first_block.splitlines()[1].startswith("make test")


def test_readme_walkthrough_runs(server: str, tmp_path: Path) -> None:
    script = WALKTHROUGH.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert script is not None
    work = tmp_path / "checkout"
    (work / "var").mkdir(parents=True)
    (work / "var" / "admin.token").write_text(ADMIN_TOKEN)
    (work / ".venv").symlink_to(Path(sys.prefix))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GOLDTRAIL_") and key != "VIRTUAL_ENV"
    }
    env["GOLDTRAIL_URL"] = server
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.group(1)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    lot = json.loads(next(line for line in lines if line.startswith('{"id":"GH-ASR-DEP-01"')))
    assert lot["stage"] == "sale"
    assert lot["custodian"] == "hk-heritage"
    assert lot["fine_gold_g"] == "546.9453"
    assert lot["length"] == 12
    refused = json.loads(next(line for line in lines if '"code":"stage.closed"' in line))
    assert refused["status"] == 409
    assert "chain verified" in result.stdout
    assert result.stdout.count("✓ event #") == 24  # verified twice: pinned key, then log key
    # the lot: 12 events, 4 keys, 4 partners; the grain's genealogy: 2 transformations, 1 key, 1 partner
    assert result.stdout.count("✓ in log") == 20 + 4
    assert "receipt verified" in result.stdout
    assert "✓ size 26 is consistent with the kept size 8" in result.stdout
    closed = json.loads(next(line for line in lines if '"code":"lot.closed"' in line))
    assert closed["errors"][0]["field"] == "transformation.inputs[0].lot"
    metrics = json.loads(next(line for line in lines if line.startswith('{"lot":"CH-GR-0520-A"')))
    assert metrics["grade"] == "A"
    assert metrics["recycled_share"] == "1"
    assert metrics["countries_of_origin"] == {"CN": "1"}
    assert metrics["carbon_intensity_kgco2e_per_kg"] == "158"  # (35 + 1150) × 4999.5 / 7498.2501 kg
    assert "genealogy and metrics verified" in result.stdout
    export = json.loads((work / "demo" / "export.json").read_text())
    assert len(export["events"]) == 12
    taps = [json.loads(line) for line in lines if line.startswith('{"tag":')]
    assert [(t["outcome"], t["counter"]) for t in taps] == [("genuine", 1), ("replay", 1)]
    assert taps[0]["binding"]["lot"] == "CH-BAR-0601"
    bar = json.loads(next(line for line in lines if line.startswith('{"bar":')))
    assert (bar["lot"], bar["state"], bar["bar"]["serial"]) == (
        "CH-BAR-0601",
        "live",
        "TPM-0601-0001",
    )


def test_the_readmes_ring_metrics_are_what_the_service_computes(
    ledger: Any, actors: dict[str, Any]
) -> None:
    block = re.search(
        r"<!-- ring-metrics:start -->\n```json\n(.*?)\n```\n<!-- ring-metrics:end -->",
        (ROOT / "README.md").read_text(encoding="utf-8"),
        re.DOTALL,
    )
    assert block is not None
    run_steps(ledger, actors)
    served = ledger.client.get(f"/v1/lots/{RING}/metrics").json()
    assert served == json.loads(block.group(1))
