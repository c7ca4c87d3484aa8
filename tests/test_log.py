"""The transparency log over HTTP: checkpoints, proofs, receipts, bad input, audit."""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from app.cli import app as cli
from app.ledger.documents.export import verify_lot_export
from app.ledger.documents.receipts import verify_receipt
from app.ledger.log.merkle import (
    leaf_hash,
    reference_root,
    verify_consistency,
    verify_inclusion,
)
from app.ledger.log.note import NoteVerifier, open_checkpoint
from tests.support import Ledger, deposit, problem, tamper

runner = CliRunner()


@pytest.fixture
def logged(ledger: Ledger) -> dict[str, Any]:
    geo = ledger.partner("kumasi-geo", "explorer")
    auditor = ledger.partner("sh-audit", "auditor")
    deposit(ledger, geo, "LOT-1")
    for n in range(6):
        ledger.post(geo, "LOT-1", "exploration", "impact_assessed", {"note": f"n{n}"})
    key = ledger.client.get("/v1/log/key").text.strip()
    return {"geo": geo, "auditor": auditor, "key": key, "verifier": NoteVerifier.parse(key)}


def _b(items: list[str]) -> list[bytes]:
    return [base64.b64decode(item) for item in items]


def test_checkpoint_is_signed_and_commits_to_every_entry(
    ledger: Ledger, logged: dict[str, Any]
) -> None:
    note = ledger.client.get("/v1/log/checkpoint")
    assert note.headers["content-type"].startswith("text/plain")
    checkpoint = open_checkpoint(note.text, logged["verifier"])
    assert checkpoint.origin == "goldtrail.example/log"
    with ledger.engine.connect() as conn:  # type: ignore[union-attr]
        count = conn.execute(text("SELECT COUNT(*) FROM ledger_entries")).scalar_one()
    assert checkpoint.size == count == 12  # 2 partners, 2 keys, 7 events, the deposit's summary
    leaves = [
        base64.b64decode(ledger.client.get(f"/v1/log/entries/{i}").json()["leaf"])
        for i in range(count)
    ]
    assert checkpoint.root == reference_root(leaves)
    assert ledger.client.get(f"/v1/log/checkpoints/{checkpoint.size}").text == note.text


def test_every_inclusion_and_consistency_proof_verifies(
    ledger: Ledger, logged: dict[str, Any]
) -> None:
    checkpoint = open_checkpoint(ledger.client.get("/v1/log/checkpoint").text, logged["verifier"])
    size = checkpoint.size
    for index in range(size):
        leaf = base64.b64decode(ledger.client.get(f"/v1/log/entries/{index}").json()["leaf"])
        proof = ledger.client.get(f"/v1/log/proof/inclusion?index={index}&size={size}").json()
        verify_inclusion(
            leaf=leaf_hash(leaf),
            index=index,
            size=size,
            proof=_b(proof["proof"]),
            root_hash=checkpoint.root,
        )
    for old in range(1, size + 1):
        answer = ledger.client.get(f"/v1/log/proof/consistency?from={old}&to={size}").json()
        verify_consistency(
            old_size=old,
            new_size=size,
            old_root=base64.b64decode(answer["from_root"]),
            new_root=checkpoint.root,
            proof=_b(answer["proof"]),
        )


def test_every_checkpoint_is_kept_and_consistent_with_the_next(
    ledger: Ledger, logged: dict[str, Any]
) -> None:
    sizes = []
    for n in range(3):
        ledger.post(logged["geo"], "LOT-1", "exploration", "permit_granted", {"note": f"n{n}"})
        sizes.append(
            open_checkpoint(ledger.client.get("/v1/log/checkpoint").text, logged["verifier"]).size
        )
    assert sizes == sorted(set(sizes))
    kept = [
        open_checkpoint(ledger.client.get(f"/v1/log/checkpoints/{s}").text, logged["verifier"])
        for s in sizes
    ]
    for old, new in itertools.pairwise(kept):
        proof = ledger.client.get(f"/v1/log/proof/consistency?from={old.size}&to={new.size}").json()
        verify_consistency(
            old_size=old.size,
            new_size=new.size,
            old_root=old.root,
            new_root=new.root,
            proof=_b(proof["proof"]),
        )


def test_a_receipt_verifies_offline_and_every_edit_is_caught(
    ledger: Ledger, logged: dict[str, Any], tmp_path: Path
) -> None:
    accepted = ledger.post(
        logged["geo"], "LOT-1", "exploration", "permit_granted", {"permit": "P-1"}
    ).json()
    receipt = ledger.client.get(f"/v1/log/receipts/{accepted['seq']}").json()
    assert receipt["entry"]["hash"] == accepted["hash"]
    assert verify_receipt(receipt, log_key=logged["verifier"]).ok
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    result = runner.invoke(cli, ["verify", str(path), "--log-key", logged["key"]])
    assert result.exit_code == 0, result.output
    assert "✓ inclusion" in result.output
    body_edit = json.loads(json.dumps(receipt))
    body_edit["entry"]["body"]["data"]["permit"] = "P-2"
    proof_edit = json.loads(json.dumps(receipt))
    proof_edit["inclusion_proof"][0] = base64.b64encode(b"\x00" * 32).decode()
    moved = json.loads(json.dumps(receipt))
    moved["entry"]["seq"] -= 1
    moved["index"] -= 1
    for edited, failing in (
        (body_edit, "entry hash"),
        (proof_edit, "inclusion"),
        (moved, "inclusion"),
    ):
        report = verify_receipt(edited, log_key=logged["verifier"])
        assert not report.ok
        assert failing in [check.check for check in report.failures]
    other_key = NoteVerifier.parse(
        str(
            NoteVerifier.of(
                "goldtrail.example/log",
                __import__("app.ledger.keys", fromlist=["SigningKey"]).SigningKey.generate().public,
            )
        )
    )
    assert (
        verify_receipt(receipt, log_key=other_key)
        .failures[0]
        .detail.endswith(f"no signature by goldtrail.example/log ({other_key.key_id.hex()})")
    )
    other_origin = NoteVerifier.of("other.example/log", logged["verifier"].public)
    assert not verify_receipt(receipt, log_key=other_origin).ok
    truncated = {**receipt, "checkpoint": receipt["checkpoint"][:40]}
    assert not verify_receipt(truncated, log_key=logged["verifier"]).ok


def test_a_logged_export_verifies_with_the_log_key(
    ledger: Ledger, logged: dict[str, Any], tmp_path: Path
) -> None:
    export = ledger.client.get("/v1/lots/LOT-1/export").json()
    report = verify_lot_export(export, log_key=logged["verifier"])
    assert report.ok, report.failures
    assert (
        sum(1 for check in report.checks if check.check == "in log") == 9
    )  # 7 events, 1 key, 1 partner
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    assert runner.invoke(cli, ["verify", str(path), "--log-key", logged["key"]]).exit_code == 0
    export["log"]["proofs"][str(export["events"][3]["seq"])][0] = export["log"]["proofs"][
        str(export["events"][2]["seq"])
    ][0]
    broken = verify_lot_export(export, log_key=logged["verifier"])
    assert [f.check for f in broken.failures] == ["in log"]
    assert broken.failures[0].seq == export["events"][3]["seq"]


def test_checkpoint_text_verifies_with_the_cli(
    ledger: Ledger, logged: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "checkpoint.txt"
    path.write_text(ledger.client.get("/v1/log/checkpoint").text)
    good = runner.invoke(cli, ["verify", str(path), "--log-key", logged["key"]])
    assert good.exit_code == 0
    assert "✓ checkpoint: goldtrail.example/log, size 12" in good.output
    path.write_text(path.read_text().replace("\n12\n", "\n13\n"))
    bad = runner.invoke(cli, ["verify", str(path), "--log-key", logged["key"]])
    assert bad.exit_code == 1
    assert "✗ checkpoint" in bad.output


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/v1/log/proof/inclusion?index=5&size=5", 404, "index"),
        ("/v1/log/proof/inclusion?index=0&size=0", 422, "query.size"),
        ("/v1/log/proof/inclusion?index=-1&size=3", 422, "query.index"),
        ("/v1/log/proof/inclusion?index=a&size=3", 422, "query.index"),
        ("/v1/log/proof/inclusion?index=0&size=1.5", 422, "query.size"),
        ("/v1/log/proof/inclusion?index=0&size=99999999999999999999999", 422, "query.size"),
        ("/v1/log/proof/inclusion?index=0&size=13", 404, "size"),
        ("/v1/log/proof/inclusion?size=3", 422, "query.index"),
        ("/v1/log/proof/consistency?from=5&to=3", 404, "from"),
        ("/v1/log/proof/consistency?from=0&to=3", 422, "query.from"),
        ("/v1/log/proof/consistency?from=3&to=4000", 404, "to"),
        ("/v1/log/entries/12", 404, "index"),
        ("/v1/log/entries/-1", 422, "path.index"),
        ("/v1/log/receipts/12", 404, "index"),
        ("/v1/log/checkpoints/3", 404, "size"),
    ],
)
def test_bad_proof_requests_are_4xx(
    ledger: Ledger, logged: dict[str, Any], path: str, status: int, field: str
) -> None:
    answer = problem(ledger.client.get(path), status)
    assert answer["errors"][0]["field"] == field


def test_the_audit_passes_a_clean_ledger_and_names_every_tampering(
    ledger: Ledger, logged: dict[str, Any]
) -> None:
    client, auditor = ledger.client, logged["auditor"]
    client.get("/v1/log/checkpoint")
    clean = client.post("/v1/log/audit", headers=auditor.auth).json()
    assert clean["ok"] is True
    assert clean["entries"] == 12
    assert clean["tree_nodes"] >= 10
    assert clean["checkpoints"] >= 1
    assert problem(client.post("/v1/log/audit", headers=logged["geo"].auth), 403)
    assert ledger.engine is not None
    with ledger.engine.connect() as conn:
        edited = conn.execute(
            text("SELECT seq FROM ledger_entries WHERE body LIKE :n"), {"n": '%"note":"n3"%'}
        ).scalar_one()
    tamper(
        ledger.engine,
        "UPDATE ledger_entries SET body = REPLACE(body, :old, :new) WHERE seq = :seq",
        old='"note":"n3"',
        new='"note":"n4"',
        seq=edited,
    )
    tamper(ledger.engine, "UPDATE ledger_entries SET hash = :h WHERE seq = 5", h="ab" * 32)
    tamper(
        ledger.engine, "UPDATE tree_nodes SET hash = :h WHERE level = 0 AND idx = 2", h=b"\x00" * 32
    )
    report = client.post("/v1/log/audit", headers=auditor.auth).json()
    assert report["ok"] is False
    checks = {(f["check"], f.get("seq")) for f in report["failures"]}
    assert ("hash", edited) in checks  # the edited body
    assert ("link", edited + 1) in checks  # the event after it
    assert ("tree", 2) in checks  # the edited tree node
    assert ("hash", 5) in checks  # a rewritten stored hash...
    assert ("tree", 5) in checks  # ...changes the leaf, so the tree no longer matches it
    assert any(f["check"] == "checkpoint" for f in report["failures"])  # nor the signed roots
    from app.ledger.keys import PublicKey
    from app.services import audit

    service_key = PublicKey.from_b64(client.get("/v1/service/key").json()["public_key"])
    parallel = audit.run(
        ledger.engine, service_key=service_key, origin="goldtrail.example/log", workers=2
    )
    assert parallel.to_json()["failures"] == report["failures"]  # same findings, in parallel


def test_the_audit_finds_removed_entries(
    ledger: Ledger,
    logged: dict[str, Any],
    tmp_path: Path,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ledger.engine is not None
    checkpoint = open_checkpoint(ledger.client.get("/v1/log/checkpoint").text, logged["verifier"])
    last = checkpoint.size - 1
    tamper(
        ledger.engine,
        "DELETE FROM events WHERE seq = :s",
        "DELETE FROM ledger_entries WHERE seq = :s",
        "DELETE FROM tree_nodes WHERE completed_at = :s",
        s=last,
    )
    report = ledger.client.post("/v1/log/audit", headers=logged["auditor"].auth).json()
    details = [f["detail"] for f in report["failures"]]
    assert any("entries were removed" in d for d in details)
    monkeypatch.setenv("GOLDTRAIL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GOLDTRAIL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("GOLDTRAIL_ADMIN_TOKEN", "x" * 40)
    result = runner.invoke(cli, ["audit", "--report", str(tmp_path / "audit.json")])
    assert result.exit_code == 1, result.output
    assert "entries were removed" in result.output
    saved = json.loads((tmp_path / "audit.json").read_text())
    assert saved["failure_count"] == report["failure_count"]


def test_documents_served_right_after_an_append_are_provable(
    settings: Any, engine: Any, tmp_path: Path
) -> None:
    """Even with a checkpoint interval of an hour, a receipt, an export and a genealogy
    export fetched right after an append carry a checkpoint that covers every entry in
    them (signed on demand), and verify offline; no size is ever signed twice."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    slow = settings.model_copy(update={"checkpoint_interval_seconds": 3600})
    with TestClient(create_app(slow), raise_server_exceptions=False) as client:
        ledger = Ledger(client=client, engine=engine)
        geo = ledger.partner("kumasi-geo", "explorer")
        verifier = NoteVerifier.parse(client.get("/v1/log/key").text)
        for n in range(3):
            accepted = deposit(ledger, geo, f"LOT-{n}").json()
            receipt = client.get(f"/v1/log/receipts/{accepted['seq']}")
            assert receipt.status_code == 200, receipt.text
            assert open_checkpoint(receipt.json()["checkpoint"], verifier).size > accepted["seq"]
            export = client.get(f"/v1/lots/LOT-{n}/export").json()
            assert str(accepted["seq"]) in export["log"]["proofs"]
            path = tmp_path / f"export-{n}.json"
            path.write_text(json.dumps(export))
            key = client.get("/v1/log/key").text.strip()
            result = runner.invoke(cli, ["verify", str(path), "--log-key", key])
            assert result.exit_code == 0, result.output
            assert "BROKEN" not in result.output
    with engine.connect() as conn:
        sizes = [row[0] for row in conn.exec_driver_sql("SELECT size FROM checkpoints")]
    assert len(sizes) == len(set(sizes))


def test_verify_says_fetch_again_for_an_entry_newer_than_the_checkpoint(
    settings: Any, engine: Any, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ledger = Ledger(client=client, engine=engine)
        geo = ledger.partner("kumasi-geo", "explorer")
        deposit(ledger, geo, "LOT-1")
        early = client.get("/v1/lots/LOT-1/export").json()
        ledger.post(geo, "LOT-1", "exploration", "impact_assessed", {"note": "later"})
        late = client.get("/v1/lots/LOT-1/export").json()
        # An export whose newest entry is not yet covered: the newer chain, the older
        # checkpoint (what a cache or a slow mirror could hand out).
        early["events"], early["head"], early["length"] = (
            late["events"],
            late["head"],
            late["length"],
        )
        key = client.get("/v1/log/key").text.strip()
    path = tmp_path / "export.json"
    path.write_text(json.dumps(early))
    result = runner.invoke(cli, ["verify", str(path), "--log-key", key])
    assert result.exit_code == 3, result.output
    assert "not yet in a checkpoint, fetch again" in result.output
    assert "BROKEN" not in result.output
