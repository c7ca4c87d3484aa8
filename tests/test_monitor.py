"""`goldtrail monitor` against a real server, including one whose database was rewritten."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from app.cli import app as cli
from app.ledger.canonical import canonical_bytes
from app.ledger.hashing import sha256_hex
from app.ledger.log.merkle import CompactRange, leaf_hash
from app.ledger.records import leaf_bytes
from tests.support import Ledger, deposit, tamper

runner = CliRunner()


def _monitor(server: str, state: Path, key: str) -> tuple[int, str]:
    result = runner.invoke(
        cli, ["monitor", "--url", server, "--state", str(state), "--log-key", key]
    )
    return result.exit_code, result.output


def _rebuild_tree(engine: Engine) -> None:
    """What a thorough attacker does after editing an entry: recompute the whole tree."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT seq, kind, hash, signature, signer, recorded_at FROM ledger_entries ORDER BY seq"
            )
        ).all()
    tree = CompactRange()
    nodes = []
    for row in rows:
        leaf = leaf_bytes(
            seq=row.seq,
            kind=row.kind,
            entry_hash=row.hash,
            signature=row.signature,
            signer=row.signer,
            recorded_at=row.recorded_at,
        )
        nodes += [(row.seq, node, value) for node, value in tree.append(leaf_hash(leaf))]
    tamper(engine, "DELETE FROM tree_nodes", "DELETE FROM checkpoints")
    with engine.begin() as conn:
        for seq, (level, index), value in nodes:
            conn.execute(
                text(
                    "INSERT INTO tree_nodes (level, idx, hash, completed_at) VALUES (:l, :i, :h, :c)"
                ),
                {"l": level, "i": index, "h": value, "c": seq},
            )


def test_monitor_follows_an_honest_log_and_catches_a_rewritten_one(
    server: str, engine: Engine, tmp_path: Path
) -> None:
    state = tmp_path / "monitor-state.txt"
    with httpx.Client(base_url=server) as client:
        ledger = Ledger(client=client)
        geo = ledger.partner("kumasi-geo", "explorer")
        deposit(ledger, geo, "LOT-1")
        key = client.get("/v1/log/key").text.strip()
        code, output = _monitor(server, state, key)
        assert code == 0, output
        first = state.read_text()
        for n in range(3):
            ledger.post(geo, "LOT-1", "exploration", "impact_assessed", {"note": f"n{n}"})
        code, output = _monitor(server, state, key)
        assert code == 0, output
        assert "is consistent with the kept size 4" in output  # 2 registry, event, summary
        kept = state.read_text()
        assert kept != first

        # Rewrite history: change an old event, re-hash it, rebuild the tree,
        # drop the checkpoints that no longer match; the service then signs anew.
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT seq, body FROM ledger_entries WHERE kind = 'event' ORDER BY seq")
            ).all()[1]
        body = json.loads(row.body)
        body["data"]["location"] = {"country": "CH"}
        forged = canonical_bytes(body)
        tamper(
            engine,
            "UPDATE ledger_entries SET body = :b, hash = :h WHERE seq = :s",
            b=forged.decode(),
            h=sha256_hex(forged),
            s=row.seq,
        )
        _rebuild_tree(engine)
        ledger.post(geo, "LOT-1", "exploration", "permit_granted", {"note": "late"}, expect=None)
        code, output = _monitor(server, state, key)
        assert code == 1
        assert "a fork" in output
        assert state.read_text() == kept  # the good state is kept


def test_monitor_catches_a_log_that_shrank(server: str, engine: Engine, tmp_path: Path) -> None:
    state = tmp_path / "monitor-state.txt"
    with httpx.Client(base_url=server) as client:
        ledger = Ledger(client=client)
        geo = ledger.partner("kumasi-geo", "explorer")
        deposit(ledger, geo, "LOT-1")
        for n in range(3):
            ledger.post(geo, "LOT-1", "exploration", "impact_assessed", {"note": f"n{n}"})
        key = client.get("/v1/log/key").text.strip()
        assert _monitor(server, state, key)[0] == 0
        tamper(
            engine,
            "DELETE FROM events WHERE seq >= 4",
            "DELETE FROM ledger_entries WHERE seq >= 4",
            "DELETE FROM tree_nodes WHERE completed_at >= 4",
            "DELETE FROM checkpoints",
        )
        code, output = _monitor(server, state, key)
        assert code == 1
        assert "shrank from 7 to 4" in output  # 2 registry, deposit, its summary, 3 events


def test_monitor_refuses_a_checkpoint_signed_by_another_key(server: str, tmp_path: Path) -> None:
    from app.ledger.keys import SigningKey
    from app.ledger.log.note import NoteVerifier

    other = str(NoteVerifier.of("goldtrail.example/log", SigningKey.generate().public))
    code, output = _monitor(server, tmp_path / "state.txt", other)
    assert code == 1
    assert "no signature by goldtrail.example/log" in output
    assert not (tmp_path / "state.txt").exists()
