"""The goldtrail CLI: keygen, sign and offline verify, and db upgrade."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from app.ledger.keys import SigningKey
from tests.support import ADMIN, Ledger, deposit

runner = CliRunner()


def test_keygen_writes_a_private_key_and_prints_the_public(tmp_path: Path) -> None:
    out = tmp_path / "partner.key"
    result = runner.invoke(cli, ["keygen", str(out)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    key = SigningKey.load(out)
    assert printed == {"key_id": key.public.key_id, "public_key": key.public.b64}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    again = runner.invoke(cli, ["keygen", str(out)])
    assert again.exit_code == 1
    assert SigningKey.load(out).public == key.public


def test_sign_then_post_then_verify_offline(ledger: Ledger, tmp_path: Path) -> None:
    key_file = tmp_path / "geo.key"
    runner.invoke(cli, ["keygen", str(key_file)])
    key = SigningKey.load(key_file)
    created = ledger.client.post(
        "/v1/admin/partners",
        json={
            "id": "kumasi-geo",
            "name": "Kumasi Geoscience Ltd",
            "roles": ["explorer"],
            "public_keys": [key.public.b64],
        },
        headers=ADMIN,
    ).json()
    event_file = tmp_path / "event.json"
    event_file.write_text(
        json.dumps(
            {
                "lot": "GH-ASR-DEP-01",
                "partner": "kumasi-geo",
                "stage": "exploration",
                "action": "site_registered",
                "occurred_at": "2024-03-04T09:00:00Z",
                "data": {"form": "deposit"},
            }
        )
    )
    signed = runner.invoke(cli, ["sign", str(event_file), "--key", str(key_file), "--prev", "null"])
    assert signed.exit_code == 0, signed.output
    envelope = json.loads(signed.output)
    assert envelope["event"]["key"] == key.public.key_id
    response = ledger.client.post(
        "/v1/lots/GH-ASR-DEP-01/events",
        json=envelope,
        headers={"Authorization": f"Bearer {created['api_key']}"},
    )
    assert response.status_code == 201, response.text
    export = tmp_path / "export.json"
    export.write_text(ledger.client.get("/v1/lots/GH-ASR-DEP-01/export").text)
    service_key = ledger.client.get("/v1/service/key").json()["public_key"]
    verified = runner.invoke(cli, ["verify", str(export), "--service-key", service_key])
    assert verified.exit_code == 0, verified.output
    assert "✓ event #0" in verified.output
    assert "chain verified" in verified.output
    unpinned = runner.invoke(cli, ["verify", str(export), "--json"])
    assert unpinned.exit_code == 0
    report = json.loads(unpinned.output)
    assert report["checks"][0]["detail"] == "taken from the export itself (not pinned)"


def test_verify_with_another_service_key_fails(ledger: Ledger, tmp_path: Path) -> None:
    geo = ledger.partner("kumasi-geo", "explorer")
    deposit(ledger, geo, "LOT-1")
    export = tmp_path / "export.json"
    export.write_text(ledger.client.get("/v1/lots/LOT-1/export").text)
    other = SigningKey.generate().public.b64
    result = runner.invoke(cli, ["verify", str(export), "--service-key", other])
    assert result.exit_code == 1
    assert "✗ service key" in result.output
    assert "✗ event #0" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"format": "something else"}', "not a goldtrail.lot-export.v1"),
    ],
)
def test_verify_refuses_what_is_not_an_export(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    result = runner.invoke(cli, ["verify", str(path)])
    assert result.exit_code == 1
    assert message in result.output


def test_sign_refuses_an_invalid_event(tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    runner.invoke(cli, ["keygen", str(key_file)])
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps({"lot": "x y", "partner": "p"}))
    result = runner.invoke(cli, ["sign", str(event_file), "--key", str(key_file), "--prev", "null"])
    assert result.exit_code == 1
    assert "event." in result.output
