"""goldtrail backup under load and goldtrail restore, on the suite's database (SQLite's
online backup API, or pg_dump and pg_restore): the restored ledger audits clean, its latest
checkpoint is the one the snapshot held, and it is a prefix of the log that was running."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import Engine, text

from tests.conftest import ServerProcess
from tests.test_guarantees import Acknowledged, _load, seed_load


def _goldtrail(settings_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = str(Path(sys.executable).with_name("goldtrail"))
    return subprocess.run(
        [command, *args],
        env={**os.environ, **settings_env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _checkpoints(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return {
            row.size: row.note for row in conn.execute(text("SELECT size, note FROM checkpoints"))
        }


def test_a_backup_taken_under_load_restores_to_a_clean_prefix(
    server_process: ServerProcess, engine: Engine, tmp_path: Path
) -> None:
    settings = server_process.settings
    env = {
        "GOLDTRAIL_DATA_DIR": str(settings.data_dir),
        "GOLDTRAIL_DATABASE_URL": settings.database_url,
        "GOLDTRAIL_ENVIRONMENT": "test",
    }
    url = server_process.start()
    actors, auditor = seed_load(url)
    acked = Acknowledged()
    finish = _load(url, actors, acked)
    time.sleep(1.0)
    snapshot = tmp_path / "snapshot.bak"
    taken = _goldtrail(env, "backup", str(snapshot))
    assert taken.returncode == 0, taken.stdout + taken.stderr
    assert "backed up" in taken.stdout
    time.sleep(0.5)
    finish()
    running = _checkpoints(engine)
    server_process.stop()
    refused = _goldtrail(env, "restore", str(snapshot))
    assert refused.returncode == 1
    assert "--yes" in refused.stderr
    restored = _goldtrail(env, "restore", str(snapshot), "--yes")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    after = _checkpoints(engine)
    latest = max(after)
    assert latest < max(running), "the snapshot should predate the end of the load"
    assert after == {size: note for size, note in running.items() if size <= latest}
    with engine.connect() as conn:
        entries = conn.execute(text("SELECT COUNT(*) FROM ledger_entries")).scalar_one()
    assert entries >= latest
    server_process.start()
    with httpx.Client(base_url=url, timeout=300) as client:
        assert client.get(f"/v1/log/checkpoints/{latest}").text == running[latest]
        audit = client.post("/v1/log/audit", headers=auditor.auth).json()
        assert audit["ok"] is True, audit["failures"][:5]
        assert audit["entries"] == entries


def test_database_passwords_are_never_printed() -> None:
    from app.cli.common import shown_url as _shown_url

    assert _shown_url("postgresql://gold:s3cret@db:5432/goldtrail") == (
        "postgresql://gold:***@db:5432/goldtrail"
    )
    assert _shown_url("sqlite:///var/goldtrail.db") == "sqlite:///var/goldtrail.db"
