"""Service key rotation (PROTOCOL.md §19): announced in the log by the old key, followed by
every verifier, by monitors and by the audit; earlier documents keep verifying."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from app.cli import app as cli
from app.config import Settings
from app.ledger.canonical import canonical_bytes
from app.ledger.documents.credentials import verify_credential
from app.ledger.documents.export import verify_lot_export
from app.ledger.errors import FieldError, InvalidSignature, LedgerError
from app.ledger.keys import SigningKey
from app.ledger.log.note import NoteVerifier, open_checkpoint, parse_checkpoint_text, sign_note
from app.ledger.log.service_keys import ServiceKeyHistory, service_key_record
from app.ledger.records import LedgerEntry
from app.main import create_app
from app.services import audit
from app.services.context import LedgerContext
from app.services.rotation import rotate
from tests.conftest import ADMIN_TOKEN, ServerProcess
from tests.support import Ledger, deposit, problem, tamper

runner = CliRunner()
ORIGIN = "goldtrail.example/log"


def _env(settings: Settings) -> dict[str, str]:
    return {
        "GOLDTRAIL_ENVIRONMENT": "test",
        "GOLDTRAIL_DATA_DIR": str(settings.data_dir),
        "GOLDTRAIL_DATABASE_URL": settings.database_url,
        "GOLDTRAIL_ADMIN_TOKEN": ADMIN_TOKEN,
    }


def _rotate_by_cli(settings: Settings, *extra: str) -> str:
    result = runner.invoke(
        cli, ["admin", "rotate-service-key", "--yes", *extra], env=_env(settings)
    )
    assert result.exit_code == 0, result.output
    return result.output


def _verify(path: Path, log_key: str, *extra: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["verify", str(path), "--log-key", log_key, *extra])
    return result.exit_code, result.output


def _monitor(server: str, state: Path, key: str) -> tuple[int, str]:
    result = runner.invoke(
        cli, ["monitor", "--url", server, "--state", str(state), "--log-key", key]
    )
    return result.exit_code, result.output


def _save(client: httpx.Client, path: str, to: Path) -> Path:
    response = client.get(path)
    assert response.status_code == 200, response.text
    to.write_bytes(response.content)
    return to


# The history itself -----------------------------------------------------------------------


def _announcement(seq: int, old: SigningKey, new: SigningKey) -> LedgerEntry:
    body = service_key_record(
        previous=old.public, new=new.public, announced_at="2026-11-30T08:00:00Z"
    )
    return LedgerEntry.issue(
        seq=seq,
        kind="service_key",
        body=body,
        signature=old.sign(canonical_bytes(body)),
        signer=old.public.key_id,
        recorded_at="2026-11-30T08:00:00Z",
        service_key=old,
    )


def test_the_key_at_each_position_follows_the_announcements() -> None:
    first, second, third = (SigningKey.generate() for _ in range(3))
    history = ServiceKeyHistory.from_announcements(
        [_announcement(4, first, second), _announcement(9, second, third)],
        current=third.public,
    )
    assert [history.key_at(p) for p in (0, 4, 5, 9, 10, 10**6)] == [
        first.public,
        first.public,  # the announcement itself is the old key's
        second.public,  # so is everything after it, and the checkpoint of 5 entries
        second.public,
        third.public,
        third.public,
    ]
    assert history.current == third.public
    assert history.holds(first.public)
    assert [p.first for p in history.periods] == [0, 5, 10]


def test_an_announcement_must_hand_over_from_the_key_in_force() -> None:
    first, second, third, stranger = (SigningKey.generate() for _ in range(4))
    with pytest.raises(InvalidSignature):  # signed by a key that is not in force at seq 3
        ServiceKeyHistory.from_announcements(
            [_announcement(1, first, second), _announcement(3, stranger, third)],
            current=third.public,
        )
    history = ServiceKeyHistory(first.public)
    wrong = service_key_record(previous=stranger.public, new=second.public, announced_at="x")
    with pytest.raises(FieldError, match="previous_key"):
        history.announce(3, wrong)
    handover = service_key_record(previous=first.public, new=second.public, announced_at="x")
    history.announce(3, handover)
    back = service_key_record(previous=second.public, new=first.public, announced_at="x")
    with pytest.raises(FieldError, match="never used twice"):
        history.announce(7, back)
    late = service_key_record(previous=second.public, new=third.public, announced_at="x")
    with pytest.raises(FieldError, match="seq order"):
        history.announce(2, late)
    assert [p.key for p in history.periods] == [first.public, second.public]


def text_of(size: int) -> str:
    return f"{ORIGIN}\n{size}\n{'A' * 43}=\n"


def test_a_handover_checkpoint_opens_with_either_key_and_later_ones_with_the_new() -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    history = ServiceKeyHistory.from_announcements([_announcement(6, old, new)], current=new.public)
    handover = sign_note(text_of(7), name=ORIGIN, key=new, cosigners=(old,))
    assert open_checkpoint(handover, NoteVerifier.of(ORIGIN, old.public)).size == 7
    assert history.open_checkpoint(handover, ORIGIN).size == 7
    before = sign_note(text_of(6), name=ORIGIN, key=old)
    assert history.open_checkpoint(before, ORIGIN).size == 6
    with pytest.raises(LedgerError):  # after the handover, the old key's word is not enough
        history.open_checkpoint(sign_note(text_of(8), name=ORIGIN, key=old), ORIGIN)
    assert parse_checkpoint_text(handover).size == 7


# Rotation on a running ledger --------------------------------------------------------------


def test_rotation_refuses_a_key_used_before_and_a_key_file_that_is_not_the_logs(
    ledger: Ledger, client_context: LedgerContext, engine: Engine
) -> None:
    geo = ledger.partner("kumasi-geo", "explorer")
    deposit(ledger, geo, "LOT-1")
    ledger.client.get("/v1/log/checkpoint")
    old = client_context.service_key
    with pytest.raises(LedgerError, match="service key already"):
        rotate(client_context, old)
    stranger = LedgerContext(engine, client_context.settings, SigningKey.generate())
    with engine.connect() as conn:
        size = conn.execute(text("SELECT count(*) FROM ledger_entries")).scalar()
    with pytest.raises(LedgerError, match="not this log's key"):
        rotate(stranger, SigningKey.generate())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ledger_entries")).scalar() == size
    assert client_context.service_key is old
    assert stranger.service_key is not old


def test_a_forged_announcement_is_caught_and_nothing_is_signed_with_an_unknown_key(
    ledger: Ledger, settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    geo = ledger.partner("kumasi-geo", "explorer")
    deposit(ledger, geo, "LOT-1")
    _rotate_by_cli(settings)
    ledger.post(geo, "LOT-1", "exploration", "impact_assessed", {"note": "after"})
    # Behind the service's back: the announcement now hands over to the attacker's key.
    attacker = SigningKey.generate()
    with engine.connect() as conn:
        seq, body = conn.execute(
            text("SELECT seq, body FROM ledger_entries WHERE kind = 'service_key'")
        ).one()
    forged = json.loads(body) | {"key": attacker.public.key_id, "public_key": attacker.public.b64}
    tamper(
        engine,
        "UPDATE ledger_entries SET body = :b WHERE seq = :s",
        b=json.dumps(forged, sort_keys=True, separators=(",", ":")),
        s=seq,
    )
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM ledger_entries")).scalar()
    # The running worker, and one started now, read that the log hands over to a key they
    # do not hold: they sign nothing rather than sign with a key the log does not name.
    running = ledger.post(geo, "LOT-1", "exploration", "impact_assessed", expect=503)
    assert problem(running, 503)["code"] == "service.key_not_loaded"
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        fresh = Ledger(client=client, engine=engine)
        refused = fresh.post(geo, "LOT-1", "exploration", "impact_assessed", expect=503)
        assert problem(refused, 503)["code"] == "service.key_not_loaded"
        assert "install the new key" in problem(refused, 503)["detail"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ledger_entries")).scalar() == before
    report = audit.run(
        engine,
        service_key=SigningKey.load(settings.service_key_path).public,
        origin=settings.log_origin,
    )
    assert not report.ok
    failed = {f["check"] for f in report.failures}
    assert {"hash", "signature", "service key"} <= failed, report.failures


def test_a_rotation_on_a_running_server_keeps_every_document_verifying_and_monitors_follow(
    server: str, server_process: ServerProcess, settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        ledger = Ledger(client=client)
        geo = ledger.partner("kumasi-geo", "explorer", country="GH")
        deposit(ledger, geo, "LOT-1")
        ledger.post(geo, "LOT-1", "exploration", "impact_assessed", {"note": "before"})
        old_key = client.get("/v1/log/key").text.strip()
        state = tmp_path / "monitor.txt"
        code, output = _monitor(server, state, old_key)
        assert code == 0, output

        before = {
            name: _save(client, path, tmp_path / f"before-{name}.json")
            for name, path in {
                "export": "/v1/lots/LOT-1/export",
                "genealogy": "/v1/lots/LOT-1/genealogy/export",
                "passport": "/v1/lots/LOT-1/passport",
                "receipt": "/v1/log/receipts/2",
            }.items()
        }
        old_credential = client.get("/v1/lots/LOT-1/passport/credential").json()
        pinned_before = client.get("/v1/lots/LOT-1/passport").headers["Content-Location"]

        checkpoint_before = client.get("/v1/log/checkpoint").text
        output = _rotate_by_cli(settings)
        announced = int(output.split("at seq ")[1].split(":")[0])
        retired = list(settings.data_dir.glob("service.key.retired-*"))
        assert len(retired) == 1
        new = SigningKey.load(settings.service_key_path)
        assert new.public != SigningKey.load(retired[0]).public

        # The workers switch to the new key by themselves: post to all of them.
        for n in range(6):
            ledger.post(geo, "LOT-1", "exploration", "impact_assessed", {"note": f"after {n}"})
        new_key = client.get("/v1/log/key").text.strip()
        assert new_key != old_key
        assert new_key == str(NoteVerifier.of(settings.log_origin, new.public))
        keys = client.get("/v1/log/keys").json()["keys"]
        assert [k["verifier_key"] for k in keys] == [old_key, new_key]
        assert keys[1]["announced_seq"] == announced
        assert keys[1]["first_position"] == announced + 1
        for seq in range(announced + 1, announced + 4):
            entry = LedgerEntry.from_json(
                client.get(f"/v1/log/entries/{seq}").json()["entry"], path=""
            )
            assert (
                ServiceKeyHistory.from_announcements(
                    [
                        LedgerEntry.from_json(
                            client.get(f"/v1/log/entries/{announced}").json()["entry"], path=""
                        )
                    ],
                    current=new.public,
                ).key_at(entry.seq)
                == new.public
            )
        handover = client.get(f"/v1/log/checkpoints/{announced + 1}").text
        for key in (old_key, new_key):  # co-signed by both
            assert open_checkpoint(handover, NoteVerifier.parse(key)).size == announced + 1
        latest = client.get("/v1/log/checkpoint").text
        with pytest.raises(InvalidSignature):
            open_checkpoint(latest, NoteVerifier.parse(old_key))
        (tmp_path / "latest.txt").write_text(latest)
        code, output = _verify(tmp_path / "latest.txt", old_key)
        assert code == 1
        assert "GET /v1/log/keys" in output.replace("\n", " ")  # says where to look
        code, output = _verify(tmp_path / "latest.txt", new_key)
        assert code == 0, output

        # A monitor that knew only the old key follows the rotation from the log itself.
        code, output = _monitor(server, state, old_key)
        assert code == 0, output
        assert f"in force from position {announced + 1}" in output
        code, output = _monitor(server, state, new_key)
        assert code == 0, output

        # Everything issued before still verifies, with the key it was issued under: the
        # checkpoint the monitor kept too.
        first_kept = tmp_path / "checkpoint-before.txt"
        first_kept.write_text(checkpoint_before)
        code, output = _verify(first_kept, old_key)
        assert code == 0, output
        for name, path in before.items():
            code, output = _verify(path, old_key)
            assert code == 0, (name, output)
        assert verify_credential(old_credential).ok

        # Everything issued after verifies with either key: the log says how one led to the other.
        after = {
            name: _save(client, path, tmp_path / f"after-{name}.json")
            for name, path in {
                "export": "/v1/lots/LOT-1/export",
                "genealogy": "/v1/lots/LOT-1/genealogy/export",
                "passport": "/v1/lots/LOT-1/passport",
                "old receipt": "/v1/log/receipts/2",
                "new receipt": f"/v1/log/receipts/{announced + 2}",
            }.items()
        }
        for name, path in after.items():
            for key in (old_key, new_key):
                code, output = _verify(path, key)
                assert code == 0, (name, key, output)
        passport = json.loads(after["passport"].read_text())
        assert passport["service_key"] == new.public.b64
        assert passport["summary"]["length"] == 8  # deposit, 1 + 6 assessments
        assert any(e["kind"] == "service_key" for e in passport["registry"])
        credential = client.get("/v1/lots/LOT-1/passport/credential").json()
        assert verify_credential(credential).ok
        assert credential["issuer"] != old_credential["issuer"]  # did:key of the new key

        # An export whose key history is cut off or forged names what failed.
        export = json.loads(after["export"].read_text())
        export["registry"] = [e for e in export["registry"] if e["kind"] != "service_key"]
        cut = verify_lot_export(export, log_key=NoteVerifier.parse(old_key))
        assert [c.detail for c in cut.checks if c.check == "service key" and not c.ok]
        pinned_other = runner.invoke(
            cli,
            ["verify", str(after["export"]), "--service-key", SigningKey.generate().public.b64],
        )
        assert pinned_other.exit_code == 1
        assert "✗ service key" in pinned_other.output

        # A passport pinned to a checkpoint the retired key signed cannot be signed again.
        refused = client.get(pinned_before)
        assert problem(refused, 409)["code"] == "passport.before_rotation"

        for workers in ("0", "2"):  # in sequence, and with chunks checked in other processes
            audited = runner.invoke(cli, ["audit", "--workers", workers], env=_env(settings))
            assert audited.exit_code == 0, audited.output
            assert "everything verifies" in audited.output

    # A restart loads the new key file and carries on.
    server_process.stop()
    server_process.start()
    with httpx.Client(base_url=server, timeout=30) as client:
        ledger = Ledger(client=client)
        ledger.post(geo, "LOT-1", "exploration", "impact_assessed", {"note": "restarted"})
        assert client.get("/v1/log/key").text.strip() == new_key
    code, output = _monitor(server, state, old_key)
    assert code == 0, output


def test_rotating_to_a_key_you_bring_and_never_back(
    ledger: Ledger, settings: Settings, tmp_path: Path
) -> None:
    geo = ledger.partner("kumasi-geo", "explorer")
    deposit(ledger, geo, "LOT-1")
    first = SigningKey.load(settings.service_key_path)
    brought = SigningKey.generate()
    (tmp_path / "next.pem").write_bytes(brought.to_pem())
    refused = runner.invoke(cli, ["admin", "rotate-service-key"], env=_env(settings))
    assert refused.exit_code == 1
    assert "--yes" in refused.output
    _rotate_by_cli(settings, "--new-key-file", str(tmp_path / "next.pem"))
    assert SigningKey.load(settings.service_key_path).public == brought.public
    keys = ledger.client.get("/v1/log/keys").json()["keys"]
    assert [k["public_key"] for k in keys] == [first.public.b64, brought.public.b64]
    (tmp_path / "first.pem").write_bytes(first.to_pem())
    back = runner.invoke(
        cli,
        ["admin", "rotate-service-key", "--yes", "--new-key-file", str(tmp_path / "first.pem")],
        env=_env(settings),
    )
    assert back.exit_code != 0
    assert "was a service key already" in back.output
    assert not list(settings.data_dir.glob("service.key.next"))  # nothing staged is left
    assert len(ledger.client.get("/v1/log/keys").json()["keys"]) == 2
