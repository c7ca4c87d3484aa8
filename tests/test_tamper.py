"""Tampering with the database behind the service's back is found and located.

Each test edits, deletes, reorders or inserts ledger rows directly in the
database, then checks that the verify endpoint, the auditor's whole-ledger audit
and the offline `goldtrail verify` all report the lot, the event and what broke.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from app.cli import app as cli
from app.ledger.keys import SigningKey
from tests.support import Actor, Ledger, sign, tamper

LOT = "CN-SCRAP-0420"


@pytest.fixture
def vaulted(ledger: Ledger) -> dict[str, Any]:
    """Scrap collected in Shanghai, handed to the Waigaoqiao vault and vaulted there."""
    recycler = ledger.partner("hk-recycling", "trader", "smelter", country="CN")
    vault = ledger.partner("waigaoqiao-vault", "vault", country="CN")
    auditor = ledger.partner("sh-audit", "auditor", country="CN")
    ledger.post(
        recycler,
        LOT,
        "smelting",
        "recycled_intake",
        {"form": "scrap", "mass_g": 10000, "fineness": 750.0, "recycled": True},
    )
    ledger.post(recycler, LOT, "circulation", "transferred", {"to": vault.id})
    ledger.post(vault, LOT, "circulation", "received")
    ledger.post(
        vault,
        LOT,
        "circulation",
        "vaulted",
        {
            "vault": "Waigaoqiao Bonded Vault, bay 7",
            "location": {"country": "CN", "subdivision": "CN-SH"},
        },
    )
    ledger.post(vault, LOT, "circulation", "shipped", {"to": "bay 9"})
    return {"recycler": recycler, "vault": vault, "auditor": auditor, "seqs": _seqs(ledger.engine)}


def _seqs(engine: Engine | None) -> list[int]:
    assert engine is not None
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT seq FROM events WHERE lot_id = :lot ORDER BY lot_seq"), {"lot": LOT}
        )
        return [row.seq for row in rows]


def _verify_everywhere(
    ledger: Ledger, auditor: Actor, tmp_path: Path
) -> tuple[dict[str, Any], str]:
    """Verify through the API, the audit endpoint and the offline CLI; all must agree."""
    report = ledger.client.post(f"/v1/lots/{LOT}/verify").json()
    audit = ledger.client.post("/v1/audit/verify", headers=auditor.auth).json()
    assert audit["ok"] is report["ok"]
    assert [f["hash"] for f in audit["failures"]] == [f["hash"] for f in report["failures"]]
    export = tmp_path / "export.json"
    export.write_text(ledger.client.get(f"/v1/lots/{LOT}/export").text)
    service_key = ledger.client.get("/v1/service/key").json()["public_key"]
    result = CliRunner().invoke(cli, ["verify", str(export), "--service-key", service_key])
    assert result.exit_code == (0 if report["ok"] else 1), result.output
    return report, result.output


def _failure(report: dict[str, Any], lot_seq: int) -> str:
    for failure in report["failures"]:
        if failure["lot_seq"] == lot_seq:
            assert failure["lot"] == LOT
            detail: str = failure["detail"]
            return detail
    raise AssertionError(f"event #{lot_seq} not reported: {report['failures']}")


def test_untampered_chain_verifies(ledger: Ledger, vaulted: dict[str, Any], tmp_path: Path) -> None:
    report, output = _verify_everywhere(ledger, vaulted["auditor"], tmp_path)
    assert report["ok"] is True
    assert "chain verified" in output


def test_the_database_refuses_updates_and_deletes(ledger: Ledger, vaulted: dict[str, Any]) -> None:
    assert ledger.engine is not None
    seq = vaulted["seqs"][3]
    for statement in (
        "UPDATE ledger_entries SET body = 'x' WHERE seq = :seq",
        "DELETE FROM ledger_entries WHERE seq = :seq",
        "UPDATE events SET lot_seq = 99 WHERE seq = :seq",
        "DELETE FROM events WHERE seq = :seq",
    ):
        with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as conn:
            conn.execute(text(statement), {"seq": seq})
    if ledger.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as conn:
            conn.execute(text("TRUNCATE events"))
    assert ledger.client.post(f"/v1/lots/{LOT}/verify").json()["ok"] is True


def test_an_edited_event_is_found(ledger: Ledger, vaulted: dict[str, Any], tmp_path: Path) -> None:
    """The scenario's attack: the vault rewrites the vaulted event's location."""
    assert ledger.engine is not None
    tamper(
        ledger.engine,
        "UPDATE ledger_entries SET body = REPLACE(body, 'CN-SH', 'CH-TI') WHERE seq = :seq",
        seq=vaulted["seqs"][3],
    )
    report, output = _verify_everywhere(ledger, vaulted["auditor"], tmp_path)
    assert report["ok"] is False
    assert "hash: body hashes to" in _failure(report, 3)
    assert "link" in _failure(report, 4)
    assert "✗ event #3" in output


def test_an_edited_event_with_a_recomputed_hash_is_found(
    ledger: Ledger, vaulted: dict[str, Any], tmp_path: Path
) -> None:
    from app.ledger.canonical import canonical_bytes
    from app.ledger.hashing import sha256_hex

    assert ledger.engine is not None
    seq = vaulted["seqs"][3]
    with ledger.engine.connect() as conn:
        body = json.loads(
            conn.execute(
                text("SELECT body FROM ledger_entries WHERE seq = :s"), {"s": seq}
            ).scalar_one()
        )
    body["data"]["location"]["subdivision"] = "CH-TI"
    forged = canonical_bytes(body)
    tamper(
        ledger.engine,
        "UPDATE ledger_entries SET body = :body, hash = :hash WHERE seq = :seq",
        body=forged.decode(),
        hash=sha256_hex(forged),
        seq=seq,
    )
    report, _ = _verify_everywhere(ledger, vaulted["auditor"], tmp_path)
    assert "signature" in _failure(report, 3)
    assert "receipt" in _failure(report, 3)
    assert "link" in _failure(report, 4)


def test_a_deleted_event_is_found(ledger: Ledger, vaulted: dict[str, Any], tmp_path: Path) -> None:
    assert ledger.engine is not None
    tamper(
        ledger.engine,
        "DELETE FROM events WHERE seq = :seq",
        "DELETE FROM ledger_entries WHERE seq = :seq",
        seq=vaulted["seqs"][2],
    )
    report, output = _verify_everywhere(ledger, vaulted["auditor"], tmp_path)
    assert "link" in _failure(report, 2)  # the old #3 now sits at position 2
    head = [f for f in report["failures"] if f["check"] == "head"]
    assert "after 5 events; the chain has 4" in head[0]["detail"]
    assert "✗ head" in output


def test_a_deleted_last_event_is_found(
    ledger: Ledger, vaulted: dict[str, Any], tmp_path: Path
) -> None:
    assert ledger.engine is not None
    tamper(
        ledger.engine,
        "DELETE FROM events WHERE seq = :seq",
        "DELETE FROM ledger_entries WHERE seq = :seq",
        seq=vaulted["seqs"][4],
    )
    report, _ = _verify_everywhere(ledger, vaulted["auditor"], tmp_path)
    assert [f["check"] for f in report["failures"]] == ["head"]


def test_reordered_events_are_found(
    ledger: Ledger, vaulted: dict[str, Any], tmp_path: Path
) -> None:
    assert ledger.engine is not None
    a, b = vaulted["seqs"][1], vaulted["seqs"][2]
    tamper(
        ledger.engine,
        "UPDATE events SET lot_seq = -1 WHERE seq = :a",
        "UPDATE events SET lot_seq = 1 WHERE seq = :b",
        "UPDATE events SET lot_seq = 2 WHERE seq = :a",
        a=a,
        b=b,
    )
    report, _ = _verify_everywhere(ledger, vaulted["auditor"], tmp_path)
    assert "link" in _failure(report, 1)
    assert "link" in _failure(report, 2)


def test_an_inserted_event_is_found(
    ledger: Ledger, vaulted: dict[str, Any], tmp_path: Path
) -> None:
    """An attacker appends a forged 'shipped' signed with a key the registry never saw."""
    assert ledger.engine is not None
    vault = vaulted["vault"]
    intruder = SigningKey.generate()
    event = ledger.event(vault, LOT, "circulation", "shipped", {"to": "elsewhere"}, key=intruder)
    envelope = sign(event, intruder)
    from app.ledger.canonical import canonical_bytes
    from app.ledger.hashing import sha256_hex

    body = canonical_bytes(event)
    with ledger.engine.connect() as conn:
        seq = conn.execute(text("SELECT MAX(seq) + 1 FROM ledger_entries")).scalar_one()
    tamper(
        ledger.engine,
        "INSERT INTO ledger_entries (seq, kind, hash, body, signature, signer, recorded_at, receipt) "
        "VALUES (:seq, 'event', :hash, :body, :sig, :signer, '2026-01-01T00:00:00.000000Z', :sig)",
        "INSERT INTO events (seq, lot_id, lot_seq, prev, partner_id, key_id, stage, action, occurred_at) "
        "VALUES (:seq, :lot, 5, :prev, 'waigaoqiao-vault', :signer, 'circulation', 'shipped', :at)",
        "UPDATE lots SET head = :hash, length = 6 WHERE id = :lot",
        seq=seq,
        hash=sha256_hex(body),
        body=body.decode(),
        sig=envelope["signature"],
        signer=intruder.public.key_id,
        lot=LOT,
        prev=event["prev"],
        at=event["occurred_at"],
    )
    report, output = _verify_everywhere(ledger, vaulted["auditor"], tmp_path)
    detail = _failure(report, 5)
    assert "key: " in detail
    assert "not in the registry" in detail
    assert "receipt" in detail
    assert "✗ event #5" in output


def test_a_moved_receipt_time_is_found(
    ledger: Ledger, vaulted: dict[str, Any], tmp_path: Path
) -> None:
    assert ledger.engine is not None
    tamper(
        ledger.engine,
        "UPDATE ledger_entries SET recorded_at = '2020-01-01T00:00:00.000000Z' WHERE seq = :seq",
        seq=vaulted["seqs"][0],
    )
    report, _ = _verify_everywhere(ledger, vaulted["auditor"], tmp_path)
    assert _failure(report, 0).startswith("receipt")


def test_a_swapped_partner_key_in_the_registry_is_found(
    ledger: Ledger, vaulted: dict[str, Any], tmp_path: Path
) -> None:
    """Replacing a registered public key (to re-sign history) breaks the service's signature."""
    assert ledger.engine is not None
    impostor = SigningKey.generate()
    with ledger.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT seq, body FROM ledger_entries WHERE kind = 'key' AND body LIKE '%waigaoqiao%'"
            )
        ).one()
    body = json.loads(row.body)
    body["public_key"] = impostor.public.b64
    from app.ledger.canonical import canonical_bytes

    tamper(
        ledger.engine,
        "UPDATE ledger_entries SET body = :body WHERE seq = :seq",
        body=canonical_bytes(body).decode(),
        seq=row.seq,
    )
    report, _ = _verify_everywhere(ledger, vaulted["auditor"], tmp_path)
    registry = [f for f in report["failures"] if f["check"] == "registry key"]
    assert registry
    assert "signature" in registry[0]["detail"]
    assert "key: " in _failure(report, 2)
