"""JSON-LD consumers keep every signed member: the credential expands in safe mode and
verifies with Digital Bazaar's eddsa-jcs-2022 cryptosuite, and the EPCIS document's gt:
members survive expansion whole (tests/jsonld, under Node's test runner, offline)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.scenario import RING, partners, run_steps
from tests.support import Ledger

HERE = Path(__file__).resolve().parent / "jsonld"


def test_third_party_json_ld_code_reads_the_credential_and_epcis(
    ledger: Ledger, tmp_path: Path
) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js runs these checks (make system-deps installs it)"
    assert (HERE / "node_modules" / "jsonld").is_dir(), "make installs tests/jsonld (npm ci)"
    run_steps(ledger, partners(ledger))
    credential = ledger.client.get(f"/v1/lots/{RING}/passport/credential")
    assert credential.status_code == 200, credential.text
    epcis = ledger.client.get(f"/v1/lots/{RING}/epcis", params={"scope": "ancestry"})
    assert epcis.status_code == 200, epcis.text
    (tmp_path / "credential.json").write_text(json.dumps(credential.json()))
    (tmp_path / "epcis.json").write_text(json.dumps(epcis.json()))
    context = ledger.client.get("/contexts/credentials/v1")
    assert context.headers["content-type"] == "application/ld+json"
    (tmp_path / "credentials-context.json").write_text(context.text)
    result = subprocess.run(
        [node, "--test", str(HERE / "documents.test.mjs")],
        env={**os.environ, "GOLDTRAIL_JSONLD_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 3" in result.stdout
    assert "# fail 0" in result.stdout


def test_the_served_context_is_the_one_protocol_md_states(ledger: Ledger) -> None:
    protocol = (Path(__file__).resolve().parents[1] / "docs" / "PROTOCOL.md").read_text()
    block = re.search(r"<!-- context credentials-v1 -->\n```json\n(.*?)\n```", protocol, re.S)
    assert block is not None
    served = ledger.client.get("/contexts/credentials/v1").json()
    assert served == json.loads(block.group(1))
    credential_context = served["@context"]
    assert credential_context["metrics"]["@type"] == "@json"
