"""The goldtrail CLI: keygen, sign and offline verify, and db upgrade."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from app.ledger.keys import SigningKey
from tests.support import ADMIN, ADMIN_TOKEN, Ledger, deposit

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
        (
            '{"format": "something else"}',
            "a something else document, which goldtrail verify does not know",
        ),
        ('{"events": []}', "not a goldtrail.lot-export.v1"),
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


def _goldtrail(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed ``goldtrail`` command, as a user runs it."""
    command = str(Path(sys.executable).with_name("goldtrail"))
    return subprocess.run(
        [command, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_version_and_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    shown = _goldtrail("--version")
    assert shown.returncode == 0
    assert re.fullmatch(r"goldtrail \d+\.\d+\.\d+\S*\n", shown.stdout)
    env = {**os.environ, "GOLDTRAIL_ADMIN_TOKEN": "short", "GOLDTRAIL_DATA_DIR": str(tmp_path)}
    bad = _goldtrail("serve", env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: setting GOLDTRAIL_ADMIN_TOKEN: String should have at least 32 characters"
    ]
    assert "Traceback" not in bad.stderr + bad.stdout


def test_serve_prints_the_address_it_serves(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "GOLDTRAIL_DATA_DIR": str(tmp_path), "GOLDTRAIL_DATABASE_URL": ""}
    command = str(Path(sys.executable).with_name("goldtrail"))
    process = subprocess.Popen(
        [command, "serve", "--port", str(port)],
        env={k: v for k, v in env.items() if k != "GOLDTRAIL_DATABASE_URL"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "serving on" in line:
                break
        assert f"serving on http://127.0.0.1:{port}" in "".join(lines)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("the server never answered at the address it printed")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_admin_commands_against_a_real_server(server: str, tmp_path: Path) -> None:
    env = {**os.environ, "GOLDTRAIL_URL": server, "GOLDTRAIL_ADMIN_TOKEN": ADMIN_TOKEN}
    for name in ("a", "b"):
        assert _goldtrail("keygen", str(tmp_path / f"{name}.key")).returncode == 0
    added = _goldtrail(
        "admin",
        "partner-add",
        "--id",
        "volta-gold",
        "--name",
        "Volta Gold Ltd",
        "--role",
        "miner",
        "--country",
        "GH",
        "--key-file",
        str(tmp_path / "a.key"),
        "--save-api-key",
        str(tmp_path / "api"),
        env=env,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    first = (tmp_path / "api").read_text()
    more = _goldtrail(
        "admin",
        "key-add",
        "--partner",
        "volta-gold",
        "--key-file",
        str(tmp_path / "b.key"),
        env=env,
    )
    assert more.returncode == 0, more.stdout + more.stderr
    me = httpx.get(f"{server}/v1/partners/volta-gold").json()
    assert len(me["keys"]) == 2
    reissued = _goldtrail(
        "admin",
        "api-key",
        "--partner",
        "volta-gold",
        "--save-api-key",
        str(tmp_path / "api"),
        env=env,
    )
    assert reissued.returncode == 0, reissued.stdout + reissued.stderr
    second = (tmp_path / "api").read_text()
    assert second != first
    auth = {"Authorization": f"Bearer {first}"}
    assert httpx.get(f"{server}/v1/partners/me", headers=auth).status_code == 401
    auth = {"Authorization": f"Bearer {second}"}
    assert (
        httpx.get(f"{server}/v1/partners/me", headers=auth).json()["partner"]["id"] == "volta-gold"
    )
    listed = _goldtrail("admin", "partners", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "volta-gold" in listed.stdout
    assert "Volta Gold Ltd" in listed.stdout
